import { describe, expect, it, vi } from 'vitest';
import { ServiceType, ThrottleManager, type StatusReport } from 'floodgate';
import { LatencyHistogram } from '../../src/status/latency.js';
import { SVC, delay, expectPlainJson, flush, httpError, networkError, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m));

/** Drives a few scopes into every state the report can show. */
async function busyManager(): Promise<StatusReport> {
  roomy(manager, { requestsPerSecond: 1, burst: 3, requestsPerMinute: 10, maxQueue: 1, maxWaitMs: 60_000, retryAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 10, circuitBreakerThreshold: 5 });
  await manager.execute(SVC, () => 'ok');
  await manager.execute(SVC, () => Promise.reject(httpError(400))).catch(() => undefined);
  let attempts = 0;
  // Fails once, then its retry waits in line for the next token (at 1 s).
  const flaky = track(manager.execute(SVC, () => (++attempts === 1 ? Promise.reject(networkError()) : Promise.resolve('retried'))));
  await vi.advanceTimersByTimeAsync(20);
  const refused = track(manager.execute(SVC, () => 'refused')); // the queue (1) is full
  await vi.advanceTimersByTimeAsync(980);
  expect(refused.state).toBe('rejected');
  expect(flaky.value).toBe('retried');
  track(manager.execute(SVC, () => 'queued')); // waits for the token of 2 s
  manager.suspend(ServiceType.SOCIAL_MEDIA, { platform: 'reddit', durationMs: 60_000, reason: 'ban' });
  await manager.execute(ServiceType.SOCIAL_MEDIA, () => 'x', { platform: 'reddit' }).catch(() => undefined);
  manager.configure(ServiceType.INTERNAL_API, { requestsPerSecond: Infinity, requestsPerMinute: Infinity });
  await manager.execute(ServiceType.INTERNAL_API, () => 'fast');
  return manager.getStatusReport();
}

describe('getStatusReport()', () => {
  it('is plain JSON: it survives a JSON round trip unchanged', async () => {
    const report = await busyManager();
    expect(JSON.parse(JSON.stringify(report))).toStrictEqual(report);
    expectPlainJson(report);
  });

  it('is plain JSON for a fresh manager too', () => {
    const report = manager.getStatusReport();
    expect(report).toMatchObject({ scopes: {}, totals: { requests: 0, successes: 0, failed: 0, rateLimited: 0, rejected: 0, cancelled: 0, failures: 0, retries: 0 } });
    expectPlainJson(report);
  });

  it('counts requests, how each call ended, failed attempts and retries per scope', async () => {
    const report = await busyManager();
    // One call of SVC still waits in line: 5 = 2 + 1 + 1 + 0 + 0 + that one.
    expect(report.scopes[SVC]!.counters).toEqual({ requests: 5, successes: 2, failed: 1, rateLimited: 1, rejected: 0, cancelled: 0, failures: 2, retries: 1, cacheHits: 0, wouldRefuse: 0, wouldRefuseByReason: {} });
    expect(report.scopes['social_media:reddit']!.counters).toEqual({ requests: 1, successes: 0, failed: 0, rateLimited: 0, rejected: 1, cancelled: 0, failures: 0, retries: 0, cacheHits: 0, wouldRefuse: 0, wouldRefuseByReason: {} });
    expect(report.totals).toEqual({ requests: 7, successes: 3, failed: 1, rateLimited: 1, rejected: 1, cancelled: 0, failures: 2, retries: 1, cacheHits: 0 });
  });

  it('counters add up once idle: requests = successes + failed + rateLimited + rejected + cancelled', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1, requestsPerMinute: 60, maxQueue: 4, maxWaitMs: 60_000, retryAttempts: 1, backoffBaseMs: 100, backoffMaxMs: 100 });
    const aborter = new AbortController();
    const calls = [
      manager.execute(SVC, () => 'first'), // takes the only token
      ...Array.from({ length: 3 }, () => manager.execute(SVC, () => 'queued')), // wait in line
      manager.execute(SVC, () => 'aborted', { signal: aborter.signal }), // waits in line too
      manager.execute(SVC, () => 'refused'), // the queue is full
    ];
    const outcomes = calls.map((c) => c.then(() => 'ok', (e: { code?: string }) => e.code));
    await flush();
    aborter.abort();
    // Queued callers refused by a suspension are counted too (they were counted nowhere in 0.1).
    manager.suspend(SVC, { durationMs: 1_000, reason: 'maintenance' });
    await vi.advanceTimersByTimeAsync(1_000);
    const failing = track(manager.execute(SVC, () => Promise.reject(networkError())));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(failing.state).toBe('rejected');
    expect(await Promise.all(outcomes)).toEqual(['ok', 'EFLOODGATE_SUSPENDED', 'EFLOODGATE_SUSPENDED', 'EFLOODGATE_SUSPENDED', 'EFLOODGATE_CANCELLED', 'EFLOODGATE_RATE_LIMITED']);
    const { counters } = manager.getStatusReport().scopes[SVC]!;
    expect(counters).toMatchObject({ requests: 7, successes: 1, failed: 1, rateLimited: 1, rejected: 3, cancelled: 1, failures: 2, retries: 1 });
    expect(counters.successes + counters.failed + counters.rateLimited + counters.rejected + counters.cancelled).toBe(counters.requests);
  });

  it('shows state, circuit, remaining tokens, minute budget and suspension', async () => {
    const report = await busyManager();
    expect(report.scopes[SVC]).toMatchObject({
      service: SVC,
      platform: null,
      state: 'waiting',
      circuit: { state: 'closed', consecutiveFailures: 0, retryAt: null },
      limits: { tokens: 0, burst: 3, requestsPerSecond: 1, minuteRemaining: 6, requestsPerMinute: 10 },
      inFlight: 0,
      waiting: 1,
      suspension: null,
      pausedUntil: null,
    });
    expect(report.scopes['social_media:reddit']).toMatchObject({
      platform: 'reddit',
      state: 'suspended',
      suspension: { until: Date.now() + 60_000, reason: 'ban' },
    });
    // Unlimited rates are null in JSON, and a cap that cannot bind has no minute budget.
    expect(report.scopes[ServiceType.INTERNAL_API]!.limits).toMatchObject({ requestsPerSecond: null, requestsPerMinute: null, minuteRemaining: null });
  });

  it('reports plausible latency percentiles', async () => {
    roomy(manager, { maxConcurrent: Infinity });
    const calls = [
      ...Array.from({ length: 90 }, () => track(manager.execute(SVC, () => delay(10)))),
      ...Array.from({ length: 10 }, () => track(manager.execute(SVC, () => delay(1_000)))),
    ];
    await vi.advanceTimersByTimeAsync(1_000);
    await flush();
    expect(calls.every((c) => c.state === 'fulfilled')).toBe(true);
    const { latency } = manager.getStatusReport().scopes[SVC]!;
    expect(latency.count).toBe(100);
    expect(latency.maxMs).toBe(1_000);
    expect(latency.meanMs).toBeCloseTo(109, 0);
    expect(latency.p50Ms).toBeGreaterThanOrEqual(5);
    expect(latency.p50Ms).toBeLessThanOrEqual(20);
    expect(latency.p95Ms).toBeGreaterThanOrEqual(500);
    expect(latency.p95Ms).toBeLessThanOrEqual(1_000);
  });

  it('times every success of a quiet scope, then a random sample of one in eight', async () => {
    roomy(manager);
    const call = async (ms: number): Promise<void> => {
      const done = manager.execute(SVC, () => delay(ms));
      await vi.advanceTimersByTimeAsync(ms);
      await done;
    };
    for (let i = 0; i < 128; i++) await call(10);
    expect(manager.getStatusReport().scopes[SVC]!.latency).toMatchObject({ count: 128, meanMs: 10, maxMs: 10 });
    // 800 more: every one counted as a success, about 100 of them timed. Every eighth is slow:
    // a random sample sees the mix (mean 22.5 ms) where a fixed stride could see only one kind.
    for (let i = 0; i < 800; i++) await call(i % 8 === 7 ? 40 : 20);
    const scope = manager.getStatusReport().scopes[SVC]!;
    expect(scope.counters.successes).toBe(928);
    const sampled = scope.latency.count - 128;
    expect(sampled).toBeGreaterThan(50);
    expect(sampled).toBeLessThan(150);
    const sampledMean = (scope.latency.meanMs * scope.latency.count - 128 * 10) / sampled;
    expect(sampledMean).toBeGreaterThan(20);
    expect(sampledMean).toBeLessThan(30);
  });

  it('keeps percentiles within a factor of two of the true value', () => {
    for (const value of [0.5, 3, 10, 100, 750, 5_000, 60_000]) {
      const histogram = new LatencyHistogram();
      for (let i = 0; i < 20; i++) histogram.add(value);
      const { p50Ms, p95Ms, maxMs } = histogram.figures();
      expect(maxMs).toBe(value);
      for (const p of [p50Ms, p95Ms]) {
        expect(p, `${value}`).toBeGreaterThanOrEqual(value / 2);
        expect(p, `${value}`).toBeLessThanOrEqual(value);
      }
    }
  });
});
