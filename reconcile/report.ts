// What reconcile prints: per group a summary line and every difference (text), or one JSON line
// with the summaries and the differences (capped, with their count). Exit codes: docs/reconcile.md.

import type { Difference, GroupComparison, RowCounts, Value } from "./compare.ts";

/** Differences listed in the JSON line; the count says how many there were in all. */
export const JSON_DIFFERENCES_MAX = 1_000;

export const EXIT_AGREES = 0;
export const EXIT_DIFFERENT = 1;
export const EXIT_CANNOT_RUN = 2;

export interface DifferenceJson {
  group: number;
  kind: "account" | "hold";
  partner: number;
  id: string;
  field: string;
  engine: Value;
  postgres: Value;
}

export interface GroupSummaryJson {
  group: number;
  sequence: number;
  epoch: number;
  applied_sequence: number;
  accounts: RowCounts;
  holds: RowCounts;
  difference_count: number;
}

export interface ReportJson {
  ok: boolean;
  groups: GroupSummaryJson[];
  difference_count: number;
  differences: DifferenceJson[];
  /** Rows not compared because PostgreSQL had moved past the captured sequence. */
  moved_on_count: number;
}

export function exit_code_of(comparisons: readonly GroupComparison[]): number {
  return comparisons.some((c) => c.differences.length > 0) ? EXIT_DIFFERENT : EXIT_AGREES;
}

function difference_json(d: Difference): DifferenceJson {
  return { group: d.group, kind: d.kind, partner: d.partner, id: d.id.toString(), field: d.field,
    engine: d.engine, postgres: d.postgres };
}

function moved_on_count(comparisons: readonly GroupComparison[]): number {
  return comparisons.reduce((sum, c) => sum + c.accounts.moved_on + c.holds.moved_on, 0);
}

export function report_json(comparisons: readonly GroupComparison[]): ReportJson {
  const all = comparisons.flatMap((c) => c.differences);
  return {
    ok: all.length === 0,
    groups: comparisons.map((c) => ({
      group: c.group, sequence: c.sequence, epoch: c.epoch, applied_sequence: c.applied_sequence,
      accounts: c.accounts, holds: c.holds, difference_count: c.differences.length,
    })),
    difference_count: all.length,
    differences: all.slice(0, JSON_DIFFERENCES_MAX).map(difference_json),
    moved_on_count: moved_on_count(comparisons),
  };
}

function counts_text(counts: RowCounts): string {
  return `${counts.compared} compared (${counts.equal} equal, ${counts.different} different), ` +
    `${counts.moved_on} moved on, ${counts.missing_in_postgres} missing in PostgreSQL, ` +
    `${counts.missing_in_engine} missing in the engine [engine ${counts.engine}, ` +
    `PostgreSQL ${counts.postgres}]`;
}

function difference_text(d: Difference): string {
  return `  DIFF group ${d.group} ${d.kind} ${d.partner}/${d.id} ${d.field}: ` +
    `engine ${String(d.engine)}, ` +
    `PostgreSQL ${String(d.postgres)}`;
}

/** The text report, one line per summary and per difference. */
export function report_lines(comparisons: readonly GroupComparison[]): string[] {
  const lines: string[] = [];
  for (const c of comparisons) {
    lines.push(`group ${c.group} at sequence ${c.sequence} (epoch ${c.epoch}), PostgreSQL ` +
      `applied ${c.applied_sequence}`);
    lines.push(`  accounts: ${counts_text(c.accounts)}`);
    lines.push(`  open holds: ${counts_text(c.holds)}`);
    for (const d of c.differences) lines.push(difference_text(d));
  }
  const differences = comparisons.reduce((sum, c) => sum + c.differences.length, 0);
  const moved_on = moved_on_count(comparisons);
  lines.push(differences === 0
    ? `reconcile: ${comparisons.length} group(s), everything compared agrees`
    : `reconcile: ${comparisons.length} group(s), ${differences} difference(s)`);
  if (moved_on > 0) {
    lines.push(`reconcile: ${moved_on} row(s) moved on: PostgreSQL had applied later events to ` +
      "them than the captured sequence, so they were not compared (neither equal nor different)");
  }
  return lines;
}
