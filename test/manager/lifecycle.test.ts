import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ServiceType,
  ThrottleManager,
  isCallCancelledError,
  isCallTimeoutError,
  isCircuitOpenError,
  isConfigError,
  isRateLimitedError,
  throttleManager,
} from 'floodgate';
import { SVC, deferred, flush, httpError, networkError, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
// Registered first, so it runs after the manager is closed (vitest runs afterEach hooks in reverse).
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});
useFakeManager((m) => {
  manager = m;
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});

describe('execute()', () => {
  it('returns the function’s value, sync or async, and hands it the caller’s signal', async () => {
    roomy(manager);
    const controller = new AbortController();
    expect(await manager.execute(SVC, () => 42)).toBe(42);
    expect(await manager.execute(SVC, async (signal) => signal, { signal: controller.signal })).toBe(controller.signal);
  });

  it('rejects (never throws) when an event listener throws as a synchronous function succeeds', async () => {
    roomy(manager, { circuitBreakerThreshold: 1, circuitBreakerResetMs: 100 });
    await manager.execute(SVC, () => Promise.reject(networkError())).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    manager.on('circuitStateChange', ({ to }) => {
      if (to === 'closed') throw new Error('listener bug');
    });
    let call: Promise<number> | undefined;
    expect(() => (call = manager.execute(SVC, () => 42))).not.toThrow();
    await expect(call).rejects.toThrow('listener bug');
  });

  it('rejects (never throws) for an invalid service or platform', async () => {
    expect(() => manager.execute('', () => 1).catch(() => 'caught')).not.toThrow();
    await expect(manager.execute('', () => 1)).rejects.toSatisfy(isConfigError);
    await expect(manager.execute(SVC, () => 1, { platform: ' ' })).rejects.toSatisfy(isConfigError);
  });

  it('fails an attempt that runs past timeoutMs with CallTimeoutError', async () => {
    roomy(manager, { timeoutMs: 1_000 });
    const call = track(manager.execute(SVC, () => deferred().promise));
    await vi.advanceTimersByTimeAsync(999);
    expect(call.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(isCallTimeoutError(call.error)).toBe(true);
    expect(manager.getStatusReport().scopes[SVC]!.counters.failures).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the process-wide throttleManager is ThrottleManager.getInstance()', () => {
    expect(ThrottleManager.getInstance()).toBe(throttleManager);
    expect(new ThrottleManager({ env: {} })).not.toBe(throttleManager);
  });
});

describe('every call settles', () => {
  it('3,000 concurrent calls against maxQueue 50 each resolve or reject with a floodgate error', async () => {
    roomy(manager, { requestsPerSecond: 5, burst: 5, requestsPerMinute: 100, maxQueue: 50, maxWaitMs: 8_000, retryAttempts: 1, backoffBaseMs: 100, backoffMaxMs: 1_000, circuitBreakerThreshold: 5, circuitBreakerResetMs: 5_000 });
    let n = 0;
    const calls = Array.from({ length: 3_000 }, (_, i) =>
      track(
        manager.execute(SVC, () => {
          n++;
          if (n % 7 === 0) return Promise.reject(httpError(503));
          if (n % 11 === 0) return Promise.reject(httpError(400));
          return Promise.resolve(i);
        }),
      ),
    );
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls.filter((c) => c.state === 'pending')).toEqual([]);
    const kinds = new Map<string, number>();
    for (const c of calls) {
      const kind =
        c.state === 'fulfilled'
          ? 'ok'
          : isRateLimitedError(c.error)
            ? 'rate-limited'
            : isCircuitOpenError(c.error)
              ? 'circuit-open'
              : (c.error as { status?: number }).status === 503 || (c.error as { status?: number }).status === 400
                ? 'provider'
                : `unexpected: ${String(c.error)}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    expect([...kinds.keys()].filter((k) => k.startsWith('unexpected'))).toEqual([]);
    expect(kinds.get('rate-limited')).toBeGreaterThanOrEqual(3_000 - 55);
    expect(kinds.get('ok')).toBeGreaterThan(0);
    const { counters } = manager.getStatusReport().scopes[SVC]!;
    expect(counters.requests).toBe(3_000);
    expect(counters.rateLimited).toBe(kinds.get('rate-limited'));
    expect(unhandled).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() rejects every waiter with CallCancelledError and leaves no timer behind', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1, retryAttempts: 2, backoffBaseMs: 10_000, backoffMaxMs: 10_000 });
    roomy(manager, { maxConcurrent: 1 }, 'other');
    manager.suspend(ServiceType.SOCIAL_MEDIA, { platform: 'reddit', reason: 'test', durationMs: 60_000 });
    const first = track(manager.execute(SVC, () => 'first'));
    const waiters = Array.from({ length: 5 }, () => track(manager.execute(SVC, () => 'late')));
    const busy = deferred<string>();
    track(manager.execute('other', () => busy.promise));
    const blocked = track(manager.execute('other', () => 'blocked'));
    await flush();
    expect(first.value).toBe('first');
    expect(vi.getTimerCount()).toBeGreaterThan(0);

    await manager.close();
    await flush();
    for (const w of [...waiters, blocked]) {
      expect(w.state).toBe('rejected');
      expect(isCallCancelledError(w.error)).toBe(true);
    }
    expect(vi.getTimerCount()).toBe(0);
    expect(unhandled).toEqual([]);
    // The manager stays usable.
    roomy(manager);
    expect(await manager.execute(SVC, () => 'again')).toBe('again');
  });

  it('close() also ends a call waiting to retry', async () => {
    roomy(manager, { retryAttempts: 2, backoffBaseMs: 10_000, backoffMaxMs: 10_000 });
    const fn = vi.fn(() => Promise.reject(networkError()));
    const call = track(manager.execute(SVC, fn));
    await flush();
    expect(fn).toHaveBeenCalledOnce();
    await manager.close();
    await flush();
    expect(call.state).toBe('rejected');
    expect(isCallCancelledError(call.error)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fn).toHaveBeenCalledOnce();
  });

  it('reset() forgets scopes, counters and recorded errors', async () => {
    roomy(manager);
    await manager.execute(SVC, () => Promise.reject(httpError(400))).catch(() => undefined);
    expect(manager.getErrorStatistics().total).toBe(1);
    manager.reset();
    expect(manager.getStatusReport().scopes).toEqual({});
    expect(manager.getErrorStatistics().total).toBe(0);
  });
});
