import { describe, expect, it, vi } from 'vitest';
import { ThrottleManager, isCircuitOpenError, type CircuitOpenError, type CircuitStateChangeEvent } from 'floodgate';
import { SVC, deferred, flush, httpError, roomy, track, useFakeManager } from '../helpers.js';

const RESET_MS = 10_000;
const CONSECUTIVE_3 = { kind: 'consecutive', threshold: 3, failureRate: null, calls: null };

let manager: ThrottleManager;
let changes: [string, string][];
useFakeManager((m) => {
  manager = m;
  roomy(manager, { circuitBreakerThreshold: 3, circuitBreakerResetMs: RESET_MS, requestsPerSecond: 1, burst: 20, requestsPerMinute: 60 });
  changes = [];
  manager.on('circuitStateChange', (e: CircuitStateChangeEvent) => changes.push([e.from, e.to]));
});

const fail = (status: number) => track(manager.execute(SVC, () => Promise.reject(httpError(status))));
const succeed = () => track(manager.execute(SVC, () => Promise.resolve('ok')));
const scope = () => manager.getStatusReport().scopes[SVC]!;

async function openCircuit(): Promise<void> {
  for (let i = 0; i < 3; i++) fail(503);
  await flush();
  expect(scope().circuit.state).toBe('open');
}

describe('circuit breaker', () => {
  it('opens after circuitBreakerThreshold consecutive counted failures', async () => {
    fail(503);
    fail(503);
    await flush();
    expect(scope().circuit).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
    fail(503);
    await flush();
    expect(scope().circuit).toEqual({ state: 'open', consecutiveFailures: 3, retryAt: Date.now() + RESET_MS, breaker: CONSECUTIVE_3 });
    expect(scope().state).toBe('circuit_open');
    expect(changes).toEqual([['closed', 'open']]);
  });

  it('does not count the caller’s own mistakes (400)', async () => {
    for (let i = 0; i < 10; i++) fail(400);
    await flush();
    expect(scope().circuit.state).toBe('closed');
    expect(scope().counters.failures).toBe(10);
    expect(changes).toEqual([]);
  });

  it('counts consecutive failures only: a success starts the count again', async () => {
    fail(503);
    fail(503);
    succeed();
    fail(503);
    fail(503);
    await flush();
    expect(scope().circuit.state).toBe('closed');
    fail(503);
    await flush();
    expect(scope().circuit.state).toBe('open');
  });

  it('counts a provider that keeps failing with the same error object', async () => {
    // Clients and mocks (`mockRejectedValue(error)`) may throw one instance again and again.
    const error = httpError(503);
    for (let i = 0; i < 3; i++) track(manager.execute(SVC, () => Promise.reject(error)));
    await flush();
    expect(scope().counters.failures).toBe(3);
    expect(scope().circuit.state).toBe('open');
  });

  it('refuses at once while open: the function is not called and no token is spent', async () => {
    await openCircuit();
    const tokensBefore = scope().limits.tokens;
    const fn = vi.fn(() => 'never');
    const refused = track(manager.execute(SVC, fn));
    await flush();
    expect(refused.state).toBe('rejected');
    expect(isCircuitOpenError(refused.error)).toBe(true);
    expect((refused.error as CircuitOpenError).scope).toBe(SVC);
    expect((refused.error as CircuitOpenError).retryAt).toBe(Date.now() + RESET_MS);
    expect(fn).not.toHaveBeenCalled();
    expect(scope().limits.tokens).toBe(tokensBefore);
    expect(scope().counters.rejected).toBe(1);
  });

  it('turns half-open after circuitBreakerResetMs: one probe passes, the others are refused', async () => {
    await openCircuit();
    await vi.advanceTimersByTimeAsync(RESET_MS - 1);
    const early = succeed();
    await flush();
    expect(isCircuitOpenError(early.error)).toBe(true);

    await vi.advanceTimersByTimeAsync(1);
    const provider = deferred<string>();
    const probeFn = vi.fn(() => provider.promise);
    const probe = track(manager.execute(SVC, probeFn));
    const otherFn = vi.fn(() => 'other');
    const other = track(manager.execute(SVC, otherFn));
    await flush();
    expect(probeFn).toHaveBeenCalledOnce();
    expect(isCircuitOpenError(other.error)).toBe(true);
    expect(otherFn).not.toHaveBeenCalled();
    expect(scope().circuit.state).toBe('half_open');
    provider.resolve('probe');
    await flush();
    expect(probe.value).toBe('probe');
  });

  it('closes when the probe succeeds', async () => {
    await openCircuit();
    await vi.advanceTimersByTimeAsync(RESET_MS);
    const probe = succeed();
    await flush();
    expect(probe.value).toBe('ok');
    expect(scope().circuit).toEqual({ state: 'closed', consecutiveFailures: 0, retryAt: null, breaker: CONSECUTIVE_3 });
    const after = await Promise.all([1, 2, 3].map((v) => manager.execute(SVC, () => v)));
    expect(after).toEqual([1, 2, 3]);
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]);
  });

  it('reopens for another circuitBreakerResetMs when the probe fails', async () => {
    await openCircuit();
    await vi.advanceTimersByTimeAsync(RESET_MS);
    fail(503);
    await flush();
    expect(scope().circuit).toMatchObject({ state: 'open', retryAt: Date.now() + RESET_MS });
    const refused = succeed();
    await flush();
    expect(isCircuitOpenError(refused.error)).toBe(true);
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'open'],
    ]);
    await vi.advanceTimersByTimeAsync(RESET_MS);
    expect((await succeed().promise)).toBe('ok');
    expect(changes.at(-1)).toEqual(['half_open', 'closed']);
  });

  it('lets another call probe when the probe never reached the provider', async () => {
    await openCircuit();
    await vi.advanceTimersByTimeAsync(RESET_MS);
    // The three failed starts still fill a 3-per-minute window: the probe is refused by the limiter.
    manager.configure(SVC, { burst: 1, requestsPerMinute: 3, maxWaitMs: 0 });
    const refusedProbe = succeed();
    await flush();
    expect(refusedProbe.state).toBe('rejected');
    expect(isCircuitOpenError(refusedProbe.error)).toBe(false);
    manager.configure(SVC, { requestsPerMinute: 60 });
    expect(await succeed().promise).toBe('ok');
    expect(scope().circuit.state).toBe('closed');
  });
});

describe('an open circuit stops callers already waiting in line', () => {
  it('rps 10, burst 1, threshold 1, 4 failing calls at once: the provider is called once, the 3 waiting reject at once', async () => {
    roomy(manager, { requestsPerSecond: 10, burst: 1, requestsPerMinute: 600, circuitBreakerThreshold: 1, retryAttempts: 0 });
    const providerCalls: number[] = [];
    const start = Date.now();
    const provider = (): Promise<never> => {
      providerCalls.push(Date.now() - start);
      return new Promise((_, reject) => setTimeout(() => reject(httpError(503)), 1));
    };
    const calls = Array.from({ length: 4 }, () => track(manager.execute(SVC, provider)));
    await vi.advanceTimersByTimeAsync(1);
    // The first failure opened the circuit: the three waiting callers are refused now, not later.
    expect(calls.map((c) => c.state)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(calls.slice(1).every((c) => isCircuitOpenError(c.error))).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(providerCalls).toEqual([0]);
    expect(scope().counters).toMatchObject({ requests: 4, failed: 1, rejected: 3 });
  });

  it('a caller admitted in the instant the circuit opens is checked again before its attempt', async () => {
    // Concurrency 1: the failing call's slot goes to the next in line as the circuit opens.
    roomy(manager, { maxConcurrent: 1, circuitBreakerThreshold: 1, retryAttempts: 0 });
    let providerCalls = 0;
    const failing = deferred<never>();
    const first = track(manager.execute(SVC, () => (providerCalls++, failing.promise)));
    const second = track(manager.execute(SVC, () => (providerCalls++, 'second')));
    await flush();
    failing.reject(httpError(503));
    await flush();
    expect(first.state).toBe('rejected');
    expect(isCircuitOpenError(second.error)).toBe(true);
    expect(providerCalls).toBe(1);
  });

  it('the half-open probe may wait in line and still probe; others are refused meanwhile', async () => {
    roomy(manager, { requestsPerSecond: 1, burst: 1, requestsPerMinute: 60, circuitBreakerThreshold: 1, circuitBreakerResetMs: 500, retryAttempts: 0 });
    fail(503); // takes the token and opens the circuit
    await flush();
    await vi.advanceTimersByTimeAsync(500);
    // Past the reset: this call becomes the probe, but the next token comes at 1 s.
    const probe = track(manager.execute(SVC, () => 'probed'));
    const other = track(manager.execute(SVC, () => 'other'));
    await flush();
    expect(isCircuitOpenError(other.error)).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(probe.value).toBe('probed');
    expect(scope().circuit.state).toBe('closed');
  });
});
