// The projector's figures for GET /metrics on its read API (Prometheus text format 0.0.4): per
// group (= partition), the applied sequence the last committed batch left in PostgreSQL, the events
// it wrote since start, and when it last committed a batch. Fed by start_projector's on_applied on
// the consumer's path, once per committed batch; a group appears after its first batch since start.
// Its lag is the node's balance_publisher_shipped_sequence minus balance_projector_applied_sequence
// (docs/monitoring.md).

import { assert } from "../common/assert.ts";
import type { AppliedBatch } from "./consumer.ts";

interface GroupFigures {
  applied_sequence: number;
  events_applied_total: number;
  last_batch_time_s: number;
}

export class ProjectorMetrics {
  private readonly groups = new Map<number, GroupFigures>();
  private batches_total = 0;

  /** One committed batch of `applied.partition` (the engine group). */
  on_applied(applied: AppliedBatch, now_ms: number): void {
    const group = applied.partition;
    const figures = this.groups.get(group) ??
      { applied_sequence: 0, events_applied_total: 0, last_batch_time_s: 0 };
    assert(applied.result.sequence >= figures.applied_sequence, "applied sequence never goes back");
    figures.applied_sequence = applied.result.sequence;
    figures.events_applied_total += applied.result.applied_count;
    figures.last_batch_time_s = now_ms / 1000;
    this.groups.set(group, figures);
    this.batches_total++;
  }

  render(): string {
    const out: string[] = [];
    const per_group = (name: string, type: string, help: string,
      value: (g: GroupFigures) => number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [group, g] of this.groups) out.push(`${name}{group="${group}"} ${value(g)}`);
    };
    per_group("balance_projector_applied_sequence", "gauge",
      "The group's applied sequence in PostgreSQL after the last committed batch.",
      (g) => g.applied_sequence);
    per_group("balance_projector_events_applied_total", "counter",
      "Events written to PostgreSQL since start (repeats skipped by the fence not counted).",
      (g) => g.events_applied_total);
    per_group("balance_projector_last_batch_timestamp_seconds", "gauge",
      "Unix time of the group's last committed batch.", (g) => g.last_batch_time_s);
    out.push("# HELP balance_projector_batches_total Batches committed since start.",
      "# TYPE balance_projector_batches_total counter",
      `balance_projector_batches_total ${this.batches_total}`);
    return out.join("\n") + "\n";
  }
}
