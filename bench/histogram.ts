/**
 * Fixed-bucket latency histogram: buckets grow geometrically by 1 %, so a recorded value costs one log and one
 * array increment, and percentiles are accurate to about 1 % from 1 µs up to MAX_MS.
 */

const MIN_MS = 0.001;
const MAX_MS = 60_000;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_GROWTH) + 1;

function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
}

/** Upper bound of a bucket, so reported percentiles never understate. */
function upperBoundOf(bucket: number): number {
  return MIN_MS * GROWTH ** bucket;
}

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private total = 0;

  record(ms: number): void {
    const bucket = bucketOf(ms);
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.total += 1;
  }

  get count(): number {
    return this.total;
  }

  /** The latency in ms at or below which `fraction` (0..1) of the recorded values fall; 0 when empty. */
  percentile(fraction: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.total));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.counts[bucket] ?? 0;
      if (seen >= rank) return upperBoundOf(bucket);
    }
    return MAX_MS;
  }
}
