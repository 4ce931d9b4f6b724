// What the publisher worker tells the main thread, and how the main thread shows it in /metrics.
// The worker posts one "progress" message at most every PROGRESS_INTERVAL_MS (and one right after
// a state change that follows a quiet period), so a fast publisher costs the main thread at most
// ten messages a second, however many records it ships. Each message carries, per group, the
// shipped (acknowledged and checkpointed) sequence and the engine time of the oldest event not yet
// shipped, plus the worker's counters; the main thread keeps the latest and renders them with its
// own durable sequences (router.durable_sequence), which are fresher than the worker's.

import { assert } from "../common/assert.ts";

/** The longest a change waits before the worker reports it, and the shortest gap between reports. */
export const PROGRESS_INTERVAL_MS = 100;

export interface GroupProgress {
  group: number;
  /** The last sequence Kafka acknowledged and the checkpoint holds. */
  shipped_sequence: number;
  /**
   * Engine time (ms since the epoch, the engine's Date.now()) of the oldest durable event not yet
   * shipped, 0 when nothing is waiting. Refined each time the worker reads the group's backlog;
   * before the first read it is the time the worker learned of the backlog (an underestimate).
   */
  oldest_unshipped_time_ms: number;
  events_shipped_total: number;
  records_shipped_total: number;
}

export interface PublisherProgress {
  groups: GroupProgress[];
  /** Sends (and connection attempts) that failed. */
  send_failures_total: number;
  /** Whether the last connection attempt or send succeeded. */
  kafka_reachable: boolean;
  /** Date.now() at the last acknowledged send, 0 before the first (bench/pipeline.ts times by it). */
  last_ack_ms: number;
  /** Date.now() when the producer last connected, 0 before (bench/pipeline.ts times from it). */
  connected_ms: number;
}

export type PublisherProgressMessage = { type: "progress"; progress: PublisherProgress };

/** On the main thread: the worker's latest progress, rendered as Prometheus text. */
export class PublisherMonitor {
  private latest: PublisherProgress;

  constructor(groups: readonly [number, number][]) {
    this.latest = {
      groups: groups.map(([group, checkpoint]) => ({ group, shipped_sequence: checkpoint,
        oldest_unshipped_time_ms: 0, events_shipped_total: 0, records_shipped_total: 0 })),
      send_failures_total: 0,
      kafka_reachable: false,
      last_ack_ms: 0,
      connected_ms: 0,
    };
  }

  update(progress: PublisherProgress): void {
    // A cluster node's publisher gains a group each time one is led here; none ever leaves.
    assert(progress.groups.length >= this.latest.groups.length, "progress names every group");
    this.latest = progress;
  }

  /** Whether the worker publishes `group` (on a cluster node: led here, as last reported). */
  has_group(group: number): boolean {
    return this.latest.groups.some((g) => g.group === group);
  }

  get progress(): PublisherProgress {
    return this.latest;
  }

  /** The shipped sequence of `group` (its checkpoint at start until the worker reports). */
  shipped_sequence(group: number): number {
    const found = this.latest.groups.find((g) => g.group === group);
    assert(found !== undefined, `group ${group} is published`);
    return found.shipped_sequence;
  }

  /** Prometheus text; `durable` holds the journal's durable sequence per group index. */
  render(durable: readonly number[], now_ms: number): string {
    const out: string[] = [];
    const per_group = (name: string, type: string, help: string,
      value: (g: GroupProgress) => number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const g of this.latest.groups) out.push(`${name}{group="${g.group}"} ${value(g)}`);
    };
    const lag = (g: GroupProgress) => Math.max(0, (durable[g.group] ?? 0) - g.shipped_sequence);
    per_group("balance_publisher_shipped_sequence", "gauge",
      "The last sequence Kafka acknowledged (the publisher's checkpoint), per group.",
      (g) => g.shipped_sequence);
    per_group("balance_publisher_lag_events", "gauge",
      "Durable events not yet acknowledged by Kafka, per group.", lag);
    per_group("balance_publisher_oldest_unshipped_age_ms", "gauge",
      "Age of the oldest durable event not yet acknowledged by Kafka (0: none), per group.",
      (g) => lag(g) === 0 || g.oldest_unshipped_time_ms === 0
        ? 0 : Math.max(0, now_ms - g.oldest_unshipped_time_ms));
    per_group("balance_publisher_events_total", "counter",
      "Events acknowledged by Kafka since start, per group.", (g) => g.events_shipped_total);
    per_group("balance_publisher_records_total", "counter",
      "Kafka records acknowledged since start, per group.", (g) => g.records_shipped_total);
    out.push("# HELP balance_publisher_send_failures_total Failed Kafka sends and connection attempts.",
      "# TYPE balance_publisher_send_failures_total counter",
      `balance_publisher_send_failures_total ${this.latest.send_failures_total}`);
    out.push("# HELP balance_publisher_kafka_reachable 1 when the last Kafka request succeeded.",
      "# TYPE balance_publisher_kafka_reachable gauge",
      `balance_publisher_kafka_reachable ${this.latest.kafka_reachable ? 1 : 0}`);
    return out.join("\n");
  }
}
