import { describe, it, expect } from 'vitest';
import { DEFAULT_ERROR_PATTERNS, ErrorCategory as C, ErrorClassifier, ErrorSeverity as S, type ErrorPattern } from '../../src/classify/index.js';
import { ConfigError } from '../../src/errors/errors.js';
import { axiosError } from './fixtures.js';

const base = { category: C.CLIENT, severity: S.LOW, retryable: false } as const;

describe('user patterns', () => {
  it('are tried before the defaults by default', () => {
    const c = new ErrorClassifier();
    c.register({ name: 'teapot-429', ...base, statusCodes: [429], messages: ['teapot'] });
    expect(c.classify(axiosError(429, 'I am a teapot')).pattern).toBe('teapot-429');
    // Other 429s still reach the defaults.
    expect(c.classify(axiosError(429, 'slow down')).pattern).toBe('http-429');
  });

  it('registered `before` are tried in registration order', () => {
    const c = new ErrorClassifier();
    c.register({ name: 'first', ...base, statusCodes: [500] });
    c.register({ name: 'second', ...base, statusCodes: [500] });
    expect(c.classify(axiosError(500, 'x')).pattern).toBe('first');
    expect(c.getPatterns().slice(0, 2).map((p) => p.name)).toEqual(['first', 'second']);
  });

  it('registered `after` only apply when no default matched', () => {
    const c = new ErrorClassifier();
    c.register({ name: 'late-500', ...base, statusCodes: [500] }, { position: 'after' });
    c.register({ name: 'legacy-gateway', category: C.SERVER, severity: S.HIGH, retryable: true, messages: [/upstream \d+ unhappy/i] }, { position: 'after' });
    expect(c.classify(axiosError(500, 'x')).pattern).toBe('server-error');
    expect(c.classify(new Error('Upstream 7 unhappy'))).toMatchObject({ pattern: 'legacy-gateway', category: C.SERVER, retryable: true });
    expect(c.getPatterns().at(-1)?.name).toBe('legacy-gateway');
  });

  it('re-registering a name replaces the earlier pattern', () => {
    const c = new ErrorClassifier();
    c.register({ name: 'mine', ...base, statusCodes: [500] });
    c.register({ name: 'mine', ...base, statusCodes: [502] });
    expect(c.classify(axiosError(500, 'x')).pattern).toBe('server-error');
    expect(c.classify(axiosError(502, 'x')).pattern).toBe('mine');
    expect(c.getPatterns().filter((p) => p.name === 'mine')).toHaveLength(1);
  });

  it('limited by `services` apply to that service type only (scope keys included)', () => {
    const c = new ErrorClassifier();
    c.register({ name: 'exchange-418', category: C.BAN, severity: S.CRITICAL, retryable: false, isBan: true, statusCodes: [418], services: ['exchange_api'] });
    const error = axiosError(418, "I'm a teapot");
    expect(c.classify(error, 'exchange_api').isBan).toBe(true);
    expect(c.classify(error, 'exchange_api:binance').isBan).toBe(true);
    expect(c.classify(error, 'llm_api').isBan).toBe(false);
    expect(c.classify(error).isBan).toBe(false);
  });

  it('match case-insensitive strings and types; RegExps keep their own flags and lose g/y state', () => {
    const c = new ErrorClassifier();
    c.register({ name: 'vendor-code', ...base, types: ['E_VENDOR_DOWN'] });
    c.register({ name: 'sticky', ...base, messages: [/Maintenance/g] });
    expect(c.classify(Object.assign(new Error('x'), { code: 'e_vendor_down' })).pattern).toBe('vendor-code');
    const maintenance = new Error('Maintenance window');
    // A global RegExp would alternate true/false through lastIndex; it must match every time.
    for (let i = 0; i < 3; i++) expect(c.classify(maintenance).pattern).toBe('sticky');
    expect(c.classify(new Error('maintenance window')).pattern).toBe('default');
  });

  it('cannot reclassify or ban on floodgate\'s own errors', async () => {
    const { RateLimitedError } = await import('../../src/errors/errors.js');
    const c = new ErrorClassifier();
    c.register({ name: 'paranoid', category: C.BAN, severity: S.CRITICAL, retryable: false, isBan: true, messages: ['rate limit'] });
    const own = c.classify(new RateLimitedError('social_media', 100, 'queue_full'), 'social_media');
    expect(own).toMatchObject({ pattern: 'rate-limited-locally', isBan: false });
    expect(c.classify(new Error('rate limit hit'), 'social_media').pattern).toBe('paranoid');
  });

  it('are copied at registration: mutating the object later changes nothing', () => {
    const c = new ErrorClassifier();
    const codes = [500];
    const pattern = { name: 'mutable', ...base, statusCodes: codes };
    c.register(pattern);
    codes[0] = 502;
    expect(c.classify(axiosError(500, 'x')).pattern).toBe('mutable');
  });

  it('clear() removes user patterns only', () => {
    const c = new ErrorClassifier();
    c.register({ name: 'mine', ...base, statusCodes: [500] });
    c.clear();
    expect(c.classify(axiosError(500, 'x')).pattern).toBe('server-error');
  });
});

describe('pattern validation', () => {
  const good: ErrorPattern = { name: 'ok', ...base, statusCodes: [400] };
  const bad: [string, Record<string, unknown>, string][] = [
    ['missing name', { ...good, name: undefined }, 'errorPattern.name'],
    ['empty name', { ...good, name: '  ' }, 'errorPattern.name'],
    ['unknown category', { ...good, category: 'oops' }, 'errorPattern.category'],
    ['missing severity', { ...good, severity: undefined }, 'errorPattern.severity'],
    ['non-boolean retryable', { ...good, retryable: 'yes' }, 'errorPattern.retryable'],
    ['negative backoffMultiplier', { ...good, backoffMultiplier: -1 }, 'errorPattern.backoffMultiplier'],
    ['NaN backoffMultiplier', { ...good, backoffMultiplier: Number.NaN }, 'errorPattern.backoffMultiplier'],
    ['non-boolean isBan', { ...good, isBan: 1 }, 'errorPattern.isBan'],
    ['no criteria', { name: 'x', ...base }, 'errorPattern.criteria'],
    ['services only', { name: 'x', ...base, services: ['llm_api'] }, 'errorPattern.criteria'],
    ['empty messages', { ...good, messages: [] }, 'errorPattern.messages'],
    ['empty-string message (would match everything)', { ...good, messages: [''] }, 'errorPattern.messages'],
    ['status code out of range', { ...good, statusCodes: [42] }, 'errorPattern.statusCodes'],
    ['non-string type', { ...good, types: [7] }, 'errorPattern.types'],
  ];

  it.each(bad)('rejects %s with a ConfigError naming the field', (_what, pattern, field) => {
    const c = new ErrorClassifier();
    let thrown: unknown;
    try {
      c.register(pattern as unknown as ErrorPattern);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).field).toBe(field);
    expect((thrown as ConfigError).message).toContain(field);
    // A rejected pattern is not half-registered.
    expect(c.getPatterns()).toHaveLength(DEFAULT_ERROR_PATTERNS.length);
  });

  it('rejects a non-object and an unknown position', () => {
    const c = new ErrorClassifier();
    expect(() => c.register(null as unknown as ErrorPattern)).toThrow(ConfigError);
    expect(() => c.register(good, { position: 'middle' as never })).toThrow(ConfigError);
  });

  it('accepts a valid pattern', () => {
    const c = new ErrorClassifier();
    expect(() => c.register({ ...good, backoffMultiplier: 3, isBan: false, services: ['llm_api'] })).not.toThrow();
  });
});
