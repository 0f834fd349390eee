import { describe, expect, it, vi } from 'vitest';
import { ThrottleManager, isCallCancelledError } from 'floodgate';
import { SVC, roomy, track, useFakeManager, type Tracked } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m));

/** Launches `count` calls at once; each records the (virtual) time it started. */
function launch(count: number): { starts: number[]; calls: Tracked<number>[] } {
  const starts: number[] = [];
  const calls = Array.from({ length: count }, (_, i) =>
    track(
      manager.execute(SVC, () => {
        starts.push(Date.now());
        return i;
      }),
    ),
  );
  return { starts, calls };
}

/** Token-bucket law: any i..j starts need burst + rate·(t_j − t_i) tokens at most. */
function expectBucketLaw(starts: readonly number[], rate: number, burst: number): void {
  for (let i = 0; i < starts.length; i++) {
    for (let j = i; j < starts.length && j < i + 200; j++) {
      const allowed = burst + (rate * (starts[j]! - starts[i]!)) / 1000;
      if (j - i + 1 > allowed + 1e-6) expect.fail(`starts ${i}..${j} (${j - i + 1}) exceed the bucket's ${allowed}`);
    }
  }
}

describe('limit fidelity through the manager', () => {
  it('keeps every rolling 60 s window at requestsPerMinute, and uses it fully', async () => {
    roomy(manager, { requestsPerSecond: 10, burst: 10, requestsPerMinute: 60 });
    const t0 = Date.now();
    const { starts, calls } = launch(500);
    await vi.advanceTimersByTimeAsync(5 * 60_000 - 1);

    // Starts are recorded in admission order, which is also time order.
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    for (let i = 0; i + 60 < starts.length; i++) {
      if (starts[i + 60]! - starts[i]! < 60_000) expect.fail(`61 starts within 60 s: #${i} at ${starts[i]! - t0} ms, #${i + 60} at ${starts[i + 60]! - t0} ms`);
    }
    // Ideal: 60 in each of the five minutes [0, 300 000).
    expect(starts.length).toBeGreaterThanOrEqual(300 - 1);
    expect(starts.length).toBeLessThanOrEqual(300);
    expectBucketLaw(starts, 10, 10);

    // Calls that started have resolved with their own value; the rest still wait, in order.
    const done = calls.filter((c) => c.state === 'fulfilled');
    expect(done.map((c) => c.value)).toEqual(done.map((_, i) => i));
    expect(calls.slice(starts.length).every((c) => c.state === 'pending')).toBe(true);

    await manager.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.slice(starts.length).every((c) => c.state === 'rejected' && isCallCancelledError(c.error))).toBe(true);
  });

  it('follows the token bucket second by second when the minute cap cannot bind', async () => {
    roomy(manager, { requestsPerSecond: 10, burst: 10, requestsPerMinute: Infinity });
    const t0 = Date.now();
    const { starts } = launch(100);
    await vi.advanceTimersByTimeAsync(9_000);

    // Ideal: 10 at once, then one every 100 ms: the 100th at 9 s.
    expect(starts.length).toBe(100);
    expect(starts[9]! - t0).toBe(0);
    expect(starts[10]! - t0).toBeGreaterThanOrEqual(100);
    for (let second = 1; second < 9; second++) {
      const inSecond = starts.filter((t) => t - t0 >= second * 1_000 && t - t0 < (second + 1) * 1_000).length;
      expect(inSecond, `second ${second}`).toBe(10);
    }
    expectBucketLaw(starts, 10, 10);
  });

  it('counts every start, not only first attempts, against the minute cap', async () => {
    roomy(manager, { requestsPerSecond: 100, burst: 5, requestsPerMinute: 5, retryAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 10 });
    const starts: number[] = [];
    let failures = 2;
    const call = track(
      manager.execute(SVC, () => {
        starts.push(Date.now());
        if (failures-- > 0) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
        return 'ok';
      }),
    );
    // Three attempts of one call, then three fresh calls: the sixth start must wait for the window.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(call.state).toBe('fulfilled');
    const others = launch(3);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(others.starts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(others.starts).toHaveLength(3);
    expect(others.starts[2]! - starts[0]!).toBeGreaterThanOrEqual(60_000);
  });
});
