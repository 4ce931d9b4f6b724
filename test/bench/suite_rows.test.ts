// make benchmark with BENCHMARK_RUNS: several runs of the suite become one table, each line its
// median run with the range of all runs (bench/suite_rows.ts). No timing here: rows are made up.

import { describe, expect, test } from "bun:test";
import { median_rows, type Row } from "../../bench/suite_rows.ts";

function row(what: string, value: number | null, measured = `${value} orders/s`): Row {
  return { what, command: `bun run ${what}`, measured, must_reach: "1 M", goal: "2 M", value,
    ...(value === null ? { failed: "exit 1" } : {}) };
}

describe("median_rows", () => {
  test("one run is the table as it is", () => {
    const run = [row("tcp", 800_000), row("http", 300_000)];
    expect(median_rows([run])).toBe(run);
    expect(median_rows([])).toEqual([]);
  });

  test("each line shows its median run's own text (p99 and all), then the range", () => {
    const runs = [
      [row("tcp", 700_000, "700 K orders/s, p99 19 ms"), row("http", 310_000)],
      [row("tcp", 900_000, "900 K orders/s, p99 12 ms"), row("http", 290_000)],
      [row("tcp", 800_000, "800 K orders/s, p99 15 ms"), row("http", 350_000)],
    ];
    const rows = median_rows(runs);
    expect(rows.map((r) => [r.what, r.value, r.measured])).toEqual([
      ["tcp", 800_000, "800 K orders/s, p99 15 ms; 3 runs: 700 K-900 K"],
      ["http", 310_000, "310000 orders/s; 3 runs: 290 K-350 K"],
    ]);
  });

  test("of an even count, the lower middle; millions as the table writes them", () => {
    const runs = [[row("engine", 2_900_000)], [row("engine", 2_500_000)]];
    expect(median_rows(runs)[0]!.value).toBe(2_500_000);
    expect(median_rows(runs)[0]!.measured).toBe("2500000 orders/s; 2 runs: 2.50 M-2.90 M");
  });

  test("a line that failed in any run shows the failure, not a median of the others", () => {
    const runs = [[row("pipeline", 900_000)], [row("pipeline", null, "FAILED")],
      [row("pipeline", 1_000_000)]];
    const [only] = median_rows(runs);
    expect(only!.measured).toBe("FAILED");
    expect(only!.failed).toBe("exit 1");
  });
});
