import { describe, expect, it, vi } from 'vitest';
import { isCallCancelledError, isCallTimeoutError, ServiceType, ThrottleManager } from 'floodgate';
import { delay, roomy, useFakeManager } from '../helpers.js';

const SVC = 'timeouts_svc';
let manager: ThrottleManager;

useFakeManager((m) => {
  manager = m;
  roomy(manager, { timeoutMs: 1_000 }, SVC);
});

const hang = (): Promise<never> => new Promise<never>(() => {});

describe('attempt timeouts', () => {
  it('rejects a hung attempt with CallTimeoutError at timeoutMs, not before', async () => {
    const call = manager.execute(SVC, hang);
    const outcome = call.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(manager.getStatusReport().scopes[SVC]!.inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(isCallTimeoutError(error)).toBe(true);
    expect(error).toMatchObject({ scope: SVC, timeoutMs: 1_000 });
    // The slot of the abandoned attempt is free again.
    expect(manager.getStatusReport().scopes[SVC]!.inFlight).toBe(0);
  });

  it('watches any number of concurrent attempts with one timer, each expiring at its own deadline', async () => {
    const settled: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) {
      manager.execute(SVC, hang).catch(() => settled.push(Date.now()));
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(settled).toHaveLength(50);
    // Started 10 ms apart, so they time out 10 ms apart: no attempt waits for another's deadline.
    settled.forEach((time, i) => expect(time - t0 - (i * 10 + 1_000)).toBeLessThanOrEqual(10));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets fast attempts through untouched and keeps the timer for the slow one', async () => {
    const slow = manager.execute(SVC, hang).catch((error: unknown) => error);
    for (let i = 0; i < 20; i++) expect(await manager.execute(SVC, async () => i)).toBe(i);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(isCallTimeoutError(await slow)).toBe(true);
  });

  it('retries a timed-out attempt (timeouts are retryable)', async () => {
    manager.configure(SVC, { retryAttempts: 1, backoffBaseMs: 0 });
    let attempts = 0;
    const call = manager.execute(SVC, () => (++attempts === 1 ? hang() : Promise.resolve('second try')));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await call).toBe('second try');
    expect(attempts).toBe(2);
  });

  it('close() settles attempts still in flight and leaves no timer', async () => {
    const call = manager.execute(SVC, hang).catch((error: unknown) => error);
    await manager.close();
    expect(isCallCancelledError(await call)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ignores an answer that comes after the timeout: counted once, its slot freed once', async () => {
    manager.configure(SVC, { maxConcurrent: 2 });
    let answer!: (value: string) => void;
    const late = manager.execute(SVC, () => new Promise<string>((resolve) => (answer = resolve))).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(isCallTimeoutError(await late)).toBe(true);
    answer('too late');
    await vi.advanceTimersByTimeAsync(0);
    const scope = manager.getStatusReport().scopes[SVC]!;
    expect(scope.inFlight).toBe(0);
    expect(scope.counters).toMatchObject({ successes: 0, failures: 1 });
    // Both slots are there for the next calls: the late answer did not free one more.
    const hung = [manager.execute(SVC, hang).catch(() => 'timed out'), manager.execute(SVC, hang).catch(() => 'timed out')];
    expect(manager.getStatusReport().scopes[SVC]!.inFlight).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await Promise.all(hung)).toEqual(['timed out', 'timed out']);
  });

  it('ignores a late answer to a timed-out attempt while its retry runs', async () => {
    manager.configure(SVC, { retryAttempts: 1, backoffBaseMs: 0 });
    const answers: ((value: string) => void)[] = [];
    const call = manager.execute(SVC, () => new Promise<string>((resolve) => answers.push(resolve)));
    await vi.advanceTimersByTimeAsync(1_000); // the first attempt times out; the retry starts
    expect(answers).toHaveLength(2);
    answers[0]!('first, too late');
    await vi.advanceTimersByTimeAsync(10);
    answers[1]!('second');
    expect(await call).toBe('second');
    expect(manager.getStatusReport().scopes[SVC]!.counters).toMatchObject({ successes: 1, failures: 1, retries: 1 });
  });

  it('no preset sets a timeout: a slow call under the defaults runs as long as it takes, with no timer', async () => {
    for (const service of [...Object.values(ServiceType), 'custom_default']) expect(manager.getConfig(service).timeoutMs).toBe(0);
    manager.configure('custom_default', { requestsPerSecond: Infinity, requestsPerMinute: Infinity });
    const slow = manager.execute('custom_default', () => delay(10 * 60_000).then(() => 'done'));
    expect(vi.getTimerCount()).toBe(1); // the provider's own
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(await slow).toBe('done');
  });

  it('settles the call when an event listener throws while a timed attempt succeeds', async () => {
    manager.configure(SVC, { circuitBreakerThreshold: 1, circuitBreakerResetMs: 100 });
    await manager.execute(SVC, () => Promise.reject(new Error('provider down'))).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    manager.on('circuitStateChange', ({ to }) => {
      if (to === 'closed') throw new Error('listener bug');
    });
    // The half-open probe succeeds and closes the circuit; the listener's error reaches the caller.
    await expect(manager.execute(SVC, async () => 'ok')).rejects.toThrow('listener bug');
    expect(manager.getStatusReport().scopes[SVC]!.inFlight).toBe(0);
  });

  it('timeoutMs 0 runs attempts without any timer', async () => {
    manager.configure(SVC, { timeoutMs: 0 });
    const call = manager.execute(SVC, hang);
    expect(vi.getTimerCount()).toBe(0);
    void call;
  });
});
