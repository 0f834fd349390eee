import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CallTimeoutError,
  CircuitOpenError,
  ConfigError,
  ErrorCategory,
  ErrorSeverity,
  PlatformSuspendedError,
  RateLimitedError,
  ThrottleManager,
  getClassification,
  isRateLimitedError,
  isCircuitOpenError,
  throttleManager,
  throttled,
  unifiedErrorHandling,
  type ErrorClassifiedEvent,
} from 'floodgate';
import { ROOMY, roomy, useFakeManager } from '../helpers.js';

/**
 * Throwables whose every read throws: whatever floodgate does with them, the caller must get
 * the very value the provider threw, and the failure must still be counted, classified
 * (UNKNOWN: nothing can be read) and fed to the breaker.
 */
const trap = (): never => {
  throw new Error('trap');
};
const HOSTILE: [string, () => object][] = [
  ['a Proxy of an Error trapping get', () => new Proxy(new Error('hidden'), { get: trap })],
  [
    'a Proxy trapping get, has and getPrototypeOf (and every other trap)',
    () =>
      new Proxy({}, { get: trap, has: trap, getPrototypeOf: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, set: trap, defineProperty: trap, isExtensible: trap, preventExtensions: trap, deleteProperty: trap }),
  ],
  [
    'a revoked Proxy',
    () => {
      const { proxy, revoke } = Proxy.revocable(new Error('gone'), {});
      revoke();
      return proxy;
    },
  ],
  ['an object whose getters throw', () => Object.create(null, Object.fromEntries(['message', 'name', 'code', 'status', 'cause', 'response', 'headers', 'constructor'].map((k) => [k, { get: trap }])))],
  ['an object whose Symbol.toPrimitive, toString and valueOf throw', () => ({ [Symbol.toPrimitive]: trap, toString: trap, valueOf: trap })],
  ['a frozen Error', () => Object.freeze(new Error('frozen'))],
];

const SVC = 'hostile';
let manager: ThrottleManager;
afterEach(() => {
  throttleManager.reset();
});
useFakeManager((m) => (manager = m));

/** Compared by identity without handing the value to expect(), whose formatting would read it. */
function same(a: unknown, b: unknown): boolean {
  return a === b;
}

/** The rejection, boxed: resolving a promise with the hostile value itself would read its `then`. */
async function rejectionOf(promise: Promise<unknown>): Promise<{ error: unknown }> {
  try {
    await promise;
  } catch (error) {
    return { error };
  }
  throw new Error('expected a rejection');
}

/** The failure was counted once, classified UNKNOWN (unless it had a readable message) and opened the circuit (threshold 1). */
async function expectRecorded(m: ThrottleManager, thrown: object, events: ErrorClassifiedEvent[], unknown: boolean): Promise<void> {
  const stats = m.getErrorStatistics();
  expect(stats.total).toBe(1);
  expect(events).toHaveLength(1);
  if (unknown) {
    expect(stats.byCategory).toEqual({ [ErrorCategory.UNKNOWN]: 1 });
    expect(getClassification(thrown)?.category).toBe(ErrorCategory.UNKNOWN);
  }
  expect(getClassification(thrown)).toBe(events[0]!.classification);
  expect(m.getStatusReport().scopes[SVC]!.circuit.state).toBe('open');
  expect(isCircuitOpenError((await rejectionOf(m.execute(SVC, () => 'never runs'))).error)).toBe(true);
}

describe('a throwable whose reads throw reaches the caller unchanged, counted, classified and fed to the breaker', () => {
  describe.each(HOSTILE)('%s', (what, make) => {
    const unknown = what !== 'a frozen Error';

    it('through new ThrottleManager().execute', async () => {
      roomy(manager, { circuitBreakerThreshold: 1 }, SVC);
      const events: ErrorClassifiedEvent[] = [];
      manager.on('errorClassified', (e) => events.push(e));
      const thrown = make();
      expect(same((await rejectionOf(manager.execute(SVC, () => Promise.reject(thrown)))).error, thrown)).toBe(true);
      await expectRecorded(manager, thrown, events, unknown);
    });

    it('through throttleManager.execute, thrown synchronously', async () => {
      throttleManager.configure(SVC, { ...ROOMY, circuitBreakerThreshold: 1 });
      const events: ErrorClassifiedEvent[] = [];
      throttleManager.on('errorClassified', (e) => events.push(e));
      const thrown = make();
      const outcome = await rejectionOf(
        throttleManager.execute(SVC, () => {
          throw thrown;
        }),
      );
      expect(same(outcome.error, thrown)).toBe(true);
      await expectRecorded(throttleManager, thrown, events, unknown);
      throttleManager.removeAllListeners();
    });

    it('through a timed attempt (timeoutMs)', async () => {
      roomy(manager, { circuitBreakerThreshold: 1, timeoutMs: 1_000 }, SVC);
      const events: ErrorClassifiedEvent[] = [];
      manager.on('errorClassified', (e) => events.push(e));
      const thrown = make();
      expect(same((await rejectionOf(manager.execute(SVC, () => Promise.reject(thrown)))).error, thrown)).toBe(true);
      await expectRecorded(manager, thrown, events, unknown);
    });

    it.each(['throttled', 'unifiedErrorHandling', 'both, throttled outside', 'both, unifiedErrorHandling outside'] as const)('through @%s', async (stack) => {
      roomy(manager, { circuitBreakerThreshold: 1 }, SVC);
      const events: ErrorClassifiedEvent[] = [];
      manager.on('errorClassified', (e) => events.push(e));
      const thrown = make();
      const opts = { manager: () => manager };
      class Client {
        @throttled(SVC, opts)
        async throttledOnly(): Promise<never> {
          throw thrown;
        }
        @unifiedErrorHandling(SVC, opts)
        async unifiedOnly(): Promise<never> {
          throw thrown;
        }
        @throttled(SVC, opts)
        @unifiedErrorHandling(SVC, opts)
        async throttledOutside(): Promise<never> {
          throw thrown;
        }
        @unifiedErrorHandling(SVC, opts)
        @throttled(SVC, opts)
        async unifiedOutside(): Promise<never> {
          throw thrown;
        }
      }
      const client = new Client();
      const call = {
        throttled: () => client.throttledOnly(),
        unifiedErrorHandling: () => client.unifiedOnly(),
        'both, throttled outside': () => client.throttledOutside(),
        'both, unifiedErrorHandling outside': () => client.unifiedOutside(),
      }[stack];
      expect(same((await rejectionOf(call())).error, thrown)).toBe(true);
      await expectRecorded(manager, thrown, events, unknown);
    });
  });

  it('a retryable failure carried inside a hostile cause chain still retries and ends with the original', async () => {
    roomy(manager, { retryAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 10 }, SVC);
    const thrown = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', cause: new Proxy({}, { get: trap, getPrototypeOf: trap }) });
    let attempts = 0;
    const outcome = rejectionOf(
      manager.execute(SVC, () => {
        attempts++;
        return Promise.reject(thrown);
      }),
    );
    await vi.runAllTimersAsync();
    expect(same((await outcome).error, thrown)).toBe(true);
    expect(attempts).toBe(3);
    expect(manager.getErrorStatistics().byCategory).toEqual({ [ErrorCategory.NETWORK]: 3 });
  });
});

describe("getClassification() of floodgate's own errors", () => {
  it('classifies the refusals floodgate throws, which no scope records', async () => {
    roomy(manager, { maxQueue: 0, burst: 1, requestsPerSecond: 0.001, requestsPerMinute: 1 }, SVC);
    await manager.execute(SVC, () => 'takes the only token');
    const refused = (await rejectionOf(manager.execute(SVC, () => 'never'))).error;
    expect(isRateLimitedError(refused)).toBe(true);
    expect(getClassification(refused)).toMatchObject({ category: ErrorCategory.RATE_LIMIT, pattern: 'rate-limited-locally', isBan: false });
    expect(getClassification(refused)?.retryAfterMs).toBeGreaterThan(0);
    expect(manager.getErrorStatistics().total).toBe(0);
  });

  it.each([
    ['RateLimitedError', ErrorCategory.RATE_LIMIT, () => new RateLimitedError('s', 1_500, 'max_wait')],
    ['CircuitOpenError', ErrorCategory.SERVER, () => new CircuitOpenError('s', Date.now() + 1_000)],
    ['PlatformSuspendedError', ErrorCategory.BAN, () => new PlatformSuspendedError('s', Date.now() + 1_000, 'banned')],
    ['CallTimeoutError', ErrorCategory.TIMEOUT, () => new CallTimeoutError('s', 100)],
    ['ConfigError', ErrorCategory.CLIENT, () => new ConfigError('burst', 0, 'must be >= 1')],
  ] as const)('%s → %s, never a new ban', (_name, category, make) => {
    const classification = getClassification(make());
    expect(classification?.category).toBe(category);
    expect(classification?.isBan).toBe(false);
  });

  it('a user pattern does not change it, and other errors that were never recorded stay undefined', () => {
    manager.registerErrorPattern({ name: 'mine', category: ErrorCategory.BAN, severity: ErrorSeverity.CRITICAL, retryable: false, isBan: true, messages: ['Rate limited'] });
    expect(getClassification(new RateLimitedError('s', 1, 'queue_full'))?.category).toBe(ErrorCategory.RATE_LIMIT);
    expect(getClassification(new Error('never went through floodgate'))).toBeUndefined();
    expect(getClassification('a string')).toBeUndefined();
  });
});

describe('getErrorStatistics({ limit, offset }) through the manager', () => {
  it('reads all 1,000 kept failures, not only the 100 newest', async () => {
    roomy(manager, { circuitBreakerThreshold: 100_000 }, SVC);
    for (let i = 0; i < 1_200; i++) await rejectionOf(manager.execute(SVC, () => Promise.reject(new Error(`failure ${i}`))));
    const stats = manager.getErrorStatistics();
    expect(stats.total).toBe(1_200);
    expect(stats.kept).toBe(1_000);
    expect(stats.recent).toHaveLength(100);
    const all = manager.getErrorStatistics({ limit: Infinity }).recent;
    expect(all).toHaveLength(1_000);
    expect(all[0]!.error.message).toBe('failure 1199');
    expect(all[999]!.error.message).toBe('failure 200');
    expect(manager.getErrorStatistics({ limit: 2, offset: 998 }).recent.map((e) => e.error.message)).toEqual(['failure 201', 'failure 200']);
  });
});

describe('a hostile value returned (not thrown) by the provider', () => {
  it.each(HOSTILE.filter(([what]) => what.includes('Proxy')))('%s: the call rejects as awaiting it would, and its slot is released', async (_what, make) => {
    roomy(manager, { maxConcurrent: 1, maxWaitMs: 0 }, SVC);
    const value = make();
    const outcome = await rejectionOf(manager.execute(SVC, () => value as never)).catch(() => ({ error: 'resolved' }));
    expect(outcome.error).toBeInstanceOf(Error);
    // The only slot (maxConcurrent 1) is free again: the next call runs.
    await expect(manager.execute(SVC, () => 'next')).resolves.toBe('next');
    expect(manager.getStatusReport().scopes[SVC]!.inFlight).toBe(0);
  });
});
