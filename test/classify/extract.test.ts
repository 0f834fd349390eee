import { afterEach, describe, it, expect, vi } from 'vitest';
import { ErrorClassifier } from '../../src/classify/index.js';
import { extractFacts, parseGoDuration } from '../../src/classify/extract.js';
import { AnthropicAPIError, axiosError, httpErrorWithResponse, OpenAIAPIError, RateLimitError } from './fixtures.js';

const classifier = new ErrorClassifier();
const NOW = new Date('2025-01-14T17:15:00.000Z');

afterEach(() => {
  vi.useRealTimers();
});

function limited(headers: unknown, where: 'top' | 'response' = 'response', status = 429): unknown {
  const e = new Error('limited');
  return where === 'top' ? Object.assign(e, { status, headers }) : Object.assign(e, { response: { status, headers } });
}

describe('status code', () => {
  it.each([
    ['status', { status: 429 }],
    ['statusCode', { statusCode: 429 }],
    ['response.status', { response: { status: 429 } }],
    ['response.statusCode (got)', { response: { statusCode: 429 } }],
    ['$metadata.httpStatusCode (AWS SDK v3)', { $metadata: { httpStatusCode: 429 } }],
    ['a numeric string', { status: '429' }],
    ['a fetch Response on the error', { response: new Response(null, { status: 429 }) }],
    ['a wrapper whose cause carries it', { cause: { status: 429 } }],
    ['the message of a hand-written wrapper', { message: 'Request failed with status code 429' }],
  ])('is read from %s', (_where, fields) => {
    const error = Object.assign(new Error(typeof (fields as { message?: unknown }).message === 'string' ? (fields as { message: string }).message : 'x'), fields);
    expect(classifier.classify(error).statusCode).toBe(429);
  });

  it('ignores values that are not HTTP statuses', () => {
    expect(extractFacts({ status: 42 }).statusCode).toBeUndefined();
    expect(extractFacts({ status: 429.5 }).statusCode).toBeUndefined();
    expect(extractFacts({ status: 'soon' }).statusCode).toBeUndefined();
    expect(extractFacts(new Error('retried 3 times after 500 ms')).statusCode).toBeUndefined();
  });

  it('prefers the outermost status', () => {
    expect(extractFacts(Object.assign(new Error('x'), { status: 503, cause: { status: 429 } })).statusCode).toBe(503);
  });
});

describe('headers', () => {
  it.each([
    ['a plain object, any key case', { 'RETRY-AFTER': '7' }],
    ['a WHATWG Headers', new Headers({ 'Retry-After': '7' })],
    ['a Map', new Map([['Retry-After', '7']])],
    ['a Node header array value', { 'retry-after': ['7', '9'] }],
  ])('are read from %s', (_what, headers) => {
    expect(classifier.classify(limited(headers)).retryAfterMs).toBe(7000);
    expect(classifier.classify(limited(headers, 'top')).retryAfterMs).toBe(7000);
  });

  it('are read from a fetch Response carried on the error', () => {
    expect(classifier.classify(httpErrorWithResponse(429, { 'retry-after': '3' })).retryAfterMs).toBe(3000);
  });
});

describe('retry-after', () => {
  it('reads Retry-After delta seconds from an axios error', () => {
    expect(classifier.classify(axiosError(429, 'Too Many Requests', { 'Retry-After': '12' })).retryAfterMs).toBe(12_000);
  });

  it('reads Retry-After as an HTTP date relative to the (fake) clock', () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    const at = new Date(NOW.getTime() + 90_000).toUTCString();
    expect(classifier.classify(limited({ 'retry-after': at })).retryAfterMs).toBe(90_000);
    vi.setSystemTime(NOW.getTime() + 30_000);
    expect(classifier.classify(limited({ 'retry-after': at })).retryAfterMs).toBe(60_000);
  });

  it('clamps a date in the past to 0', () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    const past = new Date(NOW.getTime() - 60_000).toUTCString();
    expect(classifier.classify(limited({ 'retry-after': past })).retryAfterMs).toBe(0);
  });

  it("reads the OpenAI SDK's retry-after-ms first", () => {
    const e = new RateLimitError(429, { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' }, new Headers({ 'retry-after-ms': '250', 'retry-after': '1' }));
    expect(classifier.classify(e).retryAfterMs).toBe(250);
  });

  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1h2m3.5s', 3_723_500],
  ])('reads OpenAI reset duration %s on a 429', (value, ms) => {
    const e = new OpenAIAPIError(429, { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' }, new Headers({ 'x-ratelimit-reset-requests': value }));
    expect(classifier.classify(e).retryAfterMs).toBe(ms);
  });

  it('reads Go durations as the grammar says, and nothing else (one-pass reader against the regular expression it replaced)', () => {
    // The grammar: one to four parts, each up to 9 digits, optionally up to 9 decimals, then h, m, s or ms.
    const grammar = /^(?:\d{1,9}(?:\.\d{1,9})?(?:ms|h|m|s)){1,4}$/;
    const reference = (value: string): number | undefined => {
      if (!grammar.test(value)) return undefined;
      const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
      let total = 0;
      for (const part of value.matchAll(/(\d{1,9}(?:\.\d{1,9})?)(ms|h|m|s)/g)) total += Number(part[1]) * (unit[part[2] as string] ?? 0);
      return Number.isFinite(total) ? Math.max(0, Math.ceil(total)) : undefined;
    };
    const samples = ['', '0s', '1s', '6m0s', '20ms', '1h2m3.5s', '0.5ms', '1.25s', '999999999h', '1234567890s', '1.1234567890s', '1.s', '.5s', '1', 's', 'm', 'ms', '1ms1', '1m1ms', '1msms', '1x', '1h1h1h1h', '1h1h1h1h1h', '1s ', ' 1s', '1S', '1ns', '1us', '１s', '-1s', '+1s', '1e3s', '1_0s', '5m', '5ms0s', '59m59.999s', '0.000000001s'];
    for (const value of samples) expect([value, parseGoDuration(value)]).toEqual([value, reference(value)]);
    // And a seeded sweep of strings over the grammar's alphabet.
    let seed = 7;
    const next = (n: number): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % n);
    const alphabet = '0123456789.hms';
    for (let i = 0; i < 5_000; i++) {
      let value = '';
      for (let length = 1 + next(12); length > 0; length--) value += alphabet[next(alphabet.length)];
      expect([value, parseGoDuration(value)]).toEqual([value, reference(value)]);
    }
  });

  it('waits for the longer of the OpenAI request and token resets', () => {
    const headers = new Headers({ 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-reset-tokens': '6m0s' });
    const e = new OpenAIAPIError(429, { message: 'Rate limit reached', type: 'tokens', param: null, code: 'rate_limit_exceeded' }, headers);
    expect(classifier.classify(e).retryAfterMs).toBe(360_000);
  });

  it('reads the Anthropic RFC 3339 reset under fake timers', () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    const reset = new Date(NOW.getTime() + 45_000).toISOString();
    const e = new AnthropicAPIError(429, 'rate_limit_error', 'rate limited', { 'anthropic-ratelimit-requests-reset': reset });
    expect(classifier.classify(e).retryAfterMs).toBe(45_000);
  });

  it('reads x-ratelimit-reset as delta seconds, or as an epoch when it is that large', () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    expect(classifier.classify(limited({ 'x-ratelimit-reset': '30' })).retryAfterMs).toBe(30_000);
    expect(classifier.classify(limited({ 'ratelimit-reset': '5' })).retryAfterMs).toBe(5000);
    const epoch = String(Math.floor(NOW.getTime() / 1000) + 120);
    expect(classifier.classify(limited({ 'x-ratelimit-reset': epoch })).retryAfterMs).toBe(120_000);
  });

  it("reads GitHub's reset on a 403 only when nothing remains", () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    const epoch = String(Math.floor(NOW.getTime() / 1000) + 60);
    expect(classifier.classify(limited({ 'x-ratelimit-reset': epoch, 'x-ratelimit-remaining': '0' }, 'response', 403)).retryAfterMs).toBe(60_000);
    expect(classifier.classify(limited({ 'x-ratelimit-reset': epoch, 'x-ratelimit-remaining': '4999' }, 'response', 403)).retryAfterMs).toBeUndefined();
  });

  it('does not turn budget headers on a non-rate-limit failure into a wait', () => {
    const e = new OpenAIAPIError(500, { message: 'server error', type: 'server_error', param: null, code: null }, new Headers({ 'x-ratelimit-reset-requests': '6m0s' }));
    expect(classifier.classify(e).retryAfterMs).toBeUndefined();
  });

  it('honours Retry-After on a 503', () => {
    expect(classifier.classify(axiosError(503, 'down', { 'retry-after': '120' })).retryAfterMs).toBe(120_000);
  });

  it.each(['soon', '-5', '1e9', 'Tomorrow', '', 'NaN', '12abc', '2025-13-45T99:99:99Z'])('ignores garbage %j', (value) => {
    const result = classifier.classify(limited({ 'retry-after': value, 'anthropic-ratelimit-requests-reset': value, 'x-ratelimit-reset-requests': value }));
    expect(result).not.toHaveProperty('retryAfterMs');
    expect(result.statusCode).toBe(429);
  });
});

describe('codes and text', () => {
  it('collects codes and names along the cause chain, lowercased', () => {
    const facts = extractFacts(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }));
    expect(facts.types).toEqual(expect.arrayContaining(['typeerror', 'econnrefused', 'error']));
    expect(facts.text).toContain('fetch failed');
    expect(facts.text).toContain('connect ECONNREFUSED');
  });

  it("reads the Anthropic SDK's nested error type", () => {
    const facts = extractFacts(new AnthropicAPIError(529, 'overloaded_error', 'Overloaded'));
    expect(facts.types).toContain('overloaded_error');
  });

  it('reads reasons from response bodies (axios data, JSON error objects, HTML)', () => {
    expect(extractFacts(axiosError(403, { error: { message: 'Account suspended' } })).text).toContain('Account suspended');
    expect(extractFacts(axiosError(403, { errors: [{ message: 'You are banned' }] })).text).toContain('You are banned');
    expect(extractFacts(axiosError(403, '<p>captcha</p>')).text).toContain('captcha');
  });

  it('flags floodgate errors by their code only at the top level', () => {
    expect(extractFacts({ code: 'EFLOODGATE_CIRCUIT_OPEN' }).floodgateCode).toBe('EFLOODGATE_CIRCUIT_OPEN');
    expect(extractFacts(new Error('wrap', { cause: { code: 'EFLOODGATE_CIRCUIT_OPEN' } })).floodgateCode).toBeUndefined();
  });
});
