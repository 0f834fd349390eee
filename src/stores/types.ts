/** The limits a store enforces for one scope. */
export interface LimiterLimits {
  readonly requestsPerSecond: number;
  readonly burst: number;
  readonly requestsPerMinute: number;
}

/** Remaining capacity of a scope, for the status report. */
export interface LimiterSnapshot {
  /** Tokens in the bucket now (whole calls). */
  readonly tokens: number;
  /** Starts still allowed in the rolling 60-second window (`null` when the cap cannot bind). */
  readonly minuteRemaining: number | null;
}

/**
 * Admission state of one scope. The local store answers synchronously; a shared store
 * (Redis) may answer with a promise, and the manager handles both.
 */
export interface ScopeLimiter {
  /** Takes one admission when every window allows it now and returns 0; otherwise returns the ms until one could be taken, taking nothing. */
  tryAcquire(now: number): number | Promise<number>;
  /** A lower bound of the wait for the caller `position` places back in line (0: next); used to refuse at once a caller that cannot make its deadline. */
  estimateWait(position: number, now: number): number;
  reconfigure(limits: LimiterLimits, now: number): void;
  snapshot(now: number): LimiterSnapshot;
  /** True when this limiter's state equals a fresh one's, so the scope can be forgotten safely. */
  isIdle(now: number): boolean;
}

/** Where limiter state lives: process memory by default, Redis for a fleet. */
export interface ThrottleStore {
  /** Shown in the status report. */
  readonly name: string;
  createLimiter(scope: string, limits: LimiterLimits, now: number): ScopeLimiter;
  /** Releases connections and timers the store owns (not a client the user passed in). */
  close(): Promise<void>;
}
