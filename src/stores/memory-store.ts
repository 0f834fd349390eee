import { RollingWindow } from '../limiter/rolling-window.js';
import { TokenBucket } from '../limiter/token-bucket.js';
import { capsOf, TokenWindows } from '../tokens/token-windows.js';
import type { AdmissionCost, LimiterLimits, LimiterSnapshot, ScopeLimiter, ThrottleStore } from './types.js';

/**
 * The 60-second cap only binds when the bucket alone could exceed it: a bucket lets at
 * most `burst + 60·rate` calls start in any minute.
 */
export const capBinds = (limits: LimiterLimits): boolean =>
  limits.requestsPerMinute !== Infinity && limits.requestsPerMinute < limits.burst + 60 * limits.requestsPerSecond;

/**
 * Token bucket and strict rolling minute for one scope, in process memory: one object
 * (the bucket's state plus the window), since every scope of a manager has one.
 */
export class LocalLimiter extends TokenBucket implements ScopeLimiter {
  private window: RollingWindow | null;
  /** Token caps (weighted calls); null while the scope has none. */
  private tokenWindows: TokenWindows | null;

  constructor(limits: LimiterLimits, now: number) {
    super(limits, now);
    this.window = capBinds(limits) ? new RollingWindow(limits.requestsPerMinute) : null;
    const caps = capsOf(limits);
    this.tokenWindows = caps === null ? null : new TokenWindows(caps);
  }

  tryAcquire(now: number, cost?: AdmissionCost): number {
    const window = this.window;
    if (window !== null) {
      const wait = window.wait(now);
      if (wait > 0) return wait;
    }
    // Every window must allow the call before any of them takes it.
    const tokenWindows = this.tokenWindows;
    if (tokenWindows !== null) {
      const wait = tokenWindows.wait(now, cost === undefined ? 0 : cost.input, cost === undefined ? 0 : cost.output);
      if (wait > 0) return wait;
    }
    const wait = this.take(now);
    if (wait === 0) {
      if (window !== null) window.addStart(now);
      if (tokenWindows !== null && cost !== undefined) cost.ticket = tokenWindows.add(now, cost.input, cost.output);
    }
    return wait;
  }

  amendCost(ticket: number, deltaInput: number, deltaOutput: number): void {
    this.tokenWindows?.amend(ticket, deltaInput, deltaOutput);
  }

  estimateWait(position: number, now: number): number {
    const bucketWait = this.waitFor(position + 1, now);
    const windowWait = this.window === null ? 0 : this.window.waitFor(position, now);
    return bucketWait > windowWait ? bucketWait : windowWait;
  }

  override reconfigure(limits: LimiterLimits, now: number): void {
    super.reconfigure(limits, now);
    if (!capBinds(limits)) this.window = null;
    else if (this.window === null) this.window = new RollingWindow(limits.requestsPerMinute);
    else this.window.reconfigure(limits.requestsPerMinute);
    const caps = capsOf(limits);
    if (caps === null) this.tokenWindows = null;
    else if (this.tokenWindows === null) this.tokenWindows = new TokenWindows(caps);
    else this.tokenWindows.reconfigure(caps);
  }

  snapshot(now: number): LimiterSnapshot {
    const snapshot = { tokens: this.available(now), minuteRemaining: this.window === null ? null : this.window.remaining(now) };
    return this.tokenWindows === null ? snapshot : { ...snapshot, tokensRemaining: this.tokenWindows.remaining(now) };
  }

  isIdle(now: number): boolean {
    return this.isFull(now) && (this.window === null || this.window.isEmpty(now)) && (this.tokenWindows === null || this.tokenWindows.isEmpty(now));
  }
}

/** The default store: every scope's limits live in this process's memory. */
export class MemoryStore implements ThrottleStore {
  readonly name = 'memory';
  readonly weighted = true;

  createLimiter(_scope: string, limits: LimiterLimits, now: number): ScopeLimiter {
    return new LocalLimiter(limits, now);
  }

  async close(): Promise<void> {}
}
