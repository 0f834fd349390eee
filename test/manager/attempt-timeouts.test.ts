import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isCallCancelledError, isCallTimeoutError, ThrottleManager } from 'floodgate';

const SVC = 'timeouts_svc';
let manager: ThrottleManager;

beforeEach(() => {
  vi.useFakeTimers();
  manager = new ThrottleManager({ env: {} });
  manager.configure(SVC, {
    requestsPerSecond: Infinity,
    burst: 1_000,
    requestsPerMinute: Infinity,
    maxConcurrent: Infinity,
    retryAttempts: 0,
    timeoutMs: 1_000,
  });
});

afterEach(async () => {
  await manager.close();
  vi.useRealTimers();
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

  it('timeoutMs 0 runs attempts without any timer', async () => {
    manager.configure(SVC, { timeoutMs: 0 });
    const call = manager.execute(SVC, hang);
    expect(vi.getTimerCount()).toBe(0);
    void call;
  });
});
