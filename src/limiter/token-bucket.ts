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
    if (tokens >= 1) {
      this.tokens = tokens - 1;
      return 0;
    }
    return ((1 - tokens) * 1000) / this.rate;
  }

  /** A lower bound of the wait before `count` more tokens can have been taken. */
  waitFor(count: number, now: number): number {
    const tokens = this.refill(now);
    return tokens >= count ? 0 : ((count - tokens) * 1000) / this.rate;
  }

  available(now: number): number {
    return Math.floor(this.refill(now));
  }

  isFull(now: number): boolean {
    return this.refill(now) >= this.capacity;
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
