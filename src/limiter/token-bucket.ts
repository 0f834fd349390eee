/**
 * The refill adds many small fractions (`elapsed · rate / 1000`), and their float sum falls
 * short of a whole number (ten refills of 0.1 make 0.9999999999999999): a bucket polled
 * often would refuse a token that is due, and lose capacity. A shortfall this small is
 * rounding error, not a missing token.
 */
const EPSILON = 1e-9;

/**
 * A token bucket refilled lazily from timestamps: no timer, two numbers of state.
 * `rate` is tokens per second; Infinity means the bucket never binds.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private rate: number,
    private capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = now;
  }

  /** Takes one token and returns 0, or returns the ms until one will be there (taking nothing). */
  take(now: number): number {
    const tokens = this.refill(now);
    if (tokens >= 1 - EPSILON) {
      this.tokens = tokens > 1 ? tokens - 1 : 0;
      return 0;
    }
    return ((1 - tokens) * 1000) / this.rate;
  }

  /** A lower bound of the wait before `count` more tokens can have been taken. */
  waitFor(count: number, now: number): number {
    const tokens = this.refill(now);
    return tokens >= count - EPSILON ? 0 : ((count - tokens) * 1000) / this.rate;
  }

  available(now: number): number {
    return Math.floor(this.refill(now) + EPSILON);
  }

  isFull(now: number): boolean {
    return this.refill(now) >= this.capacity - EPSILON;
  }

  reconfigure(rate: number, capacity: number, now: number): void {
    this.tokens = Math.min(this.refill(now), capacity);
    this.rate = rate;
    this.capacity = capacity;
  }

  private refill(now: number): number {
    if (this.rate === Infinity) return (this.tokens = this.capacity);
    // A clock that stepped back refills nothing rather than stalling the bucket.
    const elapsed = now > this.updatedAt ? now - this.updatedAt : 0;
    this.updatedAt = now;
    const tokens = this.tokens + (elapsed * this.rate) / 1000;
    return (this.tokens = tokens < this.capacity ? tokens : this.capacity);
  }
}
