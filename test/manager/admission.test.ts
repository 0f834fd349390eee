import { describe, expect, it, vi } from 'vitest';
import { ThrottleManager, isCallCancelledError, isRateLimitedError, type RateLimitedError, type RateLimitedEvent } from 'floodgate';
import { SVC, deferred, flush, httpError, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m));

/** A call that records when it started, under `label`. */
function call(label: string, log: { label: string; at: number }[], options?: { signal?: AbortSignal; service?: string }) {
  return track(
    manager.execute(
      options?.service ?? SVC,
      () => {
        log.push({ label, at: Date.now() });
        return label;
      },
      options?.signal === undefined ? undefined : { signal: options.signal },
    ),
  );
}

describe('admission', () => {
  it('admits waiting callers first in, first out, one per token', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1 });
    const t0 = Date.now();
    const log: { label: string; at: number }[] = [];
    const calls = ['a', 'b', 'c', 'd', 'e'].map((label) => call(label, log));
    await vi.advanceTimersByTimeAsync(4_000);
    expect(log.map((e) => [e.label, e.at - t0])).toEqual([
      ['a', 0],
      ['b', 1_000],
      ['c', 2_000],
      ['d', 3_000],
      ['e', 4_000],
    ]);
    expect(calls.map((c) => c.value)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('refuses a waiter with RateLimitedError once maxWaitMs has passed', async () => {
    roomy(manager, { maxConcurrent: 1, maxWaitMs: 5_000 });
    const events: RateLimitedEvent[] = [];
    manager.on('rateLimited', (e) => events.push(e));
    const slow = deferred<string>();
    const first = track(manager.execute(SVC, () => slow.promise));
    const second = track(manager.execute(SVC, () => 'never'));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(second.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(second.state).toBe('rejected');
    const error = second.error as RateLimitedError;
    expect(isRateLimitedError(error)).toBe(true);
    expect(error.scope).toBe(SVC);
    expect(error.reason).toBe('max_wait');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(events).toEqual([{ scope: SVC, service: SVC, reason: 'max_wait', retryAfterMs: error.retryAfterMs }]);
    slow.resolve('done');
    await flush();
    expect(first.value).toBe('done');
    expect(manager.getStatusReport().scopes[SVC]!.counters.rateLimited).toBe(1);
  });

  it('refuses at once a caller whose most optimistic wait exceeds maxWaitMs', async () => {
    roomy(manager, { requestsPerSecond: 0.1, burst: 1, maxWaitMs: 15_000 });
    const log: { label: string; at: number }[] = [];
    const t0 = Date.now();
    call('a', log);
    const b = call('b', log); // its token comes in 10 s: it may wait
    const c = call('c', log); // its token comes in 20 s: it may not
    await flush();
    expect(c.state).toBe('rejected');
    const error = c.error as RateLimitedError;
    expect(isRateLimitedError(error)).toBe(true);
    expect(error.reason).toBe('max_wait');
    expect(error.retryAfterMs).toBeGreaterThanOrEqual(15_000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(b.value).toBe('b');
    expect(log.map((e) => [e.label, e.at - t0])).toEqual([
      ['a', 0],
      ['b', 10_000],
    ]);
  });

  it('admits a caller whose turn comes exactly at maxWaitMs', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1, maxWaitMs: 1_000 });
    const log: { label: string; at: number }[] = [];
    const t0 = Date.now();
    call('a', log);
    const b = call('b', log);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(b.state).toBe('fulfilled');
    expect(log.map((e) => [e.label, e.at - t0])).toEqual([
      ['a', 0],
      ['b', 1_000],
    ]);
  });

  it.each([0, 2])('rejects at once when maxQueue (%i) callers already wait', async (maxQueue) => {
    roomy(manager, { requestsPerSecond: 1, burst: 1, maxQueue });
    const log: { label: string; at: number }[] = [];
    call('first', log);
    const waiting = Array.from({ length: maxQueue }, (_, i) => call(`w${i}`, log));
    const extra = call('extra', log);
    await flush();
    expect(extra.state).toBe('rejected');
    expect(isRateLimitedError(extra.error)).toBe(true);
    expect((extra.error as RateLimitedError).reason).toBe('queue_full');
    expect(waiting.every((w) => w.state === 'pending')).toBe(true);
    await vi.advanceTimersByTimeAsync(maxQueue * 1_000);
    expect(log.map((e) => e.label)).toEqual(['first', ...waiting.map((_, i) => `w${i}`)]);
  });

  it('an aborted caller leaves the queue at once, without its token', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1 });
    const log: { label: string; at: number }[] = [];
    const t0 = Date.now();
    call('a', log);
    const controller = new AbortController();
    const b = call('b', log, { signal: controller.signal });
    const c = call('c', log);
    await vi.advanceTimersByTimeAsync(500);
    controller.abort(new Error('user left'));
    await flush();
    expect(b.state).toBe('rejected');
    expect(isCallCancelledError(b.error)).toBe(true);
    await vi.advanceTimersByTimeAsync(1_500);
    // c got the token b would have had, at 1 s; b's function never ran.
    expect(log.map((e) => [e.label, e.at - t0])).toEqual([
      ['a', 0],
      ['c', 1_000],
    ]);
    expect(c.value).toBe('c');
  });

  it('rejects at once a caller whose signal is already aborted when it has to wait', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1 });
    const log: { label: string; at: number }[] = [];
    call('a', log);
    const b = call('b', log, { signal: AbortSignal.abort() });
    await flush();
    expect(isCallCancelledError(b.error)).toBe(true);
  });

  it('holds calls beyond maxConcurrent until a slot frees', async () => {
    roomy(manager, { maxConcurrent: 2 });
    const providers = [deferred<number>(), deferred<number>(), deferred<number>(), deferred<number>()];
    let started = 0;
    const calls = providers.map((p) => track(manager.execute(SVC, () => (started++, p.promise))));
    await flush();
    expect(started).toBe(2);
    expect(manager.getStatusReport().scopes[SVC]).toMatchObject({ inFlight: 2, waiting: 2 });
    providers[1]!.resolve(1);
    await flush();
    expect(started).toBe(3);
    providers[0]!.reject(httpError(400));
    await flush();
    expect(started).toBe(4);
    providers[2]!.resolve(2);
    providers[3]!.resolve(3);
    await flush();
    expect(calls.map((c) => c.state)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(manager.getStatusReport().scopes[SVC]).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it('holds one timer per scope with waiters, and none once nobody waits', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1 });
    roomy(manager, { requestsPerSecond: 2, burst: 1 }, 'other');
    expect(vi.getTimerCount()).toBe(0);
    const log: { label: string; at: number }[] = [];
    const calls = Array.from({ length: 10 }, (_, i) => call(`s${i}`, log));
    await flush();
    expect(vi.getTimerCount()).toBe(1);
    calls.push(...Array.from({ length: 10 }, (_, i) => call(`o${i}`, log, { service: 'other' })));
    await flush();
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls.every((c) => c.state === 'fulfilled')).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('admits a call at once, with no timer, when capacity is there', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 3 });
    const values = await Promise.all([1, 2, 3].map((v) => manager.execute(SVC, () => v)));
    expect(values).toEqual([1, 2, 3]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
