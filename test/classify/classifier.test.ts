import { describe, it, expect } from 'vitest';
import { ErrorCategory as C, ErrorClassifier, ErrorSeverity as S, countsAgainstProvider, DEFAULT_ERROR_PATTERNS } from '../../src/classify/index.js';
import {
  CallCancelledError,
  CallTimeoutError,
  CircuitOpenError,
  ConfigError,
  PlatformSuspendedError,
  RateLimitedError,
} from '../../src/errors/errors.js';
import {
  AnthropicAPIError,
  APIConnectionError,
  APIConnectionTimeoutError,
  AuthenticationError,
  awsError,
  axiosError,
  fetchFailed,
  httpErrorWithResponse,
  OpenAIAPIError,
  RateLimitError,
  systemError,
  undiciError,
} from './fixtures.js';

const classifier = new ErrorClassifier();

interface Row {
  readonly what: string;
  readonly error: () => unknown;
  readonly service?: string;
  readonly category: C;
  readonly retryable: boolean;
  readonly pattern?: string;
  readonly isBan?: boolean;
  readonly severity?: S;
  readonly backoffMultiplier?: number;
}

const rows: Row[] = [
  // Network: what fetch, Node and SDKs raise when nothing useful reached the provider.
  { what: 'fetch failed, ECONNREFUSED cause', error: () => fetchFailed('ECONNREFUSED'), category: C.NETWORK, retryable: true, pattern: 'network-code' },
  { what: 'fetch failed, UND_ERR_SOCKET cause', error: () => fetchFailed('UND_ERR_SOCKET', 'other side closed'), category: C.NETWORK, retryable: true },
  { what: 'fetch failed, UND_ERR_CONNECT_TIMEOUT cause', error: () => fetchFailed('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error'), category: C.NETWORK, retryable: true },
  { what: 'fetch failed with no known cause', error: () => new TypeError('fetch failed'), category: C.NETWORK, retryable: true, pattern: 'network-message' },
  { what: 'Node ECONNRESET', error: () => systemError('ECONNRESET', 'read', -104), category: C.NETWORK, retryable: true },
  { what: 'Node DNS EAI_AGAIN', error: () => systemError('EAI_AGAIN', 'getaddrinfo', -3001), category: C.NETWORK, retryable: true },
  { what: 'Node DNS ENOTFOUND', error: () => systemError('ENOTFOUND', 'getaddrinfo', -3008), category: C.NETWORK, retryable: true },
  { what: 'Node EPIPE', error: () => systemError('EPIPE', 'write', -32), category: C.NETWORK, retryable: true },
  { what: 'socket hang up', error: () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), category: C.NETWORK, retryable: true },
  { what: 'OpenAI APIConnectionError', error: () => new APIConnectionError(), category: C.NETWORK, retryable: true },

  // Timeouts.
  { what: 'AbortSignal.timeout DOMException', error: () => new DOMException('The operation was aborted due to timeout', 'TimeoutError'), category: C.TIMEOUT, retryable: true },
  { what: 'AbortError caused by a TimeoutError', error: () => Object.assign(new DOMException('This operation was aborted', 'AbortError'), { cause: new DOMException('signal timed out', 'TimeoutError') }), category: C.TIMEOUT, retryable: true },
  { what: 'fetch failed, UND_ERR_HEADERS_TIMEOUT cause', error: () => new TypeError('fetch failed', { cause: undiciError('HeadersTimeoutError', 'UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error') }), category: C.TIMEOUT, retryable: true },
  { what: 'undici UND_ERR_BODY_TIMEOUT', error: () => undiciError('BodyTimeoutError', 'UND_ERR_BODY_TIMEOUT', 'Body Timeout Error'), category: C.TIMEOUT, retryable: true },
  { what: 'Node ETIMEDOUT', error: () => systemError('ETIMEDOUT', 'connect', -110), category: C.TIMEOUT, retryable: true },
  { what: 'axios timeout (ECONNABORTED)', error: () => Object.assign(new Error('timeout of 5000ms exceeded'), { code: 'ECONNABORTED' }), category: C.TIMEOUT, retryable: true },
  { what: 'HTTP 408', error: () => axiosError(408, ''), category: C.TIMEOUT, retryable: true },
  { what: 'OpenAI APIConnectionTimeoutError', error: () => new APIConnectionTimeoutError(), category: C.TIMEOUT, retryable: true },
  { what: "floodgate's own CallTimeoutError", error: () => new CallTimeoutError('llm_api', 30_000), category: C.TIMEOUT, retryable: true, pattern: 'call-timeout' },

  // A caller giving up is the caller's choice: not retried, not the provider's fault.
  { what: 'user AbortError (DOMException)', error: () => new DOMException('This operation was aborted', 'AbortError'), category: C.CLIENT, retryable: false, pattern: 'aborted' },
  { what: 'Node AbortError (ABORT_ERR)', error: () => Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }), category: C.CLIENT, retryable: false },

  // Rate limits, quota and billing.
  { what: 'axios 429 with Retry-After', error: () => axiosError(429, 'Too Many Requests', { 'Retry-After': '12' }), category: C.RATE_LIMIT, retryable: true, backoffMultiplier: 2, pattern: 'http-429' },
  { what: 'OpenAI rate_limit_exceeded (links to billing)', error: () => new RateLimitError(429, { message: 'Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s. Visit https://platform.openai.com/account/billing to add a payment method.', type: 'tokens', param: null, code: 'rate_limit_exceeded' }, new Headers({ 'retry-after-ms': '2000' })), category: C.RATE_LIMIT, retryable: true },
  { what: 'OpenAI insufficient_quota on a 429', error: () => new RateLimitError(429, { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' }, new Headers()), category: C.QUOTA, retryable: false, pattern: 'quota-exhausted' },
  { what: 'Anthropic rate_limit_error', error: () => new AnthropicAPIError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', { 'retry-after': '30' }), category: C.RATE_LIMIT, retryable: true },
  { what: 'Anthropic credit balance too low (400)', error: () => new AnthropicAPIError(400, 'invalid_request_error', 'Your credit balance is too low to access the Anthropic API.'), category: C.QUOTA, retryable: false },
  { what: 'quota exceeded text, no status', error: () => new Error('Quota exceeded for quota metric requests per day'), category: C.QUOTA, retryable: false },
  { what: 'AWS ThrottlingException', error: () => awsError('ThrottlingException', 400), category: C.RATE_LIMIT, retryable: true },
  { what: "GitHub's 403 rate limit", error: () => axiosError(403, { message: 'API rate limit exceeded for 1.2.3.4.' }), category: C.RATE_LIMIT, retryable: true },
  { what: 'hand-written "HTTP 429" error', error: () => new Error('HTTP 429'), category: C.RATE_LIMIT, retryable: true },

  // Authentication and permission.
  { what: 'OpenAI 401 invalid_api_key', error: () => new AuthenticationError(401, { message: 'Incorrect API key provided: sk-abc***', type: 'invalid_request_error', param: null, code: 'invalid_api_key' }, new Headers()), category: C.AUTHENTICATION, retryable: false, severity: S.HIGH },
  { what: 'Anthropic authentication_error', error: () => new AnthropicAPIError(401, 'authentication_error', 'invalid x-api-key'), category: C.AUTHENTICATION, retryable: false },
  { what: 'Anthropic permission_error', error: () => new AnthropicAPIError(403, 'permission_error', 'Your API key does not have permission to use the specified resource.'), category: C.PERMISSION, retryable: false },
  { what: 'plain 403 on a non-social service', error: () => axiosError(403, 'Forbidden'), service: 'llm_api', category: C.PERMISSION, retryable: false, isBan: false },

  // Bans.
  { what: '403 "account suspended"', error: () => axiosError(403, { message: 'Your account has been suspended.' }), category: C.BAN, retryable: false, isBan: true, severity: S.CRITICAL },
  { what: '403 Cloudflare "you have been blocked"', error: () => axiosError(403, '<html><title>Attention Required!</title>Sorry, you have been blocked</html>'), category: C.BAN, retryable: false, isBan: true },
  { what: 'captcha page with status 200-less error', error: () => new Error('Please complete the CAPTCHA to continue'), category: C.BAN, retryable: false, isBan: true, pattern: 'captcha' },
  { what: 'captcha on a 503', error: () => axiosError(503, '<div class="h-captcha"></div>'), category: C.BAN, retryable: false, isBan: true },
  { what: 'Google unusual traffic', error: () => axiosError(429, 'Our systems have detected unusual traffic from your computer network.'), category: C.BAN, isBan: true, retryable: false },
  { what: 'looks automated', error: () => new Error('This request looks like it might be automated.'), category: C.BAN, isBan: true, retryable: false },
  { what: 'social media: bare 403', error: () => axiosError(403, ''), service: 'social_media', category: C.BAN, retryable: false, isBan: true, pattern: 'social-403' },
  { what: 'social media: 403 "too many requests"', error: () => axiosError(403, { message: 'Too Many Requests' }), service: 'social_media', category: C.BAN, retryable: false, isBan: true },
  { what: 'social media scope key: 403', error: () => axiosError(403, 'Forbidden'), service: 'social_media:reddit', category: C.BAN, retryable: false, isBan: true },
  { what: 'social media: 429 stays a transient rate limit', error: () => axiosError(429, 'Too Many Requests'), service: 'social_media', category: C.RATE_LIMIT, retryable: true, isBan: false },
  { what: 'social media: looking up a suspended user is not our ban', error: () => axiosError(403, { errors: [{ code: 63, message: 'User has been suspended.' }] }), service: 'social_media', category: C.CLIENT, isBan: false, retryable: false },

  // Server side.
  { what: 'HTTP 500', error: () => axiosError(500, 'Internal Server Error'), category: C.SERVER, retryable: true, backoffMultiplier: 1 },
  { what: 'HTTP 502 via fetch Response', error: () => httpErrorWithResponse(502), category: C.SERVER, retryable: true },
  { what: 'HTTP 503', error: () => axiosError(503, 'Service Unavailable'), category: C.SERVER, retryable: true, backoffMultiplier: 2 },
  { what: 'HTTP 504', error: () => axiosError(504, 'Gateway Timeout'), category: C.SERVER, retryable: true },
  { what: 'Anthropic 529 overloaded_error', error: () => new AnthropicAPIError(529, 'overloaded_error', 'Overloaded'), category: C.SERVER, retryable: true, backoffMultiplier: 2 },
  { what: 'OpenAI 500 via SDK', error: () => new OpenAIAPIError(500, { message: 'The server had an error', type: 'server_error', param: null, code: null }, new Headers()), category: C.SERVER, retryable: true },

  // The caller's own mistakes.
  { what: 'HTTP 400', error: () => axiosError(400, { error: { message: 'Bad input' } }), category: C.CLIENT, retryable: false, severity: S.LOW },
  { what: 'HTTP 404', error: () => httpErrorWithResponse(404), category: C.CLIENT, retryable: false },
  { what: 'HTTP 409', error: () => axiosError(409, 'Conflict'), category: C.CLIENT, retryable: false },
  { what: 'HTTP 422', error: () => axiosError(422, { detail: 'field required' }), category: C.CLIENT, retryable: false },
  { what: 'Anthropic invalid_request_error', error: () => new AnthropicAPIError(400, 'invalid_request_error', 'max_tokens: Field required'), category: C.CLIENT, retryable: false },
  { what: 'a validation error', error: () => Object.assign(new Error('Expected string, received number'), { name: 'ZodError' }), category: C.CLIENT, retryable: false },

  // floodgate's own errors: never retried, never a (new) ban.
  { what: 'RateLimitedError', error: () => new RateLimitedError('llm_api', 1500, 'max_wait'), category: C.RATE_LIMIT, retryable: false, isBan: false, pattern: 'rate-limited-locally' },
  { what: 'CircuitOpenError', error: () => new CircuitOpenError('llm_api', Date.now() + 1000), category: C.SERVER, retryable: false, pattern: 'circuit-open' },
  { what: 'PlatformSuspendedError on social media', error: () => new PlatformSuspendedError('social_media:reddit', Date.now() + 60_000, 'banned: account suspended'), service: 'social_media', category: C.BAN, retryable: false, isBan: false, pattern: 'suspended-locally' },
  { what: 'CallCancelledError', error: () => new CallCancelledError('llm_api', 'manager closed'), category: C.CLIENT, retryable: false, pattern: 'cancelled' },
  { what: 'ConfigError', error: () => new ConfigError('requestsPerMinute', -1, 'must be > 0'), category: C.CLIENT, retryable: false, pattern: 'config-error' },

  // Unknowns and non-errors.
  { what: 'a generic Error', error: () => new Error('something odd'), category: C.UNKNOWN, retryable: false, pattern: 'default', severity: S.MEDIUM },
  { what: 'a thrown string', error: () => 'oops', category: C.UNKNOWN, retryable: false, pattern: 'default' },
  { what: 'a thrown string that says socket hang up', error: () => 'socket hang up', category: C.NETWORK, retryable: true },
  { what: 'null', error: () => null, category: C.UNKNOWN, retryable: false, pattern: 'default' },
  { what: 'undefined', error: () => undefined, category: C.UNKNOWN, retryable: false, pattern: 'default' },
  { what: 'a number', error: () => 42, category: C.UNKNOWN, retryable: false, pattern: 'default' },
  { what: 'a plain object with a status', error: () => ({ status: 503 }), category: C.SERVER, retryable: true },
];

describe('ErrorClassifier defaults on realistic errors', () => {
  it.each(rows)('$what', (row) => {
    const result = classifier.classify(row.error(), row.service);
    expect(result.category).toBe(row.category);
    expect(result.retryable).toBe(row.retryable);
    expect(result.isBan).toBe(row.isBan ?? row.category === C.BAN);
    if (row.pattern !== undefined) expect(result.pattern).toBe(row.pattern);
    if (row.severity !== undefined) expect(result.severity).toBe(row.severity);
    if (row.backoffMultiplier !== undefined) expect(result.backoffMultiplier).toBe(row.backoffMultiplier);
    expect(Object.isFrozen(result)).toBe(true);
  });

  it('returns plain JSON with statusCode and retryAfterMs only when known', () => {
    const limited = classifier.classify(axiosError(429, 'slow down', { 'Retry-After': '12' }));
    expect(limited).toEqual({ category: C.RATE_LIMIT, severity: S.MEDIUM, retryable: true, backoffMultiplier: 2, isBan: false, pattern: 'http-429', statusCode: 429, retryAfterMs: 12_000 });
    const bare = classifier.classify(new Error('something odd'));
    expect(Object.keys(bare).sort()).toEqual(['backoffMultiplier', 'category', 'isBan', 'pattern', 'retryable', 'severity']);
    expect(JSON.parse(JSON.stringify(limited))).toEqual(limited);
  });

  it("reads the OpenAI SDK's retry-after-ms and RateLimitedError's own wait", () => {
    const openai = new RateLimitError(429, { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' }, new Headers({ 'retry-after-ms': '2000' }));
    expect(classifier.classify(openai).retryAfterMs).toBe(2000);
    expect(classifier.classify(new RateLimitedError('llm_api', 1500, 'max_wait')).retryAfterMs).toBe(1500);
  });

  it('keeps client errors from counting against the provider, and everything else counting', () => {
    expect(countsAgainstProvider(classifier.classify(axiosError(404, 'Not Found')))).toBe(false);
    expect(countsAgainstProvider(classifier.classify(axiosError(500, 'oops')))).toBe(true);
    expect(countsAgainstProvider(classifier.classify(fetchFailed('ECONNRESET')))).toBe(true);
  });

  it('tries specific rows before generic ones and names every row uniquely', () => {
    const names = DEFAULT_ERROR_PATTERNS.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(Object.isFrozen(DEFAULT_ERROR_PATTERNS)).toBe(true);
    // Quota is decided before the generic 429 row, bans before both.
    expect(names.indexOf('quota-exhausted')).toBeLessThan(names.indexOf('http-429'));
    expect(names.indexOf('captcha')).toBeLessThan(names.indexOf('quota-exhausted'));
  });
});
