// The rows of `make benchmark`'s table (bench/suite.ts), and how several runs of the suite become
// one table: each line shows its median run, with the range of all runs.

export interface Row {
  what: string;
  command: string;
  measured: string;
  must_reach: string;
  goal: string;
  /** The figure scripts read (null when the step failed). */
  value: number | null;
  failed?: string;
}

const millions = (n: number) => `${(n / 1e6).toFixed(2)} M`;
const thousands = (n: number) => `${Math.round(n / 1e3)} K`;
/** A rate as the table writes it: millions from 1 M on, thousands below. */
export const rate = (n: number) => (n >= 1e6 ? millions(n) : thousands(n));

/**
 * One row per line from several runs of the suite (the same lines in the same order): the run
 * with the median value (of an even count, the lower middle), its text followed by the range of
 * all runs. A line that failed in any run shows that run's failure.
 */
export function median_rows(runs: Row[][]): Row[] {
  const first = runs[0];
  if (first === undefined) return [];
  if (runs.length === 1) return first;
  return first.map((_, line) => {
    const rows = runs.map((run) => run[line]!);
    const failed = rows.find((row) => row.value === null);
    if (failed !== undefined) return failed;
    const sorted = [...rows].sort((a, b) => a.value! - b.value!);
    const median = sorted[(sorted.length - 1) >> 1]!;
    return { ...median, measured: `${median.measured}; ${runs.length} runs: ` +
      `${rate(sorted[0]!.value!)}-${rate(sorted.at(-1)!.value!)}` };
  });
}
