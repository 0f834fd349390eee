import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTimer, HeadQueue, MAX_TIMER_MS } from '../../src/timers/deadline-timer.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('DeadlineTimer', () => {
  it('fires once, at the earliest deadline it was armed by', async () => {
    const fired: number[] = [];
    const timer = new DeadlineTimer(() => fired.push(Date.now()));
    const start = Date.now();
    timer.armBy(start + 500);
    timer.armBy(start + 200);
    timer.armBy(start + 900); // later: changes nothing
    expect(timer.deadline).toBe(start + 200);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fired).toEqual([start + 200]);
    expect(timer.deadline).toBe(Infinity);
  });

  it('arm() replaces a deadline with a later one; disarm() stops it; Infinity arms nothing', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(() => fired++);
    timer.arm(Date.now() + 100);
    timer.arm(Date.now() + 300);
    await vi.advanceTimersByTimeAsync(200);
    expect(fired).toBe(0);
    timer.disarm();
    timer.armBy(Infinity);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fired).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never fires before a deadline beyond what setTimeout can hold', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(() => fired++);
    const at = Date.now() + MAX_TIMER_MS * 2 + 5;
    timer.arm(at);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS * 2);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(5);
    expect(fired).toBe(1);
  });

  it('a deadline in the past fires after 1 ms, not at once and not in a 0 ms loop', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(() => fired++);
    timer.arm(Date.now() - 50);
    await vi.advanceTimersByTimeAsync(0);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(1);
  });

  it('keepAlive(false) unrefs the armed timer and every later one until keepAlive(true)', () => {
    vi.useRealTimers(); // ref state is only observable on real timers
    const timer = new DeadlineTimer(() => {});
    const refd = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = refd();
    timer.arm(Date.now() + 60_000);
    expect(refd()).toBe(before + 1);
    timer.keepAlive(false);
    expect(refd()).toBe(before);
    timer.arm(Date.now() + 30_000);
    expect(refd()).toBe(before);
    timer.keepAlive(true);
    expect(refd()).toBe(before + 1);
    timer.disarm();
    expect(refd()).toBe(before);
  });
});

describe('HeadQueue', () => {
  it('is first in first out across compactions', () => {
    const queue = new HeadQueue<number>();
    const out: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      queue.push(i);
      if (i % 3 !== 0) out.push(queue.shift()!);
    }
    while (queue.length > 0) out.push(queue.shift()!);
    expect(out).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(queue.shift()).toBeUndefined();
    expect(queue.peek()).toBeUndefined();
  });

  it('at(offset) reads behind the head; length counts from the head', () => {
    const queue = new HeadQueue<string>();
    for (const s of ['a', 'b', 'c']) queue.push(s);
    queue.shift();
    expect(queue.length).toBe(2);
    expect([queue.peek(), queue.at(1), queue.at(2)]).toEqual(['b', 'c', undefined]);
    queue.clear();
    expect(queue.length).toBe(0);
  });
});
