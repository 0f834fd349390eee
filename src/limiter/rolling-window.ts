/** The strict window is a rolling 60 seconds. */
export const WINDOW_MS = 60_000;

/**
 * Exact rolling-window cap: remembers the start times of the last `limit` admissions.
 * A new start is allowed when the oldest of them is at least 60 s old, so no 60-second
 * window ever holds more than `limit` starts. Timer-free; the buffer grows only as far
 * as starts actually happen, so a scope that made one call holds a couple of timestamps.
 */
export class RollingWindow {
  private times: number[] = [];
  /** Starts remembered: the buffer is full once `count === limit`. */
  private count = 0;
  /** Index of the oldest time once the buffer is full. */
  private oldest = 0;

  constructor(private limit: number) {}

  /** 0 when a start is allowed now, else the ms until it will be. */
  wait(now: number): number {
    if (this.count < this.limit) return 0;
    const freeAt = this.times[this.oldest]! + WINDOW_MS;
    return freeAt > now ? freeAt - now : 0;
  }

  addStart(now: number): void {
    if (this.count < this.limit) {
      if (this.count === this.times.length) this.grow();
      this.times[this.count++] = now;
      return;
    }
    this.times[this.oldest] = now;
    this.oldest = this.oldest + 1 === this.limit ? 0 : this.oldest + 1;
  }

  /**
   * A lower bound of the wait before the caller `position` places back in line (0: next)
   * can start: the slot it needs frees when the start holding it turns 60 s old.
   */
  waitFor(position: number, now: number): number {
    const free = this.limit - this.count;
    if (position < free) return 0;
    const index = position - free;
    // Its slot is held by a start that has not happened yet: at least a full window away.
    if (index >= this.count) return WINDOW_MS;
    const freeAt = this.at(index) + WINDOW_MS;
    return freeAt > now ? freeAt - now : 0;
  }

  /** Starts still allowed in the current window. */
  remaining(now: number): number {
    // Starts are remembered oldest first: a binary search finds the first inside the window
    // (the inbound limiter reads this on every response, with limits in the thousands).
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.at(mid) > now - WINDOW_MS) high = mid;
      else low = mid + 1;
    }
    return this.limit - (this.count - low);
  }

  /** True when no start is inside the window: forgetting this window changes nothing. */
  isEmpty(now: number): boolean {
    return this.count === 0 || this.at(this.count - 1) <= now - WINDOW_MS;
  }

  reconfigure(limit: number): void {
    const ordered = Array.from({ length: this.count }, (_, i) => this.at(i));
    this.times = ordered.slice(Math.max(0, ordered.length - limit));
    this.count = this.times.length;
    this.oldest = 0;
    this.limit = limit;
  }

  /** The `index`-th oldest remembered start. */
  private at(index: number): number {
    return this.times[this.count < this.limit ? index : (this.oldest + index) % this.limit]!;
  }

  /**
   * Doubles the buffer, allocated exactly: growing by `push` would leave V8's spare
   * capacity (17 slots on the first push) in every scope that made a call.
   */
  private grow(): void {
    const grown = new Array<number>(Math.min(this.limit, Math.max(2, this.times.length * 2))).fill(0);
    for (let i = 0; i < this.count; i++) grown[i] = this.times[i]!;
    this.times = grown;
  }
}
