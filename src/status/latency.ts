import { unboxed } from '../limiter/compact-time.js';

/**
 * Latency figures without keeping samples: counts in power-of-two millisecond buckets
 * (<1, 1–2, 2–4 … ≥2^22 ms ≈ 70 min). Percentiles are interpolated inside their bucket,
 * so they are exact to within a factor of two at worst and much closer in practice.
 *
 * Only the range of buckets actually hit is stored (latencies of one provider span a few
 * octaves), so a scope that made one call holds one count, not a full table.
 */
const BUCKETS = 24;

/**
 * Reading the clock costs about as much as the rest of a successful call, so once a scope has
 * this many samples only one success in {@link SAMPLE_EVERY}, drawn at random, is timed: the
 * figures of a busy scope come from a sample, those of a quiet one from every call.
 */
export const TIMED_IN_FULL = 128;
export const SAMPLE_EVERY = 8;

/**
 * The draw of {@link LatencyHistogram.wantsSample}: xorshift32, one state for the process, seeded
 * at random. A sample needs no more than that; `Math.random()` would be paid by every success.
 */
let state = Math.floor(Math.random() * 0xffff_ffff) | 1;
function draw(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
}
const DRAWN_BELOW = 2 ** 32 / SAMPLE_EVERY;

export interface LatencyFigures {
  readonly count: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

export class LatencyHistogram {
  /** counts[i] is the count of bucket `low + i`. */
  private counts: number[] = [];
  private low = 0;
  private count = 0;
  private sum = 0;
  private max = 0;

  /**
   * Whether to time the next success (see {@link TIMED_IN_FULL}). Drawn at random, not every
   * eighth: a fixed stride could fall in step with a pattern of the provider's.
   */
  wantsSample(): boolean {
    return this.count < TIMED_IN_FULL || draw() < DRAWN_BELOW;
  }

  add(ms: number): void {
    const value = ms > 0 ? unboxed(ms) : 0;
    // Bucket b holds [2^(b-1), 2^b) ms; bucket 0 holds < 1 ms.
    const bucket = value < 1 ? 0 : Math.min(BUCKETS - 1, 32 - Math.clz32(value));
    if (this.counts.length === 0) this.low = bucket;
    const from = Math.min(this.low, bucket);
    const to = Math.max(this.low + this.counts.length, bucket + 1);
    if (to - from !== this.counts.length) this.widen(from, to);
    const counts = this.counts;
    counts[bucket - this.low]!++;
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
  }

  /**
   * Re-allocates the counts to cover buckets [from, to) exactly. Growing by `push` would
   * leave V8's spare capacity (17 slots on the first push) in every scope.
   */
  private widen(from: number, to: number): void {
    const counts = new Array<number>(to - from).fill(0);
    for (let i = 0; i < this.counts.length; i++) counts[this.low - from + i] = this.counts[i]!;
    this.counts = counts;
    this.low = from;
  }

  figures(): LatencyFigures {
    return {
      count: this.count,
      meanMs: this.count === 0 ? 0 : round(this.sum / this.count),
      maxMs: round(this.max),
      p50Ms: this.percentile(0.5),
      p95Ms: this.percentile(0.95),
    };
  }

  private percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = this.counts[i]!;
      if (seen + inBucket >= rank) {
        const bucket = this.low + i;
        const low = bucket === 0 ? 0 : 2 ** (bucket - 1);
        const high = Math.min(bucket === 0 ? 1 : 2 ** bucket, this.max);
        const share = inBucket === 0 ? 0 : (rank - seen) / inBucket;
        return round(low + (Math.max(high, low) - low) * share);
      }
      seen += inBucket;
    }
    return round(this.max);
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
