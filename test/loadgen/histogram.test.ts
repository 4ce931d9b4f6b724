// The loadgen histogram against exact percentiles of a sorted array: never below the exact value,
// at most 1/128 above it (exact below 256 us), over several seeded distributions.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { HISTOGRAM_RELATIVE_ERROR, Histogram, VALUE_US_MAX } from "../../loadgen/histogram.ts";

const QUANTILES = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

function exact_quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

function check(values: number[], label: string): void {
  const histogram = new Histogram();
  for (const v of values) histogram.record_us(v);
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of QUANTILES) {
    const exact = exact_quantile(sorted, q);
    const reported = histogram.quantile_us(q);
    const context = `${label} q=${q}: exact ${exact}, reported ${reported}`;
    expect(reported, context).toBeGreaterThanOrEqual(exact);
    expect(reported - exact, context).toBeLessThanOrEqual(exact * HISTOGRAM_RELATIVE_ERROR);
    if (exact < 256) expect(reported, context).toBe(exact);
  }
  expect(histogram.count).toBe(values.length);
  expect(histogram.max_us).toBe(sorted.at(-1)!);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  expect(Math.abs(histogram.mean_us() - mean)).toBeLessThan(1e-6 * Math.max(1, mean));
}

describe("loadgen histogram", () => {
  for (const seed of [1, 2, 3]) {
    test(`uniform, log-uniform and long-tailed values (seed ${seed})`, () => {
      const prng = new Prng(seed);
      const uniform = Array.from({ length: 20_000 }, () => prng.int_below(5_000));
      const log_uniform = Array.from({ length: 20_000 },
        () => Math.floor(Math.exp(prng.next_float() * Math.log(1e9))));
      const tail = Array.from({ length: 20_000 },
        () => prng.chance(0.01) ? 100_000 + prng.int_below(5_000_000)
          : 500 + prng.int_below(20_000));
      check(uniform, `uniform seed ${seed}`);
      check(log_uniform, `log-uniform seed ${seed}`);
      check(tail, `tail seed ${seed}`);
    });
  }

  test("every value at the edges of the linear range and of each power of two", () => {
    const values: number[] = [];
    for (let v = 0; v < 600; v++) values.push(v);
    for (let e = 9; e < 40; e++) values.push(2 ** e - 1, 2 ** e, 2 ** e + 1);
    for (const v of values) check([v], `single ${v}`);
    check(values, "all edges");
  });

  test("clamps values past the range and rounds fractions", () => {
    const histogram = new Histogram();
    histogram.record_us(VALUE_US_MAX * 4);
    histogram.record_us(-5);
    histogram.record_us(1.4);
    expect(histogram.max_us).toBe(VALUE_US_MAX);
    expect(histogram.quantile_us(1 / 3)).toBe(0);
    expect(histogram.quantile_us(2 / 3)).toBe(1);
    expect(histogram.quantile_us(1)).toBe(VALUE_US_MAX);
  });

  test("an empty histogram answers 0", () => {
    const histogram = new Histogram();
    expect(histogram.quantile_us(0.99)).toBe(0);
    expect(histogram.mean_us()).toBe(0);
    expect(histogram.stdev_us()).toBe(0);
  });

  test("merge equals recording everything in one", () => {
    const prng = new Prng(9);
    const a = new Histogram();
    const b = new Histogram();
    const both = new Histogram();
    for (let i = 0; i < 5_000; i++) {
      const v = prng.int_below(1_000_000);
      (i % 2 === 0 ? a : b).record_us(v);
      both.record_us(v);
    }
    a.merge(b);
    for (const q of QUANTILES) expect(a.quantile_us(q)).toBe(both.quantile_us(q));
    expect(a.count).toBe(both.count);
  });
});
