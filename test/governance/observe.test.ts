/**
 * Observe mode: the same traffic, run once enforced and once observed, meets the same refusals;
 * observed, none of them is made and no call is held.
 */
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  createFetch,
  createLedger,
  isBudgetExceededError,
  isCircuitOpenError,
  isDegradedError,
  isPlatformSuspendedError,
  isRateLimitedError,
  ThrottleManager,
  unifiedErrorHandling,
  type ThrottleConfig,
} from 'floodgate';
import { useLoopback, type Loopback } from '../outbound/http-server.js';
import { configErrorOf, httpError, roomy, track, useFakeManager } from '../helpers.js';
import { readLines, tempDir } from './helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m), { now: 1_800_000_000_000 });

/** Lets every callback already due run, without moving the clock. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/** The refusal enforce mode made, by the same names observe mode counts under. */
function refusalOf(error: unknown): string {
  if (isRateLimitedError(error)) return error.reason;
  if (isCircuitOpenError(error)) return 'circuit_open';
  if (isPlatformSuspendedError(error)) return 'suspended';
  throw error;
}

const SCOPES: Record<string, Partial<ThrottleConfig>> = {
  limited: { burst: 2, requestsPerSecond: 1, requestsPerMinute: 60, maxWaitMs: 0 },
  narrow: { maxConcurrent: 1, maxQueue: 0 },
  breaking: { circuitBreakerThreshold: 2, circuitBreakerResetMs: 10_000 },
  paused: { maxWaitMs: 0, maxRetryAfterMs: 60_000 },
  held: {},
};

/**
 * One run of the traffic: the same calls at the same (fake) times. Returns the refusals by reason
 * (enforce: from the errors; observe: from the report), how many calls reached the provider, and
 * whether every call had settled before the clock moved on (nothing held).
 */
async function run(mode: 'enforce' | 'observe') {
  for (const [service, config] of Object.entries(SCOPES)) roomy(manager, { ...config, mode }, service);
  const refused: Record<string, number> = {};
  let providerCalls = 0;
  let heldAtSomePoint = false;
  const calls: ReturnType<typeof track<unknown>>[] = [];
  const call = (service: string, fn: () => unknown = () => 'ok') => {
    calls.push(track(manager.execute(service, () => (providerCalls++, fn()))));
  };
  const checkpoint = async (ms: number) => {
    await settle();
    // A slow call in `narrow` is still running on purpose; every other call must have settled.
    if (calls.some((c, i) => c.state === 'pending' && i !== slowIndex)) heldAtSomePoint = true;
    await vi.advanceTimersByTimeAsync(ms);
  };

  // Rate limit: 6 at once on a burst of 2, then 3 a second later (one token back).
  for (let i = 0; i < 6; i++) call('limited');
  await checkpoint(1_000);
  for (let i = 0; i < 3; i++) call('limited');
  // Concurrency without a queue: one slow call holds the slot, two more arrive.
  const slowIndex = calls.length;
  call('narrow', () => new Promise((resolve) => setTimeout(resolve, 5_000, 'slow')));
  call('narrow');
  call('narrow');
  // A circuit that opens after two failures, then three calls while it is open.
  for (let i = 0; i < 2; i++) call('breaking', () => Promise.reject(httpError(503)));
  await checkpoint(0);
  for (let i = 0; i < 3; i++) call('breaking');
  // A provider's Retry-After pauses a scope that may not wait.
  call('paused', () => Promise.reject(httpError(429, { 'retry-after': '30' })));
  await checkpoint(0);
  call('paused');
  call('paused');
  // A suspension.
  manager.suspend('held', { durationMs: 60_000, reason: 'maintenance' });
  call('held');
  await checkpoint(6_000);

  for (const c of calls) {
    await c.promise.catch(() => undefined);
    if (c.state === 'rejected' && !(c.error as { status?: number }).status) refused[refusalOf(c.error)] = (refused[refusalOf(c.error)] ?? 0) + 1;
  }
  const report = manager.getStatusReport();
  return { refused, report, providerCalls, heldAtSomePoint };
}

const EXPECTED = { max_wait: 6, queue_full: 2, circuit_open: 3, paused: 2, suspended: 1 };

describe("mode: 'observe'", () => {
  it('enforce mode refuses the traffic as expected (the reference run)', async () => {
    const { refused, report } = await run('enforce');
    expect(refused).toEqual(EXPECTED);
    for (const scope of Object.values(report.scopes)) expect(scope).toMatchObject({ mode: 'enforce', counters: { wouldRefuse: 0, wouldRefuseByReason: {} } });
  });

  it('the same traffic observed: the same refusals counted by reason, none made, no call held', async () => {
    const wouldRefuse: string[] = [];
    const rateLimited: string[] = [];
    manager.on('wouldRefuse', (e) => wouldRefuse.push(`${e.scope}:${e.reason}`));
    manager.on('rateLimited', (e) => rateLimited.push(e.reason));
    const { refused, report, providerCalls, heldAtSomePoint } = await run('observe');

    expect(refused).toEqual({});
    expect(heldAtSomePoint).toBe(false);
    const byReason: Record<string, number> = {};
    for (const scope of Object.values(report.scopes)) {
      expect(scope.mode).toBe('observe');
      expect(scope.counters).toMatchObject({ rateLimited: 0, rejected: 0 });
      for (const [reason, n] of Object.entries(scope.counters.wouldRefuseByReason)) byReason[reason] = (byReason[reason] ?? 0) + n;
    }
    expect(byReason).toEqual(EXPECTED);
    expect(report.scopes.limited!.counters).toMatchObject({ requests: 9, successes: 9, wouldRefuse: 6, wouldRefuseByReason: { max_wait: 6 } });
    expect(report.scopes.breaking!.counters.wouldRefuseByReason).toEqual({ circuit_open: 3 });
    // Every call reached the provider: 9 + 3 + 5 + 3 + 1.
    expect(providerCalls).toBe(21);
    expect(wouldRefuse).toHaveLength(14);
    expect(wouldRefuse).toContain('held:suspended');
    expect(rateLimited).toEqual([]);
  });

  it('a call that would wait runs at once and is no refusal', async () => {
    roomy(manager, { burst: 1, requestsPerSecond: 0.1, maxWaitMs: 60_000, mode: 'observe' });
    const calls = [0, 1, 2].map(() => track(manager.execute('svc', () => 'ok')));
    await settle();
    expect(calls.map((c) => c.state)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(manager.getStatusReport().scopes.svc!.counters).toMatchObject({ successes: 3, wouldRefuse: 0 });
  });

  it('switching mode at run time is a configuration change: it applies at once and changes the policy hash', async () => {
    roomy(manager, { burst: 1, requestsPerSecond: 0.001, requestsPerMinute: 1, maxWaitMs: 0 });
    const enforced = manager.policyHash();
    await manager.execute('svc', () => 'first');
    manager.configure('svc', { mode: 'observe' });
    expect(manager.policyHash()).not.toBe(enforced);
    await expect(manager.execute('svc', () => 'let through')).resolves.toBe('let through');
    manager.configure('svc', { mode: 'enforce' });
    expect(manager.policyHash()).toBe(enforced);
    await expect(manager.execute('svc', () => 'refused')).rejects.toMatchObject({ reason: 'max_wait' });
    expect(manager.getStatusReport().scopes.svc!.counters).toMatchObject({ rateLimited: 1, wouldRefuse: 1 });
  });

  it('per platform: one platform observed, the service and its other platforms enforced', async () => {
    roomy(manager, { burst: 1, requestsPerSecond: 0.001, requestsPerMinute: 1, maxWaitMs: 0 });
    manager.configure('svc', { mode: 'observe' }, { platform: 'trial' });
    for (let i = 0; i < 2; i++) await manager.execute('svc', () => 'ok', { platform: 'trial' });
    await manager.execute('svc', () => 'ok', { platform: 'live' });
    await expect(manager.execute('svc', () => 'ok', { platform: 'live' })).rejects.toMatchObject({ reason: 'max_wait' });
    const { scopes } = manager.getStatusReport();
    expect(scopes['svc:trial']).toMatchObject({ mode: 'observe', counters: { successes: 2, wouldRefuse: 1 } });
    expect(scopes['svc:live']).toMatchObject({ mode: 'enforce', counters: { rateLimited: 1, wouldRefuse: 0 } });
  });

  it('a caller already waiting when the scope switches to observe keeps enforce rules: refused, and announced as such', async () => {
    roomy(manager, { maxConcurrent: 1, maxWaitMs: 1_000 });
    const rateLimited: string[] = [];
    manager.on('rateLimited', (e) => rateLimited.push(e.reason));
    const slow = track(manager.execute('svc', () => new Promise((resolve) => setTimeout(resolve, 5_000, 'slow'))));
    const waiting = track(manager.execute('svc', () => 'waited'));
    await settle();
    manager.configure('svc', { mode: 'observe' });
    const newcomer = track(manager.execute('svc', () => 'let through'));
    await settle();
    expect(newcomer.state).toBe('fulfilled');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(waiting.state).toBe('rejected');
    expect(rateLimited).toEqual(['max_wait']);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(slow.state).toBe('fulfilled');
    expect(manager.getStatusReport().scopes.svc!.counters).toMatchObject({ rateLimited: 1, wouldRefuse: 0, successes: 2 });
  });

  it('a method under @unifiedErrorHandling alone runs while its scope is suspended, counted', async () => {
    vi.useRealTimers();
    roomy(manager, { mode: 'observe' });
    const current = manager;
    class Client {
      @unifiedErrorHandling('svc', { manager: current })
      async fetch(): Promise<string> {
        return 'fetched';
      }
    }
    await manager.execute('svc', () => 'creates the scope');
    manager.suspend('svc', { durationMs: 60_000, reason: 'maintenance' });
    await expect(new Client().fetch()).resolves.toBe('fetched');
    expect(manager.getStatusReport().scopes.svc!.counters.wouldRefuseByReason).toEqual({ suspended: 1 });
    manager.configure('svc', { mode: 'enforce' });
    await expect(new Client().fetch()).rejects.toMatchObject({ code: 'EFLOODGATE_SUSPENDED' });
  });

  it('a retry refused by an open circuit runs too', async () => {
    roomy(manager, { circuitBreakerThreshold: 1, retryAttempts: 1, backoffBaseMs: 0, backoffMaxMs: 0, mode: 'observe' });
    let attempts = 0;
    await expect(manager.execute('svc', () => (++attempts === 1 ? Promise.reject(httpError(503)) : 'second'))).resolves.toBe('second');
    expect(manager.getStatusReport().scopes.svc!.counters.wouldRefuseByReason).toEqual({ circuit_open: 1 });
  });

  it('an aborted call is still cancelled: a cancellation is no refusal', async () => {
    roomy(manager, { burst: 1, requestsPerSecond: 0.001, requestsPerMinute: 1, mode: 'observe' });
    await manager.execute('svc', () => 'ok');
    await expect(manager.execute('svc', () => 'ok', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'EFLOODGATE_CANCELLED' });
    expect(manager.getStatusReport().scopes.svc!.counters).toMatchObject({ cancelled: 1, wouldRefuse: 0 });
  });

  it('the ledger records what observe mode let through, as refusals (sampled by record.refusals)', async () => {
    vi.useRealTimers();
    const path = join(tempDir(), 'observe.jsonl');
    const ledger = createLedger({ path });
    const sampledOut = createLedger({ path: join(tempDir(), 'none.jsonl'), record: { refusals: 'none' } });
    manager.useLedger(ledger);
    manager.useLedger(sampledOut);
    roomy(manager, { burst: 1, requestsPerSecond: 0.001, requestsPerMinute: 1, maxWaitMs: 0, mode: 'observe' });
    await manager.execute('svc', () => 'ok');
    await manager.execute('svc', () => 'ok');
    await ledger.close();
    await sampledOut.close();
    const records = readLines(path).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toEqual([expect.objectContaining({ scope: 'svc', decision: 'would_refuse', reason: 'max_wait', policyHash: manager.policyHash() })]);
    expect(sampledOut.stats()).toMatchObject({ appended: 0, sampledOut: 1 });
  });

  it('a budget refusal is let through too: counted as `budget`, the call runs unmetered (enforce mode refuses it)', async () => {
    manager.setPrices({ 'test-model': { inputPerMTok: 1, outputPerMTok: 2 } });
    const wouldRefuse: string[] = [];
    manager.on('wouldRefuse', (e) => wouldRefuse.push(e.reason));
    // Each call costs $0.10; the budget has room for one.
    const traffic = async (mode: 'enforce' | 'observe') => {
      roomy(manager, { budget: { usd: 0.1, period: 'day' }, mode }, mode);
      const outcomes: unknown[] = [];
      for (let i = 0; i < 3; i++) outcomes.push(await manager.execute(mode, () => ({ model: 'test-model', usage: { prompt_tokens: 100_000 } }), { cost: 100_000, model: 'test-model' }).then(() => 'ran', (e: unknown) => e));
      return outcomes;
    };
    const enforced = await traffic('enforce');
    expect(enforced[0]).toBe('ran');
    expect(enforced.slice(1).every(isBudgetExceededError)).toBe(true);
    expect(await traffic('observe')).toEqual(['ran', 'ran', 'ran']);
    const { scopes } = manager.getStatusReport();
    expect(scopes.observe!.counters).toMatchObject({ requests: 3, successes: 3, rejected: 0, wouldRefuse: 2, wouldRefuseByReason: { budget: 2 } });
    expect(scopes.enforce!.counters).toMatchObject({ rejected: 2, wouldRefuse: 0 });
    expect(wouldRefuse).toEqual(['budget', 'budget']);
    // As in enforce mode, only the admitted call is spent against the budget: the same refusals follow.
    expect(manager.getCostSummary().scopes.observe!.budget!.spentUsd).toBeCloseTo(0.1, 10);
  });

  describe('against a loopback server', () => {
    let loopback: Loopback;
    useLoopback((fixture) => (loopback = fixture));

    it("the outbound guard's degraded mode is let through too: counted as `degraded`, the request is sent (enforce scopes are refused)", async () => {
      vi.useRealTimers();
      const { server } = loopback;
      const guarded = loopback.manager({ guard: { maxPerMinute: 2, cooldownMs: 60_000 } });
      roomy(guarded, {}, 'http');
      guarded.configure('http', { mode: 'observe' }, { platform: 'trial' });
      const wouldRefuse: string[] = [];
      guarded.on('wouldRefuse', (e) => wouldRefuse.push(`${e.scope}:${e.reason}`));
      const trial = createFetch({ provider: 'trial', manager: guarded });
      const live = createFetch({ provider: 'live', manager: guarded });
      const statuses: number[] = [];
      // Two starts reach the cap; the third trips the guard, the fourth meets degraded mode.
      for (let i = 0; i < 4; i++) {
        const res = await trial(`${server.origin}/x`);
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200]);
      expect(server.seen).toHaveLength(4);
      expect(guarded.getStatusReport().guard).toMatchObject({ state: 'degraded', reason: 'max_per_minute' });
      expect(isDegradedError(await live(`${server.origin}/x`).catch((e: unknown) => e))).toBe(true);
      expect(server.seen).toHaveLength(4);
      const { scopes } = guarded.getStatusReport();
      expect(scopes['http:trial']!.counters).toMatchObject({ requests: 4, successes: 4, rejected: 0, wouldRefuse: 2, wouldRefuseByReason: { degraded: 2 } });
      expect(scopes['http:live']!.counters).toMatchObject({ rejected: 1, wouldRefuse: 0 });
      expect(wouldRefuse).toEqual(['http:trial:degraded', 'http:trial:degraded']);
    });
  });

  it('mode is validated like any field', () => {
    expect(configErrorOf(() => manager.configure('svc', { mode: 'shadow' as never }))).toMatchObject({ field: 'mode', value: 'shadow' });
    expect(manager.getConfig('svc').mode).toBeUndefined();
  });
});
