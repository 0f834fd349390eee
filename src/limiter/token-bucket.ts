import { compactTime } from './compact-time.js';

/**
 * The refill adds many small fractions (`elapsed · rate / 1000`), and their float sum falls
 * short of a whole number (ten refills of 0.1 make 0.9999999999999999): a bucket polled
 * often would refuse a token that is due, and lose capacity. A shortfall this small is
 * rounding error, not a missing token.
 */
const EPSILON = 1e-9;

/** The two numbers a bucket needs; read through the scope's configuration object, not copied. */
export interface BucketLimits {
  /** Tokens per second; Infinity means the bucket never binds. */
  readonly requestsPerSecond: number;
  /** Capacity. */
  readonly burst: number;
}

/**
 * A token bucket refilled lazily from timestamps: no timer, two numbers of state of its
 * own (rate and capacity stay in the shared configuration object, so thousands of scopes
 * with one configuration do not each carry a copy).
 */
export class TokenBucket {
  private tokens: number;
  /** Compact time (see compactTime) of the last refill. */
  private updatedAt: number;

  constructor(
    private limits: BucketLimits,
    now: number,
  ) {
    this.tokens = limits.burst;
    this.updatedAt = compactTime(now);
  }

  /** Takes one token and returns 0, or returns the ms until one will be there (taking nothing). */
  take(now: number): number {
    const tokens = this.refill(now);
    if (tokens >= 1 - EPSILON) {
      this.tokens = tokens > 1 ? tokens - 1 : 0;
      return 0;
    }
    return ((1 - tokens) * 1000) / this.limits.requestsPerSecond;
  }

  /** A lower bound of the wait before `count` more tokens can have been taken. */
  waitFor(count: number, now: number): number {
    const tokens = this.refill(now);
    return tokens >= count - EPSILON ? 0 : ((count - tokens) * 1000) / this.limits.requestsPerSecond;
  }

  available(now: number): number {
    return Math.floor(this.refill(now) + EPSILON);
  }

  isFull(now: number): boolean {
    return this.refill(now) >= this.limits.burst - EPSILON;
  }

  reconfigure(limits: BucketLimits, now: number): void {
    this.tokens = Math.min(this.refill(now), limits.burst);
    this.limits = limits;
  }

  private refill(now: number): number {
    const { requestsPerSecond: rate, burst: capacity } = this.limits;
    if (rate === Infinity) return (this.tokens = capacity);
    const at = compactTime(now);
    // A clock that stepped back refills nothing rather than stalling the bucket.
    const elapsed = at > this.updatedAt ? at - this.updatedAt : 0;
    this.updatedAt = at;
    const tokens = this.tokens + (elapsed * rate) / 1000;
    return (this.tokens = tokens < capacity ? tokens : capacity);
  }
}
