import { describe, expect, it } from 'vitest';
import {
  CallCancelledError,
  CallTimeoutError,
  CircuitOpenError,
  ConfigError,
  FloodgateError,
  PlatformSuspendedError,
  RateLimitedError,
  retryAfterOf,
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

describe('retryAfterOf', () => {
  it('gives the wait of each refusal in ms from now, and undefined for anything else', () => {
    const now = 1_000_000;
    expect(retryAfterOf(new RateLimitedError('svc', 1_234.2, 'max_wait'), now)).toBe(1_235);
    expect(retryAfterOf(new CircuitOpenError('svc', now + 5_000), now)).toBe(5_000);
    expect(retryAfterOf(new PlatformSuspendedError('svc', now + 60_000, 'ban'), now)).toBe(60_000);
    // A moment already past: try now.
    expect(retryAfterOf(new CircuitOpenError('svc', now - 10), now)).toBe(0);
    expect(retryAfterOf(new CallCancelledError('svc', 'aborted'), now)).toBeUndefined();
    expect(retryAfterOf(new Error('provider'), now)).toBeUndefined();
    expect(retryAfterOf(null)).toBeUndefined();
    // A look-alike whose reads throw does not make the caller throw.
    const hostile = new Proxy(new CircuitOpenError('svc', now), { get: (target, key) => (key === 'retryAt' ? (() => { throw new Error('trap'); })() : Reflect.get(target, key)) });
    expect(retryAfterOf(hostile, now)).toBeUndefined();
  });
});

describe('refusals are cheap to build', () => {
  it('RateLimitedError, CircuitOpenError and PlatformSuspendedError carry no stack frames; others keep theirs', () => {
    const frames = (error: Error): number => (error.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at ')).length;
    const refusals = [new RateLimitedError('svc', 10, 'queue_full'), new CircuitOpenError('svc', 0), new CircuitOpenError('svc', 0, new Error('why')), new PlatformSuspendedError('svc', 0, 'ban')];
    for (const refusal of refusals) {
      expect(frames(refusal), refusal.name).toBe(0);
      expect(refusal.stack).toBe(`${refusal.name}: ${refusal.message}`);
    }
    expect(frames(new CallTimeoutError('svc', 5))).toBeGreaterThan(0);
    expect(frames(new ConfigError('burst', 0, 'rule'))).toBeGreaterThan(0);
    // The limit is restored for everyone else.
    expect(frames(new Error('after'))).toBeGreaterThan(0);
  });
});

describe('a refusal message written when first read', () => {
  it('reads, prints and can be replaced like any message', () => {
    const error = new CircuitOpenError('svc', Date.UTC(2030, 0, 1));
    expect(error.message).toBe('Circuit open for scope "svc"; calls are refused until 2030-01-01T00:00:00.000Z');
    expect(String(new PlatformSuspendedError('svc:reddit', Date.UTC(2030, 0, 1), 'ban'))).toBe('PlatformSuspendedError: Scope "svc:reddit" is suspended until 2030-01-01T00:00:00.000Z: ban');
    error.message = 'wrapped: ' + error.message;
    expect(error.message).toMatch(/^wrapped: Circuit open/);
    // An impossible time does not make building the message throw.
    expect(new CircuitOpenError('svc', Infinity).message).toContain('until Infinity');
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
