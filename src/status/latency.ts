/**
 * Latency figures without keeping samples: counts in power-of-two millisecond buckets
 * (<1, 1–2, 2–4 … ≥2^22 ms ≈ 70 min). Percentiles are interpolated inside their bucket,
 * so they are exact to within a factor of two at worst and much closer in practice.
 */
const BUCKETS = 24;

export interface LatencyFigures {
  readonly count: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

export class LatencyHistogram {
  private readonly counts: number[] = new Array<number>(BUCKETS).fill(0);
  private count = 0;
  private sum = 0;
  private max = 0;

  record(ms: number): void {
    const value = ms > 0 ? ms : 0;
    // Bucket b holds [2^(b-1), 2^b) ms; bucket 0 holds < 1 ms.
    const bucket = value < 1 ? 0 : Math.min(BUCKETS - 1, 32 - Math.clz32(value));
    this.counts[bucket]!++;
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
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
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      const inBucket = this.counts[bucket]!;
      if (seen + inBucket >= rank) {
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
