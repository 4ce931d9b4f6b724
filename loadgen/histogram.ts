// A log-linear latency histogram (the HDR idea, small and allocation-free): values in whole
// microseconds; below 256 us every value has its own bucket, above it each power of two is split
// into 128 equal buckets. A reported percentile is the highest value of its bucket (capped at the
// recorded maximum), so it is never below the exact value and at most 1/128 (0.78%) above it, or
// exact below 256 us. Range: 1 us .. 2^40 us (12.7 days); larger values clamp to the top bucket.

import { assert } from "../common/assert.ts";

const LINEAR_LIMIT_US = 256; // values below get one bucket each
const SUB_BUCKET_BITS = 7; // 128 buckets per power of two above LINEAR_LIMIT_US
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const LINEAR_BITS = 8; // log2(LINEAR_LIMIT_US)
const EXPONENT_MAX = 40;
const BUCKET_COUNT = LINEAR_LIMIT_US + (EXPONENT_MAX - LINEAR_BITS) * SUB_BUCKETS;
export const VALUE_US_MAX = 2 ** EXPONENT_MAX - 1;
export const HISTOGRAM_RELATIVE_ERROR = 1 / SUB_BUCKETS;

assert(LINEAR_LIMIT_US === 1 << LINEAR_BITS, "the linear range ends at a power of two");
assert(SUB_BUCKETS * 2 === LINEAR_LIMIT_US, "the first log range continues the linear one");

function bucket_of(value_us: number): number {
  if (value_us < LINEAR_LIMIT_US) return value_us;
  const exponent = Math.floor(Math.log2(value_us)); // >= LINEAR_BITS
  const shift = exponent - SUB_BUCKET_BITS;
  const mantissa = Math.floor(value_us / 2 ** shift); // [128, 256)
  // log2 of a float may round up just below a power of two: correct by the mantissa's range.
  if (mantissa < SUB_BUCKETS) return bucket_of_exponent(exponent - 1, value_us);
  if (mantissa >= 2 * SUB_BUCKETS) return bucket_of_exponent(exponent + 1, value_us);
  return LINEAR_LIMIT_US + (exponent - LINEAR_BITS) * SUB_BUCKETS + (mantissa - SUB_BUCKETS);
}

function bucket_of_exponent(exponent: number, value_us: number): number {
  const mantissa = Math.floor(value_us / 2 ** (exponent - SUB_BUCKET_BITS));
  assert(mantissa >= SUB_BUCKETS && mantissa < 2 * SUB_BUCKETS, "mantissa in range");
  return LINEAR_LIMIT_US + (exponent - LINEAR_BITS) * SUB_BUCKETS + (mantissa - SUB_BUCKETS);
}

/** The highest value that falls into `bucket`. */
function bucket_high_us(bucket: number): number {
  if (bucket < LINEAR_LIMIT_US) return bucket;
  const log_index = bucket - LINEAR_LIMIT_US;
  const exponent = LINEAR_BITS + Math.floor(log_index / SUB_BUCKETS);
  const mantissa = SUB_BUCKETS + (log_index % SUB_BUCKETS);
  const width = 2 ** (exponent - SUB_BUCKET_BITS);
  return (mantissa + 1) * width - 1;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  count = 0;
  private sum_us = 0;
  private sum_squares_us = 0;
  min_us = Infinity;
  max_us = 0;

  /** Records one value; fractions of a microsecond are rounded, values past the range clamped. */
  record_us(value_us: number): void {
    let v = Math.round(value_us);
    if (!(v >= 0)) v = 0;
    if (v > VALUE_US_MAX) v = VALUE_US_MAX;
    this.counts[bucket_of(v)]! += 1;
    this.count += 1;
    this.sum_us += v;
    this.sum_squares_us += v * v;
    if (v < this.min_us) this.min_us = v;
    if (v > this.max_us) this.max_us = v;
  }

  mean_us(): number {
    return this.count === 0 ? 0 : this.sum_us / this.count;
  }

  stdev_us(): number {
    if (this.count < 2) return 0;
    const mean = this.sum_us / this.count;
    const variance = Math.max(0, this.sum_squares_us / this.count - mean * mean);
    return Math.sqrt(variance);
  }

  /** The value at `quantile` (0 < q <= 1): the least value with q of all at or below it. */
  quantile_us(quantile: number): number {
    assert(quantile > 0 && quantile <= 1, "quantile in (0, 1]");
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(quantile * this.count));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      seen += this.counts[bucket]!;
      if (seen >= rank) return Math.min(bucket_high_us(bucket), this.max_us);
    }
    return this.max_us;
  }

  merge(other: Histogram): void {
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      this.counts[bucket]! += other.counts[bucket]!;
    }
    this.count += other.count;
    this.sum_us += other.sum_us;
    this.sum_squares_us += other.sum_squares_us;
    this.min_us = Math.min(this.min_us, other.min_us);
    this.max_us = Math.max(this.max_us, other.max_us);
  }
}
