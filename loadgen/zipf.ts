// A Zipf-like picker over ranks 0..n-1: rank r is drawn with weight 1 / (r + 1)^s. s = 0 is
// uniform; s = 1 over 100 partners gives the hottest 19% of draws. A cumulative table built once
// and a binary search per draw (log2 n steps, no allocation).

import { assert } from "../common/assert.ts";
import type { Prng } from "../common/prng.ts";

export class ZipfPicker {
  private readonly cdf: Float64Array;

  constructor(readonly n: number, readonly exponent: number) {
    assert(Number.isInteger(n) && n >= 1, "a Zipf picker needs at least one rank");
    assert(exponent >= 0 && Number.isFinite(exponent), "the Zipf exponent is >= 0");
    this.cdf = new Float64Array(n);
    let total = 0;
    for (let rank = 0; rank < n; rank++) {
      total += 1 / Math.pow(rank + 1, exponent);
      this.cdf[rank] = total;
    }
    for (let rank = 0; rank < n; rank++) this.cdf[rank] = this.cdf[rank]! / total;
    this.cdf[n - 1] = 1;
  }

  /** The probability of `rank`. */
  share(rank: number): number {
    assert(rank >= 0 && rank < this.n, "rank in range");
    return this.cdf[rank]! - (rank === 0 ? 0 : this.cdf[rank - 1]!);
  }

  pick(prng: Prng): number {
    const roll = prng.next_float();
    let low = 0;
    let high = this.n - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.cdf[middle]! <= roll) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
