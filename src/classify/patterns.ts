/**
 * The default classification table. Order matters: the first matching row wins, so specific
 * signals (floodgate's own errors, bans, exhausted quota) sit above the generic status rows
 * that would otherwise swallow them (a quota error is a 429, a ban page is often a 403).
 *
 * Within a row every criterion set must match; within a criterion any value matches. Message
 * strings are case-insensitive substrings; types are compared case-insensitively against the
 * `code`, `type`, `name` and constructor name of the error and of its cause chain.
 */
import { ErrorCategory as C, ErrorSeverity as S, type ErrorPattern } from './types.js';

const SOCIAL = ['social_media'] as const;

function row(p: ErrorPattern): ErrorPattern {
  for (const key of ['messages', 'statusCodes', 'types', 'services'] as const) {
    const list = p[key];
    if (list) Object.freeze(list);
  }
  return Object.freeze(p);
}

const BAN = { category: C.BAN, severity: S.CRITICAL, retryable: false, isBan: true } as const;
const RATE = { category: C.RATE_LIMIT, severity: S.MEDIUM, retryable: true, backoffMultiplier: 2 } as const;
const QUOTA = { category: C.QUOTA, severity: S.HIGH, retryable: false } as const;
const AUTH = { category: C.AUTHENTICATION, severity: S.HIGH, retryable: false } as const;
const PERM = { category: C.PERMISSION, severity: S.HIGH, retryable: false } as const;
const TIMEOUT = { category: C.TIMEOUT, severity: S.MEDIUM, retryable: true } as const;
const NETWORK = { category: C.NETWORK, severity: S.MEDIUM, retryable: true } as const;
const CLIENT = { category: C.CLIENT, severity: S.LOW, retryable: false } as const;

export const DEFAULT_ERROR_PATTERNS: readonly ErrorPattern[] = Object.freeze([
  // --- floodgate's own errors. First, so provider rows ("rate limit" text, BAN) never reinterpret
  // them; none is retryable (the manager already waited or refused on purpose) and none is a ban,
  // so a local suspension cannot re-trigger itself.
  // The scope's own limiter refused the call: the provider was never asked.
  row({ name: 'rate-limited-locally', category: C.RATE_LIMIT, severity: S.LOW, retryable: false, types: ['EFLOODGATE_RATE_LIMITED'] }),
  // The breaker is open because the provider kept failing.
  row({ name: 'circuit-open', category: C.SERVER, severity: S.MEDIUM, retryable: false, types: ['EFLOODGATE_CIRCUIT_OPEN'] }),
  // The scope is suspended (after a ban, or by hand): BAN category for reporting, but not a new ban.
  row({ name: 'suspended-locally', category: C.BAN, severity: S.HIGH, retryable: false, isBan: false, types: ['EFLOODGATE_SUSPENDED'] }),
  // The manager's anti-loop guard refused an outbound call: floodgate's choice, not the provider's state.
  row({ name: 'degraded', category: C.RATE_LIMIT, severity: S.MEDIUM, retryable: false, types: ['EFLOODGATE_DEGRADED'] }),
  // The caller aborted or the manager closed: the caller chose this.
  row({ name: 'cancelled', category: C.CLIENT, severity: S.LOW, retryable: false, types: ['EFLOODGATE_CANCELLED'] }),
  // A bad configuration is a programming error; retrying cannot fix it.
  row({ name: 'config-error', category: C.CLIENT, severity: S.HIGH, retryable: false, types: ['EFLOODGATE_CONFIG'] }),
  // An attempt outlived `timeoutMs`: the provider was slow, another attempt may be quicker.
  row({ name: 'call-timeout', ...TIMEOUT, types: ['EFLOODGATE_TIMEOUT'] }),

  // --- bans: above quota and rate limits because ban pages arrive as 403/429/503 alike.
  // Twitter's "User has been suspended" is about the user looked up, not about us: not a ban.
  row({ name: 'target-user-suspended', ...CLIENT, messages: ['user has been suspended'] }),
  // A CAPTCHA anywhere (reCAPTCHA, hCaptcha, Cloudflare challenge pages) means we are flagged as a bot.
  row({ name: 'captcha', ...BAN, messages: ['captcha'] }),
  // Explicit bot-detection wording, whatever the status.
  row({
    name: 'bot-detection',
    ...BAN,
    messages: [
      'bot detection',
      'bot detected',
      'unusual traffic',
      'are you a robot',
      'not a robot',
      /\b(?:be|is|as|looks|seems|detected|suspected)\s+automated\b/i,
      /\bautomated\s+(?:queries|requests|traffic|access|activity|behaviou?r|scraping)\b/i,
    ],
  }),
  // Account-level refusal wording on an auth/permission status: the account, not the call, is refused.
  row({
    name: 'account-banned',
    ...BAN,
    statusCodes: [401, 403],
    messages: ['suspended', 'banned', 'blocked', 'account disabled', 'account has been disabled', 'account is disabled', 'deactivated'],
  }),
  // Social platforms (per the seeds): ban wording is a ban whatever the status, "forbidden" included.
  row({
    name: 'social-ban-signal',
    ...BAN,
    services: SOCIAL,
    messages: ['suspended', 'banned', 'blocked', 'forbidden', 'account disabled', 'account has been disabled'],
  }),
  // Social platforms answer a flagged client with a bare 403 (even one saying "rate limit"): treat as a ban.
  row({ name: 'social-403', ...BAN, services: SOCIAL, statusCodes: [403] }),

  // --- exhausted quota / billing: above the 429 row (OpenAI's insufficient_quota IS a 429) and the
  // 400 row (Anthropic's low credit balance is a 400). Waiting does not help; paying does.
  row({ name: 'quota-exhausted', ...QUOTA, types: ['insufficient_quota', 'billing_hard_limit_reached', 'billing_not_active', 'quotaexceeded', 'dailylimitexceeded'] }),
  // 402 Payment Required.
  row({ name: 'payment-required', ...QUOTA, statusCodes: [402] }),
  // --- transient rate limits: retry later, backing off harder than for other failures.
  // Typed rate limits sit above the quota wording because OpenAI's ordinary rate-limit message
  // links to ".../account/billing": a code saying "rate limit" beats prose mentioning billing.
  // OpenAI rate_limit_exceeded, Anthropic rate_limit_error, Google rateLimitExceeded, AWS throttling.
  row({
    name: 'rate-limit-type',
    ...RATE,
    types: ['rate_limit_exceeded', 'rate_limit_error', 'ratelimitexceeded', 'userratelimitexceeded', 'ThrottlingException', 'Throttling', 'TooManyRequestsException', 'SlowDown', 'RequestLimitExceeded'],
  }),
  // Quota wording. Bare "billing" is deliberately not enough (see above): only billing *problems*.
  row({
    name: 'quota-message',
    ...QUOTA,
    messages: [
      'quota exceeded',
      'exceeded your current quota',
      'credit balance is too low',
      'insufficient credits',
      'out of credits',
      'daily limit exceeded',
      'plan and billing details',
      /billing (?:hard limit|limit|issue|problem|account (?:is )?(?:disabled|inactive|suspended)|is not active|not active|required)/i,
    ],
  }),

  // --- authentication: bad or missing credentials; retrying with the same key cannot succeed.
  row({ name: 'http-401', ...AUTH, statusCodes: [401] }),
  // Anthropic authentication_error, OpenAI invalid_api_key / AuthenticationError (status may be missing).
  row({ name: 'auth-error-type', ...AUTH, types: ['authentication_error', 'invalid_api_key', 'AuthenticationError', 'UnrecognizedClientException', 'InvalidSignatureException'] }),
  row({ name: 'auth-message', ...AUTH, messages: ['invalid api key', 'incorrect api key', 'invalid x-api-key', 'api key not valid', 'invalid authentication', 'authentication failed'] }),

  // Any other 429 is a transient rate limit.
  row({ name: 'http-429', ...RATE, statusCodes: [429] }),
  // Rate-limit wording on another status (GitHub's 403 "API rate limit exceeded", or no status at all).
  row({ name: 'rate-limit-message', ...RATE, messages: ['rate limit', 'rate-limit', 'ratelimit', 'too many requests', 'throttled'] }),

  // --- permission: the credentials are fine but not allowed to do this.
  row({ name: 'http-403', ...PERM, statusCodes: [403] }),
  row({ name: 'permission-type', ...PERM, types: ['permission_error', 'PermissionDeniedError', 'permission_denied', 'AccessDenied', 'AccessDeniedException'] }),

  // --- provider-side failures: usually transient.
  // Overload: retry, but give the provider more room (Anthropic 529 overloaded_error, 503 Service Unavailable).
  row({ name: 'server-overloaded', category: C.SERVER, severity: S.MEDIUM, retryable: true, backoffMultiplier: 2, statusCodes: [503, 529] }),
  row({ name: 'overloaded-type', category: C.SERVER, severity: S.MEDIUM, retryable: true, backoffMultiplier: 2, types: ['overloaded_error', 'ServiceUnavailableException'] }),
  // Internal errors, bad gateways, gateway timeouts, Cloudflare's origin errors.
  row({ name: 'server-error', category: C.SERVER, severity: S.MEDIUM, retryable: true, statusCodes: [500, 502, 504, 520, 521, 522, 523, 524] }),
  row({ name: 'server-error-type', category: C.SERVER, severity: S.MEDIUM, retryable: true, types: ['api_error', 'InternalServerError', 'InternalFailure'] }),
  // 501 Not Implemented, 505, 507, 511...: the provider's fault, but the same request will fail again.
  row({ name: 'server-permanent', category: C.SERVER, severity: S.MEDIUM, retryable: false, statusCodes: [501, 505, 506, 507, 508, 510, 511] }),

  // --- timeouts: the request may never have reached the provider, or it was slow; try again.
  row({ name: 'http-408', ...TIMEOUT, statusCodes: [408] }),
  // Node/undici/axios/got timeouts and the DOMException from AbortSignal.timeout(). UND_ERR_CONNECT_TIMEOUT
  // is deliberately a NETWORK row below: the host was unreachable, nothing was sent.
  row({
    name: 'timeout-type',
    ...TIMEOUT,
    types: ['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNABORTED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'TimeoutError', 'APIConnectionTimeoutError', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'RequestTimeout'],
  }),
  // An AbortError raised because a timer fired (its message or cause says so), not because the user gave up.
  row({ name: 'abort-timeout', ...TIMEOUT, types: ['AbortError', 'ABORT_ERR'], messages: ['timeout', 'timed out'] }),
  // Any other abort is the caller cancelling: not the provider's fault, and retrying would defy the caller.
  row({ name: 'aborted', ...CLIENT, types: ['AbortError', 'ABORT_ERR', 'UND_ERR_ABORTED', 'APIUserAbortError', 'CanceledError', 'ERR_CANCELED'] }),

  // --- network: connection refused/reset, DNS, sockets; nothing useful reached the provider.
  row({
    name: 'network-code',
    ...NETWORK,
    types: [
      'ECONNRESET', 'ECONNREFUSED', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN',
      'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED', 'ERR_NETWORK', 'APIConnectionError',
    ],
  }),

  // --- the caller's own mistakes: do not retry, and do not count against the provider.
  row({ name: 'http-4xx', ...CLIENT, statusCodes: [400, 404, 405, 406, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 431, 451] }),
  // Anthropic invalid_request_error/not_found_error, OpenAI BadRequestError, schema validators, Node argument checks.
  row({
    name: 'client-error-type',
    ...CLIENT,
    types: [
      'invalid_request_error', 'not_found_error', 'request_too_large', 'BadRequestError', 'NotFoundError', 'UnprocessableEntityError',
      'ValidationError', 'ValidationException', 'ZodError', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_URL',
    ],
  }),

  // --- wording-only fallbacks, last because text is the weakest signal.
  row({ name: 'timeout-message', ...TIMEOUT, messages: ['timed out', 'timeout exceeded', 'request timeout'] }),
  // undici's "fetch failed" without a known cause code, Node's "socket hang up", axios's "Network Error".
  row({ name: 'network-message', ...NETWORK, messages: ['fetch failed', 'socket hang up', 'network error', 'connection reset', 'other side closed', 'network is unreachable', 'getaddrinfo'] }),
]);

/** What an error that no row matches is classified as. */
export const DEFAULT_CLASSIFICATION = Object.freeze({
  category: C.UNKNOWN,
  severity: S.MEDIUM,
  retryable: false,
  backoffMultiplier: 1,
  isBan: false,
  pattern: 'default',
});
