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
 * (the bucket's state plus the windows), since every scope of a manager has one.
 */
export class LocalLimiter extends TokenBucket implements ScopeLimiter {
  /**
   * What binds beside the bucket, in one slot (one null per scope while neither binds): the strict
   * minute alone (a RollingWindow, the presets' case), or with token caps a {@link WeightedWindows}.
   */
  private windows: StartWindows | null;

  constructor(limits: LimiterLimits, now: number) {
    super(limits, now);
    this.windows = windowsFor(limits, null);
  }

  tryAcquire(now: number, cost?: AdmissionCost): number {
    // Every window must allow the call before any of them (or the bucket) takes it.
    const windows = this.windows;
    if (windows !== null) {
      const wait = windows.wait(now, cost);
      if (wait > 0) return wait;
    }
    const wait = this.take(now);
    if (wait === 0 && windows !== null) windows.addStart(now, cost);
    return wait;
  }

  amendCost(ticket: number, deltaInput: number, deltaOutput: number): void {
    if (this.windows instanceof WeightedWindows) this.windows.tokens.amend(ticket, deltaInput, deltaOutput);
  }

  estimateWait(position: number, now: number): number {
    const bucketWait = this.waitFor(position + 1, now);
    const windowWait = this.windows === null ? 0 : this.windows.waitFor(position, now);
    return bucketWait > windowWait ? bucketWait : windowWait;
  }

  override reconfigure(limits: LimiterLimits, now: number): void {
    super.reconfigure(limits, now);
    this.windows = windowsFor(limits, this.windows);
  }

  snapshot(now: number): LimiterSnapshot {
    const windows = this.windows;
    const minute = minuteOf(windows);
    const snapshot = { tokens: this.available(now), minuteRemaining: minute === null ? null : minute.remaining(now) };
    return windows instanceof WeightedWindows ? { ...snapshot, tokensRemaining: windows.tokens.remaining(now) } : snapshot;
  }

  isIdle(now: number): boolean {
    return this.isFull(now) && (this.windows === null || this.windows.isEmpty(now));
  }
}

/** A limiter's windows beside its bucket: the strict minute ({@link RollingWindow}) or {@link WeightedWindows}. */
interface StartWindows {
  /** 0 when a start (of `cost`) is allowed now, else the ms until it will be (taking nothing). */
  wait(now: number, cost?: AdmissionCost): number;
  /** Records an admitted start (and writes a weighted call's `ticket`). */
  addStart(now: number, cost?: AdmissionCost): void;
  waitFor(position: number, now: number): number;
  isEmpty(now: number): boolean;
}

/** The windows of a scope with token caps: its token windows, and the strict minute when that binds too. */
class WeightedWindows implements StartWindows {
  constructor(
    readonly minute: RollingWindow | null,
    readonly tokens: TokenWindows,
  ) {}

  wait(now: number, cost?: AdmissionCost): number {
    const minuteWait = this.minute === null ? 0 : this.minute.wait(now);
    if (minuteWait > 0) return minuteWait;
    return this.tokens.wait(now, cost === undefined ? 0 : cost.input, cost === undefined ? 0 : cost.output);
  }

  addStart(now: number, cost?: AdmissionCost): void {
    this.minute?.addStart(now);
    if (cost !== undefined) cost.ticket = this.tokens.add(now, cost.input, cost.output);
  }

  waitFor(position: number, now: number): number {
    return this.minute === null ? 0 : this.minute.waitFor(position, now);
  }

  isEmpty(now: number): boolean {
    return (this.minute === null || this.minute.isEmpty(now)) && this.tokens.isEmpty(now);
  }
}

/** The strict minute among `windows` (the slot holds a RollingWindow itself when no token cap is set). */
function minuteOf(windows: StartWindows | null): RollingWindow | null {
  return windows instanceof WeightedWindows ? windows.minute : (windows as RollingWindow | null);
}

/** The windows `limits` call for, keeping the state of `current` (the windows in force until now). */
function windowsFor(limits: LimiterLimits, current: StartWindows | null): StartWindows | null {
  let minute = minuteOf(current);
  if (!capBinds(limits)) minute = null;
  else if (minute === null) minute = new RollingWindow(limits.requestsPerMinute);
  else minute.reconfigure(limits.requestsPerMinute);
  const caps = capsOf(limits);
  if (caps === null) return minute;
  if (!(current instanceof WeightedWindows)) return new WeightedWindows(minute, new TokenWindows(caps));
  current.tokens.reconfigure(caps);
  return current.minute === minute ? current : new WeightedWindows(minute, current.tokens);
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
