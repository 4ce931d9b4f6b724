// The hot-partner picker: draws follow 1 / (rank + 1)^s within a loose tolerance (a seeded run,
// so the result is the same every time), s = 0 is uniform, and every rank can come up.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { ZipfPicker } from "../../loadgen/zipf.ts";

const DRAWS = 200_000;

function histogram(picker: ZipfPicker, seed: number): number[] {
  const prng = new Prng(seed);
  const counts = new Array<number>(picker.n).fill(0);
  for (let i = 0; i < DRAWS; i++) counts[picker.pick(prng)]!++;
  return counts;
}

describe("loadgen zipf picker", () => {
  test("shares sum to 1 and follow 1 / (rank + 1)^s", () => {
    const picker = new ZipfPicker(100, 1);
    let total = 0;
    for (let r = 0; r < 100; r++) total += picker.share(r);
    expect(Math.abs(total - 1)).toBeLessThan(1e-9);
    // H(100) = 5.187...: the hottest rank gets 1 / H(100) = 19.3%.
    expect(picker.share(0)).toBeCloseTo(0.1928, 3);
    expect(picker.share(1) / picker.share(0)).toBeCloseTo(0.5, 9);
  });

  for (const exponent of [0, 0.8, 1, 1.5]) {
    test(`draws follow the shares (s = ${exponent})`, () => {
      const picker = new ZipfPicker(50, exponent);
      const counts = histogram(picker, 42);
      for (let r = 0; r < 50; r++) {
        const expected = picker.share(r) * DRAWS;
        // 5 standard deviations of a binomial count, plus a little for tiny expectations.
        const tolerance = 5 * Math.sqrt(expected) + 5;
        expect(Math.abs(counts[r]! - expected), `rank ${r}`).toBeLessThan(tolerance);
      }
      if (exponent > 0) expect(counts[0]!).toBeGreaterThan(counts[49]!);
    });
  }

  test("one rank always picks 0; every rank of a uniform picker comes up", () => {
    const prng = new Prng(1);
    const single = new ZipfPicker(1, 1);
    for (let i = 0; i < 100; i++) expect(single.pick(prng)).toBe(0);
    const counts = histogram(new ZipfPicker(1000, 0), 5);
    expect(counts.every((c) => c > 0)).toBe(true);
  });
});
