import type { AdmissionCost } from '../stores/types.js';
import { DeadlineTimer, HeadQueue } from '../timers/deadline-timer.js';

/** What a queue asks of the scope it serves. */
export interface AdmissionGate {
  /** 0: admitted (capacity taken, `cost` too). A positive number: ms until capacity may free up; Infinity: until `drain()` is called. */
  tryAdmit(now: number, cost?: AdmissionCost): number | Promise<number>;
  /** A lower bound of the wait for the caller `position` places back in line. */
  estimateWait(position: number, now: number): number;
  /** Builds the error for a caller refused for lack of capacity (and counts it). */
  refuse(waitMs: number, reason: 'queue_full' | 'max_wait'): Error;
  /** Builds the error for a caller whose AbortSignal fired while it waited. */
  aborted(reason: unknown): Error;
  /** An admission was granted after its caller left, and no one else waits: give it back. */
  unclaimed(): void;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  deadline: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
  /** A weighted call's cost: the head waits until all of it fits (FIFO: nobody behind it passes). */
  cost: AdmissionCost | undefined;
}

/**
 * Callers waiting for admission to one scope, first in first out. One timer serves the
 * whole queue, armed for the earlier of the next moment capacity frees up and the head's
 * deadline (deadlines follow arrival order, so the head's is the earliest). The timer
 * exists only while someone waits, so an idle process exits by itself.
 */
export class AdmissionQueue {
  private readonly waiters = new HeadQueue<Waiter>();
  private live = 0;
  /** Armed for the earlier of the next moment capacity may free up and the head's deadline. */
  private readonly timer = new DeadlineTimer(() => this.drain());
  private draining = false;
  /** An asynchronous (shared store) answer is outstanding: no other admission is tried meanwhile. */
  private awaiting = false;
  /** Calls sleeping before a retry: not in line, but waiting on this scope all the same. */
  private sleepers: Set<{ timer: ReturnType<typeof setTimeout>; reject: (error: unknown) => void }> | null = null;

  constructor(private readonly gate: AdmissionGate) {}

  get size(): number {
    return this.live;
  }

  /**
   * Waits for admission. Refuses at once when the queue is full, or when even the most
   * optimistic estimate of this caller's turn lies beyond `maxWaitMs`.
   */
  enqueue(now: number, maxWaitMs: number, maxQueue: number, signal: AbortSignal | undefined, cost?: AdmissionCost): Promise<void> {
    const refusal = this.refusal(now, maxWaitMs, maxQueue, signal);
    if (refusal !== null) return Promise.reject(refusal);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, deadline: now + maxWaitMs, signal, onAbort: undefined, settled: false, cost };
      if (signal !== undefined) {
        waiter.onAbort = () => this.settle(waiter, this.gate.aborted(signal.reason));
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.live++;
      this.drain();
    });
  }

  /**
   * The error that refuses a new caller at once, or null when it may wait: an aborted signal,
   * a full queue, or a turn that even the most optimistic estimate puts beyond `maxWaitMs`.
   */
  refusal(now: number, maxWaitMs: number, maxQueue: number, signal: AbortSignal | undefined): Error | null {
    if (signal?.aborted) return this.gate.aborted(signal.reason);
    if (this.live >= maxQueue) return this.gate.refuse(this.gate.estimateWait(this.live, now), 'queue_full');
    const estimate = this.gate.estimateWait(this.live, now);
    return estimate > maxWaitMs ? this.gate.refuse(estimate, 'max_wait') : null;
  }

  /** Admits every head that can go now; call when capacity may have freed up. */
  drain(): void {
    if (this.draining || this.awaiting || this.live === 0) return;
    this.draining = true;
    try {
      while (this.live > 0) {
        const waiter = this.peek();
        const now = Date.now();
        // Admission is tried before the deadline: the timer wakes exactly at the deadline
        // when capacity frees then too, and a caller whose turn comes at `maxWaitMs` (which
        // enqueue() accepted) must be admitted, not refused.
        const wait = this.gate.tryAdmit(now, waiter.cost);
        if (typeof wait !== 'number') {
          this.awaitGate(wait);
          return;
        }
        if (wait === 0) {
          this.settle(waiter, undefined);
          continue;
        }
        if (now >= waiter.deadline) {
          this.settle(waiter, this.gate.refuse(this.gate.estimateWait(0, now), 'max_wait'));
          continue;
        }
        // No deadline and no time to wait for (Infinity): the next release() drains the queue.
        this.timer.armBy(Math.min(now + wait, waiter.deadline));
        return;
      }
      this.timer.disarm();
    } finally {
      this.draining = false;
    }
  }

  /** Calls sleeping before a retry (see {@link hold}). */
  get holding(): number {
    return this.sleepers?.size ?? 0;
  }

  /**
   * Sleeps `ms` (a retry's backoff) as one of the scope's waits, so that `cancelAll()`
   * ends it too: close() and a suspension must not leave a call asleep on its own timer.
   * An aborted `signal` rejects with `onAbort(reason)`.
   */
  hold(ms: number, signal: AbortSignal | undefined, onAbort: (reason: unknown) => Error): Promise<void> {
    if (signal?.aborted) return Promise.reject(onAbort(signal.reason));
    return new Promise<void>((resolve, reject) => {
      const sleepers = (this.sleepers ??= new Set());
      const abort = (): void => finish(onAbort(signal!.reason));
      const finish = (error?: unknown): void => {
        clearTimeout(sleeper.timer);
        sleepers.delete(sleeper);
        signal?.removeEventListener('abort', abort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const sleeper = { timer: setTimeout(finish, ms), reject: finish };
      sleepers.add(sleeper);
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /** Rejects every waiter, and every call sleeping before a retry (on close, reset or suspension). */
  cancelAll(error: unknown): void {
    this.cancelWaiting(error);
    if (this.sleepers !== null) for (const sleeper of [...this.sleepers]) sleeper.reject(error);
  }

  /** Rejects every caller waiting in line (a call sleeping before its retry is left to its retry's own checks). */
  cancelWaiting(error: unknown): void {
    while (this.live > 0) this.settle(this.peek(), error);
    this.timer.disarm();
  }

  /** A shared store answers asynchronously: keep the queue closed to others until it does. */
  private awaitGate(answer: Promise<number>): void {
    // Not `draining`: drain()'s `finally` clears that as soon as it returns.
    this.awaiting = true;
    answer.then(
      (wait) => {
        this.awaiting = false;
        if (wait !== 0) {
          if (this.live > 0) this.timer.armBy(Math.min(Date.now() + wait, this.peek().deadline));
          return;
        }
        // The admission goes to the head, or back to the gate if its caller left meanwhile.
        if (this.live > 0) this.settle(this.peek(), undefined);
        else this.gate.unclaimed();
        this.drain();
      },
      (error: unknown) => {
        this.awaiting = false;
        if (this.live > 0) this.settle(this.peek(), error);
        this.drain();
      },
    );
  }

  private peek(): Waiter {
    // Skip waiters that already left (aborted); they stay in the array until reached.
    for (;;) {
      const waiter = this.waiters.peek()!;
      if (!waiter.settled) return waiter;
      this.waiters.shift();
    }
  }

  private settle(waiter: Waiter, error: unknown): void {
    if (waiter.settled) return;
    waiter.settled = true;
    this.live--;
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort);
    if (error === undefined) waiter.resolve();
    else waiter.reject(error);
    if (this.live === 0) this.timer.disarm();
  }
}
