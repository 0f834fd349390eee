import { describe, expect, it } from 'vitest';
import {
  CallCancelledError,
  CallTimeoutError,
  CircuitOpenError,
  ConfigError,
  FloodgateError,
  PlatformSuspendedError,
  RateLimitedError,
  isCallCancelledError,
  isCallTimeoutError,
  isCircuitOpenError,
  isConfigError,
  isFloodgateError,
  isPlatformSuspendedError,
  isRateLimitedError,
} from 'floodgate';

const BRAND = Symbol.for('floodgate.error');

/** What another copy of the package would throw: same brand, different classes. */
function foreign(code: string): object {
  const error = new Error('from another copy');
  Object.defineProperty(error, BRAND, { value: code });
  return error;
}

const cases = [
  ['RateLimitedError', new RateLimitedError('svc', 1_500, 'max_wait'), isRateLimitedError, 'EFLOODGATE_RATE_LIMITED'],
  ['CircuitOpenError', new CircuitOpenError('svc', Date.UTC(2030, 0, 1)), isCircuitOpenError, 'EFLOODGATE_CIRCUIT_OPEN'],
  ['PlatformSuspendedError', new PlatformSuspendedError('social_media:reddit', Date.UTC(2030, 0, 1), 'ban'), isPlatformSuspendedError, 'EFLOODGATE_SUSPENDED'],
  ['CallTimeoutError', new CallTimeoutError('svc', 1_000), isCallTimeoutError, 'EFLOODGATE_TIMEOUT'],
  ['CallCancelledError', new CallCancelledError('svc', 'closed'), isCallCancelledError, 'EFLOODGATE_CANCELLED'],
  ['ConfigError', new ConfigError('burst', 0, 'must be an integer >= 1'), isConfigError, 'EFLOODGATE_CONFIG'],
] as const;

describe('error classes and guards', () => {
  it.each(cases)('%s is a FloodgateError with a stable code and name', (name, error, _guard, code) => {
    expect(error).toBeInstanceOf(FloodgateError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(isFloodgateError(error)).toBe(true);
  });

  it.each(cases)('is%s recognises its own error and no other', (_name, error, guard) => {
    expect(guard(error)).toBe(true);
    for (const [, other] of cases) if (other !== error) expect(guard(other)).toBe(false);
    for (const value of [new Error('plain'), null, undefined, 'EFLOODGATE_RATE_LIMITED', 42, {}]) expect(guard(value)).toBe(false);
  });

  it.each(cases)('is%s works across copies of the package (by brand, not class)', (_name, error, guard, code) => {
    expect(guard(foreign(code))).toBe(true);
    expect(isFloodgateError(foreign(code))).toBe(true);
    expect(guard(foreign('EFLOODGATE_SOMETHING_ELSE'))).toBe(false);
    // A `code` property alone (e.g. an HTTP client's error) is not a floodgate error.
    expect(guard(Object.assign(new Error('look-alike'), { code }))).toBe(false);
    expect(guard(error)).toBe(true);
  });

  it('keeps the brand out of enumeration and JSON', () => {
    const error = new RateLimitedError('svc', 10, 'queue_full');
    expect(Object.keys(error)).not.toContain(BRAND);
    expect(Object.getOwnPropertySymbols(error)).toEqual([BRAND]);
    expect(JSON.parse(JSON.stringify(error))).toEqual({ code: 'EFLOODGATE_RATE_LIMITED', name: 'RateLimitedError', scope: 'svc', retryAfterMs: 10, reason: 'queue_full' });
  });
});

describe('error details and messages', () => {
  it('RateLimitedError carries scope, reason and a whole, non-negative retryAfterMs', () => {
    const error = new RateLimitedError('social_media:reddit', 1_234.2, 'max_wait');
    expect(error).toMatchObject({ scope: 'social_media:reddit', reason: 'max_wait', retryAfterMs: 1_235 });
    expect(error.message).toBe('Rate limited in scope "social_media:reddit" (max_wait); retry after 1235 ms');
    expect(new RateLimitedError('svc', -5, 'queue_full').retryAfterMs).toBe(0);
  });

  it('ConfigError names the field, the value and the rule', () => {
    expect(new ConfigError('burst', 0, 'must be an integer >= 1').message).toBe('Invalid burst: 0 (must be an integer >= 1)');
    expect(new ConfigError('platform', '', 'must be a non-empty string').message).toBe('Invalid platform: "" (must be a non-empty string)');
    const error = new ConfigError('FLOODGATE_LLM_API_BURST', NaN, 'must be an integer >= 1');
    expect(error).toMatchObject({ field: 'FLOODGATE_LLM_API_BURST', rule: 'must be an integer >= 1' });
    expect(error.message).toContain('FLOODGATE_LLM_API_BURST: NaN');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => new ConfigError('x', circular, 'rule')).not.toThrow();
  });

  it('PlatformSuspendedError and CircuitOpenError say until when', () => {
    const until = Date.UTC(2030, 0, 1, 12);
    const suspended = new PlatformSuspendedError('social_media:reddit', until, 'ban detected');
    expect(suspended).toMatchObject({ suspendedUntil: until, reason: 'ban detected' });
    expect(suspended.message).toContain('2030-01-01T12:00:00.000Z');
    expect(suspended.message).toContain('ban detected');
    expect(new CircuitOpenError('svc', until).message).toContain('2030-01-01T12:00:00.000Z');
  });

  it('keeps the cause of a cancellation', () => {
    const reason = new Error('user left');
    expect(new CallCancelledError('svc', 'aborted', reason).cause).toBe(reason);
  });
});

describe('hostile values', () => {
  const trap = (): never => {
    throw new Error('trap');
  };
  const revoked = (): object => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  };
  const hostile: [string, unknown][] = [
    ['a Proxy trapping get', new Proxy({}, { get: trap })],
    ['a revoked Proxy', revoked()],
    ['a throwing toJSON', { toJSON: trap }],
    ['a cycle', (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })()],
  ];

  it.each(hostile)('the guards answer false for %s instead of throwing', (_what, value) => {
    for (const guard of [isFloodgateError, isRateLimitedError, isCircuitOpenError, isPlatformSuspendedError, isCallTimeoutError, isConfigError, isCallCancelledError]) {
      expect(guard(value)).toBe(false);
    }
  });

  it.each(hostile)('ConfigError describes %s without reading it', (_what, value) => {
    const error = new ConfigError('burst', value, 'must be a number');
    expect(error.message).toBe('Invalid burst: [object] (must be a number)');
    expect(error.value).toBe(value);
  });
});
