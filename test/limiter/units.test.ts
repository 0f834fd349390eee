import { describe, expect, it } from 'vitest';
import { RollingWindow, WINDOW_MS } from '../../src/limiter/rolling-window.js';
import { TokenBucket } from '../../src/limiter/token-bucket.js';
import { LocalLimiter } from '../../src/stores/memory-store.js';

describe('TokenBucket', () => {
  it('starts full: `burst` takes succeed back to back, the next one gets the refill wait', () => {
    const bucket = new TokenBucket({ requestsPerSecond: 2, burst: 3 }, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBe(500);
  });

  it('refills at `rate` per second, and a refused take takes nothing', () => {
    const bucket = new TokenBucket({ requestsPerSecond: 2, burst: 1 }, 0);
    expect(bucket.take(0)).toBe(0);
    expect(bucket.take(100)).toBeCloseTo(400);
    expect(bucket.take(100)).toBeCloseTo(400);
    expect(bucket.take(499)).toBeCloseTo(1);
    expect(bucket.take(500)).toBe(0);
  });

  it('never holds more than its capacity after a quiet spell', () => {
    const bucket = new TokenBucket({ requestsPerSecond: 10, burst: 2 }, 0);
    expect(bucket.available(3_600_000)).toBe(2);
    expect([bucket.take(3_600_000), bucket.take(3_600_000)]).toEqual([0, 0]);
    expect(bucket.take(3_600_000)).toBeCloseTo(100);
  });

  it('loses no token to rounding when polled often', () => {
    // Ten refills of 0.1 token sum to 0.9999999999999999 in floating point.
    const bucket = new TokenBucket({ requestsPerSecond: 1, burst: 1 }, 0);
    expect(bucket.take(0)).toBe(0);
    for (let t = 100; t < 1_000; t += 100) expect(bucket.take(t)).toBeGreaterThan(0);
    expect(bucket.take(1_000)).toBe(0);
  });

  it('gives a lower bound for `count` more takes', () => {
    const bucket = new TokenBucket({ requestsPerSecond: 1, burst: 2 }, 0);
    expect(bucket.waitFor(2, 0)).toBe(0);
    bucket.take(0);
    bucket.take(0);
    expect(bucket.waitFor(1, 0)).toBe(1_000);
    expect(bucket.waitFor(3, 500)).toBeCloseTo(2_500);
  });

  it('never binds at an infinite rate', () => {
    const bucket = new TokenBucket({ requestsPerSecond: Infinity, burst: 1 }, 0);
    for (let i = 0; i < 100; i++) expect(bucket.take(0)).toBe(0);
  });

  it('does not stall when the clock steps back', () => {
    const bucket = new TokenBucket({ requestsPerSecond: 1, burst: 1 }, 10_000);
    expect(bucket.take(10_000)).toBe(0);
    expect(bucket.take(5_000)).toBeCloseTo(1_000);
    expect(bucket.take(6_000)).toBe(0);
  });
});

describe('RollingWindow', () => {
  it('refuses the (limit+1)-th start until the oldest is exactly 60 s old', () => {
    const window = new RollingWindow(3);
    for (const t of [0, 10, 20]) {
      expect(window.wait(t)).toBe(0);
      window.addStart(t);
    }
    expect(window.wait(20)).toBe(WINDOW_MS - 20);
    expect(window.wait(59_999)).toBe(1);
    expect(window.wait(60_000)).toBe(0);
    window.addStart(60_000);
    // Now 10, 20, 60_000 are the last three: the next slot frees when 10 turns 60 s old.
    expect(window.wait(60_000)).toBe(10);
    expect(window.wait(60_010)).toBe(0);
  });

  it('counts the starts left in the window', () => {
    const window = new RollingWindow(3);
    window.addStart(0);
    window.addStart(10);
    expect(window.remaining(30)).toBe(1);
    window.addStart(20);
    expect(window.remaining(30)).toBe(0);
    expect(window.remaining(60_000)).toBe(1);
    expect(window.remaining(60_020)).toBe(3);
    expect(window.isEmpty(60_019)).toBe(false);
    expect(window.isEmpty(60_020)).toBe(true);
  });

  it('estimates each position exactly when nothing else interferes', () => {
    const window = new RollingWindow(3);
    window.addStart(0);
    expect(window.waitFor(0, 100)).toBe(0);
    expect(window.waitFor(1, 100)).toBe(0);
    expect(window.waitFor(2, 100)).toBe(WINDOW_MS - 100);
    window.addStart(10);
    window.addStart(20);
    expect([0, 1, 2].map((p) => window.waitFor(p, 100))).toEqual([59_900, 59_910, 59_920]);
    // A slot held by a start that has not happened yet is at least a full window away.
    expect(window.waitFor(3, 100)).toBe(WINDOW_MS);
  });

  it('waitFor is a lower bound of the real wait (randomised histories)', () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let run = 0; run < 50; run++) {
      const limit = 1 + Math.floor(random() * 6);
      const window = new RollingWindow(limit);
      let t = 0;
      for (let i = Math.floor(random() * 10); i > 0; i--) {
        t += Math.floor(random() * 30_000);
        t += window.wait(t);
        window.addStart(t);
      }
      const now = t + Math.floor(random() * 30_000);
      const estimates = Array.from({ length: 2 * limit }, (_, p) => window.waitFor(p, now));
      // Admit the callers in line as early as the window allows and compare.
      let clock = now;
      estimates.forEach((estimate, position) => {
        clock += window.wait(clock);
        window.addStart(clock);
        expect(clock - now, `run ${run}, position ${position}`).toBeGreaterThanOrEqual(estimate);
      });
    }
  });

  it('keeps the newest starts when shrunk and frees slots when grown', () => {
    const window = new RollingWindow(3);
    for (const t of [0, 10, 20]) window.addStart(t);
    window.reconfigure(2);
    expect(window.wait(100)).toBe(10 + WINDOW_MS - 100);
    window.reconfigure(5);
    expect(window.wait(100)).toBe(0);
    expect(window.remaining(100)).toBe(3);
  });
});

describe('RollingWindow.remaining', () => {
  it('counts the starts inside the window, before and after the buffer wraps', () => {
    const limit = 7;
    const window = new RollingWindow(limit);
    const starts: number[] = [];
    let now = 0;
    for (let i = 0; i < 40; i++) {
      now += [3_000, 11_000, 25_000, 61_000][i % 4]!;
      if (window.wait(now) === 0) {
        window.addStart(now);
        starts.push(now);
      }
      for (const at of [now, now + 30_000, now + 59_999, now + 60_000, now + 120_000]) {
        expect(window.remaining(at)).toBe(limit - starts.filter((start) => start > at - WINDOW_MS).length);
      }
    }
  });
});

describe('LocalLimiter', () => {
  it('skips the rolling window when the per-minute cap cannot bind', () => {
    // burst + 60·rate = 1 + 60 = 61 <= 100: the bucket alone keeps under the cap.
    const limiter = new LocalLimiter({ requestsPerSecond: 1, burst: 1, requestsPerMinute: 100 }, 0);
    expect(limiter.snapshot(0).minuteRemaining).toBeNull();
    let starts = 0;
    for (let t = 0; t < 60_000; t += 100) if (limiter.tryAcquire(t) === 0) starts++;
    expect(starts).toBe(60);
  });

  it('uses the window when the cap binds, and taking nothing when it refuses', () => {
    const limiter = new LocalLimiter({ requestsPerSecond: 10, burst: 5, requestsPerMinute: 5 }, 0);
    for (let i = 0; i < 5; i++) expect(limiter.tryAcquire(0)).toBe(0);
    expect(limiter.snapshot(1_000)).toEqual({ tokens: 5, minuteRemaining: 0 });
    expect(limiter.tryAcquire(1_000)).toBe(59_000);
    expect(limiter.snapshot(1_000)).toEqual({ tokens: 5, minuteRemaining: 0 });
    expect(limiter.estimateWait(0, 1_000)).toBe(59_000);
    expect(limiter.tryAcquire(60_000)).toBe(0);
  });

  it('switches the window on and off when reconfigured', () => {
    const limiter = new LocalLimiter({ requestsPerSecond: 1, burst: 1, requestsPerMinute: 100 }, 0);
    limiter.reconfigure({ requestsPerSecond: 1, burst: 1, requestsPerMinute: 30 }, 0);
    expect(limiter.snapshot(0).minuteRemaining).toBe(30);
    limiter.reconfigure({ requestsPerSecond: 1, burst: 1, requestsPerMinute: Infinity }, 0);
    expect(limiter.snapshot(0).minuteRemaining).toBeNull();
  });

  it('adds and drops token caps when reconfigured, keeping the starts and costs already counted', () => {
    const binding = { requestsPerSecond: 10, burst: 5, requestsPerMinute: 3 };
    const limiter = new LocalLimiter(binding, 0);
    expect(limiter.tryAcquire(0)).toBe(0);
    limiter.reconfigure({ ...binding, tokensPerMinute: 100 }, 0);
    const cost = { input: 60, output: 0, ticket: -1 };
    expect(limiter.tryAcquire(1_000, cost)).toBe(0);
    expect(limiter.snapshot(1_000)).toEqual({ tokens: 4, minuteRemaining: 1, tokensRemaining: { total: 40, input: null, output: null } });
    // The minute still holds both starts, and the token window the cost, after the caps change.
    limiter.reconfigure({ ...binding, tokensPerMinute: 80 }, 1_000);
    expect(limiter.snapshot(1_000)).toEqual({ tokens: 4, minuteRemaining: 1, tokensRemaining: { total: 20, input: null, output: null } });
    expect(limiter.tryAcquire(2_000, { input: 30, output: 0, ticket: -1 })).toBe(59_000);
    limiter.amendCost(cost.ticket, -50, 0);
    expect(limiter.tryAcquire(2_000, { input: 30, output: 0, ticket: -1 })).toBe(0);
    // Without caps the limiter is back to the bucket and the minute, which has no room left.
    limiter.reconfigure(binding, 2_000);
    expect(limiter.snapshot(2_000)).toEqual({ tokens: 4, minuteRemaining: 0 });
    expect(limiter.tryAcquire(2_000)).toBe(58_000);
    expect(limiter.isIdle(61_000)).toBe(false);
    expect(limiter.isIdle(62_000)).toBe(true);
  });

  it('is idle only once its state equals a fresh one', () => {
    const limiter = new LocalLimiter({ requestsPerSecond: 1, burst: 2, requestsPerMinute: 10 }, 0);
    expect(limiter.isIdle(0)).toBe(true);
    limiter.tryAcquire(0);
    expect(limiter.isIdle(500)).toBe(false);
    // The bucket is full again after 1 s, but the start is still inside the window.
    expect(limiter.isIdle(1_000)).toBe(false);
    expect(limiter.isIdle(60_000)).toBe(true);
  });
});
