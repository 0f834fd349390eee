import { describe, expect, it, vi } from 'vitest';
import { ThrottleManager, ErrorCategory, isCallCancelledError, isRateLimitedError, type RateLimitedError, type RetryEvent } from 'floodgate';
import { backoffDelay } from '../../src/retry/backoff.js';
import { SVC, flush, httpError, networkError, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
let retries: RetryEvent[];
useFakeManager((m) => {
  manager = m;
  retries = [];
  manager.on('retry', (e) => retries.push(e));
});

/** A provider that fails with `make()` (a fresh error each time) `failures` times, then answers. */
function flaky(make: () => unknown, failures = Infinity) {
  const starts: number[] = [];
  const thrown: unknown[] = [];
  const fn = () => {
    starts.push(Date.now());
    if (starts.length > failures) return Promise.resolve('ok');
    const error = make();
    thrown.push(error);
    return Promise.reject(error);
  };
  return { fn, starts, thrown };
}

describe('retry', () => {
  const cases: [string, () => unknown, boolean][] = [
    ['503', () => httpError(503), true],
    ['429 without Retry-After', () => httpError(429), true],
    ['ECONNRESET', networkError, true],
    ['400', () => httpError(400), false],
    ['401', () => httpError(401), false],
  ];

  it.each(cases)('%s: retried only when retryable, up to retryAttempts, rethrowing the original error', async (_, make, retryable) => {
    roomy(manager, { retryAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 1_000 });
    const provider = flaky(make);
    const call = track(manager.execute(SVC, provider.fn));
    await vi.runAllTimersAsync();
    expect(call.state).toBe('rejected');
    expect(provider.starts).toHaveLength(retryable ? 4 : 1);
    expect(call.error).toBe(provider.thrown.at(-1));
    expect(retries.map((r) => r.retry)).toEqual(retryable ? [1, 2, 3] : []);
    expect(manager.getStatusReport().scopes[SVC]!.counters).toMatchObject({ failures: retryable ? 4 : 1, retries: retryable ? 3 : 0, successes: 0 });
  });

  it('resolves with the value of the first attempt that succeeds', async () => {
    roomy(manager, { retryAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 1_000 });
    const provider = flaky(networkError, 2);
    const call = track(manager.execute(SVC, provider.fn));
    await vi.runAllTimersAsync();
    expect(call.value).toBe('ok');
    expect(provider.starts).toHaveLength(3);
    expect(manager.getStatusReport().scopes[SVC]!.counters).toMatchObject({ requests: 1, successes: 1, failures: 2, retries: 2 });
  });

  it.each([0, 0.5, 0.999])('backs off exponentially within the jitter bounds, capped at backoffMaxMs (random %f)', async (random) => {
    vi.spyOn(Math, 'random').mockReturnValue(random);
    roomy(manager, { retryAttempts: 5, backoffBaseMs: 1_000, backoffMaxMs: 5_000 });
    const provider = flaky(networkError); // multiplier 1
    track(manager.execute(SVC, provider.fn));
    await vi.runAllTimersAsync();
    expect(retries).toHaveLength(5);
    retries.forEach(({ retry, delayMs }, i) => {
      const full = 1_000 * 2 ** (retry - 1);
      expect(delayMs, `retry ${retry}`).toBeGreaterThanOrEqual(Math.min(full / 2, 5_000));
      expect(delayMs, `retry ${retry}`).toBeLessThanOrEqual(Math.min(full, 5_000));
      // The next attempt starts when its delay is over (the limiter does not bind here).
      expect(provider.starts[i + 1]! - provider.starts[i]!).toBe(delayMs);
    });
    if (random === 0) expect(retries.map((r) => r.delayMs)).toEqual([500, 1_000, 2_000, 4_000, 5_000]);
  });

  it('applies the error’s backoff multiplier', () => {
    const config = { backoffBaseMs: 1_000, backoffMaxMs: 60_000 };
    expect(backoffDelay(2, config, 3, () => 0)).toBe(3_000);
    expect(backoffDelay(2, config, 3, () => 1)).toBe(6_000);
  });

  it('waits at least the provider’s Retry-After, and pauses the whole scope meanwhile', async () => {
    expect(manager.classifyError(httpError(429, { 'retry-after': '5' }))).toMatchObject({ category: ErrorCategory.RATE_LIMIT, retryAfterMs: 5_000 });
    roomy(manager, { retryAttempts: 1, backoffBaseMs: 100, backoffMaxMs: 60_000 });
    const t0 = Date.now();
    const provider = flaky(() => httpError(429, { 'retry-after': '5' }), 1);
    const call = track(manager.execute(SVC, provider.fn));
    await vi.advanceTimersByTimeAsync(100);
    expect(retries).toHaveLength(1);
    expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(5_000);
    const status = manager.getStatusReport().scopes[SVC]!;
    expect(status).toMatchObject({ state: 'paused', pausedUntil: t0 + 5_000 });

    // Another caller of the scope waits for the pause too, or is refused if it may not wait that long.
    const otherStarts: number[] = [];
    const other = track(manager.execute(SVC, () => (otherStarts.push(Date.now()), 'other')));
    manager.configure(SVC, { maxWaitMs: 1_000 });
    const impatient = track(manager.execute(SVC, () => 'impatient'));
    await flush();
    expect(isRateLimitedError(impatient.error)).toBe(true);
    expect((impatient.error as RateLimitedError).reason).toBe('paused');
    expect((impatient.error as RateLimitedError).retryAfterMs).toBeGreaterThanOrEqual(4_900);

    await vi.advanceTimersByTimeAsync(4_899);
    expect(provider.starts).toHaveLength(1);
    expect(otherStarts).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(provider.starts[1]! - t0).toBeGreaterThanOrEqual(5_000);
    expect(otherStarts[0]! - t0).toBeGreaterThanOrEqual(5_000);
    expect(call.value).toBe('ok');
    expect(other.value).toBe('other');
  });

  it('does not retry when the provider’s Retry-After is longer than backoffMaxMs', async () => {
    roomy(manager, { retryAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 60_000 });
    const provider = flaky(() => httpError(429, { 'retry-after': '120' }));
    const call = track(manager.execute(SVC, provider.fn));
    await flush();
    expect(call.state).toBe('rejected');
    expect(call.error).toBe(provider.thrown[0]);
    expect(provider.starts).toHaveLength(1);
    expect(retries).toEqual([]);
  });

  it('sends every retry attempt through the limiter', async () => {
    roomy(manager, { requestsPerSecond: 0.5, burst: 1, retryAttempts: 2, backoffBaseMs: 100, backoffMaxMs: 1_000 });
    const t0 = Date.now();
    const provider = flaky(networkError, 2);
    const call = track(manager.execute(SVC, provider.fn));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(call.value).toBe('ok');
    expect(retries.every((r) => r.delayMs <= 200)).toBe(true);
    // Backoff alone would restart within 200 ms; the bucket holds one token per 2 s.
    expect(provider.starts.map((t) => t - t0)).toEqual([0, 2_000, 4_000]);
  });

  it('an aborted signal ends the wait before a retry with CallCancelledError', async () => {
    roomy(manager, { retryAttempts: 2, backoffBaseMs: 10_000, backoffMaxMs: 10_000 });
    const controller = new AbortController();
    const provider = flaky(networkError);
    const call = track(manager.execute(SVC, provider.fn, { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(1_000);
    controller.abort();
    await flush();
    expect(isCallCancelledError(call.error)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(provider.starts).toHaveLength(1);
  });

  it('gives a retry no place ahead of callers already waiting', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1, retryAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 10 });
    const order: string[] = [];
    const provider = flaky(networkError, 1);
    track(manager.execute(SVC, () => (order.push('flaky'), provider.fn())));
    const waiting = [1, 2].map((i) => track(manager.execute(SVC, () => order.push(`w${i}`))));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(order).toEqual(['flaky', 'w1', 'w2', 'flaky']);
    expect(waiting.every((w) => w.state === 'fulfilled')).toBe(true);
  });
});

describe('a provider pause has a ceiling and can be lifted (maxRetryAfterMs, resume)', () => {
  it.each([
    ['retry-after: 999999999999', { 'retry-after': '999999999999' }],
    ['x-ratelimit-reset: 9999999999 (epoch seconds)', { 'x-ratelimit-reset': '9999999999' }],
  ])('%s pauses the scope for maxRetryAfterMs at most, and a retry waits no longer', async (_label, headers) => {
    roomy(manager, { retryAttempts: 1, backoffBaseMs: 100, backoffMaxMs: 600_000, maxRetryAfterMs: 60_000, maxWaitMs: Infinity });
    const t0 = Date.now();
    const provider = flaky(() => httpError(429, headers), 1);
    const call = track(manager.execute(SVC, provider.fn));
    await flush();
    expect(manager.getStatusReport().scopes[SVC]).toMatchObject({ state: 'paused', pausedUntil: t0 + 60_000 });
    expect(retries[0]!.delayMs).toBe(60_000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(provider.starts).toEqual([t0, t0 + 60_000]);
    expect(call.value).toBe('ok');
  });

  it('the presets cap a provider pause no longer than their banSuspensionMs', async () => {
    const { SERVICE_PRESETS, CUSTOM_SERVICE_PRESET } = await import('floodgate');
    for (const preset of [...Object.values(SERVICE_PRESETS), CUSTOM_SERVICE_PRESET]) {
      expect(preset.maxRetryAfterMs).toBeLessThanOrEqual(preset.banSuspensionMs);
    }
  });

  it('resume() lifts a provider pause: waiting callers go at once', async () => {
    roomy(manager, { retryAttempts: 0, maxRetryAfterMs: 3_600_000 });
    await manager.execute(SVC, () => Promise.reject(httpError(429, { 'retry-after': '1800' }))).catch(() => undefined);
    expect(manager.getStatusReport().scopes[SVC]!.state).toBe('paused');
    const waiting = track(manager.execute(SVC, () => 'went'));
    const resumed: string[] = [];
    manager.on('resumed', (e) => resumed.push(`${e.scope} ${e.cause}`));
    manager.resume(SVC);
    await flush();
    expect(waiting.value).toBe('went');
    expect(resumed).toEqual([`${SVC} manual`]);
    expect(manager.getStatusReport().scopes[SVC]).toMatchObject({ state: 'ok', pausedUntil: null });
  });
});

describe('p-retry runs the retry loop', () => {
  it('stops retrying once the caller aborts, even with no backoff to wait (its signal)', async () => {
    roomy(manager, { retryAttempts: 3, backoffBaseMs: 0, backoffMaxMs: 0 });
    const aborter = new AbortController();
    let attempts = 0;
    const error = await manager
      .execute(
        SVC,
        () => {
          attempts++;
          if (attempts === 2) aborter.abort();
          return Promise.reject(networkError());
        },
        { signal: aborter.signal },
      )
      .catch((caught: unknown) => caught);
    expect(attempts).toBe(2);
    expect(isCallCancelledError(error)).toBe(true);
    expect(manager.getStatusReport().scopes[SVC]!.counters).toMatchObject({ requests: 1, cancelled: 1, failed: 0, failures: 2, retries: 1 });
  });

  it('counts attempts: retryAttempts retries at most, each announced once', async () => {
    roomy(manager, { retryAttempts: 3, backoffBaseMs: 0, backoffMaxMs: 0 });
    const provider = flaky(() => networkError());
    const error = await manager.execute(SVC, provider.fn).catch((caught: unknown) => caught);
    expect(provider.starts).toHaveLength(4);
    expect(retries.map((r) => r.retry)).toEqual([1, 2, 3]);
    expect(error).toBe(provider.thrown[3]);
  });
});
