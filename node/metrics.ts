// Counters and histograms for /metrics (Prometheus text format 0.0.4). Updated on the main thread
// per batch of results (a loop over status bytes), never per order allocation.

import { statfsSync } from "node:fs";
import { RESULT_FLAG_REPLAYED, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { assert } from "../common/assert.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";

const STATUS_SLOTS = 256;
const FSYNC_BUCKETS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000];
/** A committed batch: admission to durable answer (the request timeout is 5 s by default). */
const COMMIT_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]!) this.counts[i]!++;
    }
  }

  render(name: string, help: string, scale: number): string {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    this.bounds.forEach((bound, i) => lines.push(`${name}_bucket{le="${bound * scale}"} ${this.counts[i]}`));
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`);
    lines.push(`${name}_sum ${this.sum * scale}`, `${name}_count ${this.count}`);
    return lines.join("\n");
  }
}

export interface MetricsSource {
  ring_depths(): number[];
  durable_sequences(): number[];
  in_flight(): number;
}

export class Metrics {
  private readonly orders_by_status = new Float64Array(STATUS_SLOTS);
  private orders_replayed = 0;
  private readonly batches = new Map<string, number>();
  private readonly http_responses = new Map<number, number>();
  private readonly fsync = new Histogram(FSYNC_BUCKETS_MS);
  private readonly snapshot = new Histogram([10, 50, 100, 500, 1000, 5000, 30000]);
  private readonly commit = new Histogram(COMMIT_BUCKETS_MS);
  recovery_seconds = 0;
  /** Open TCP connections, once the TCP server runs (server/main.ts sets it). */
  tcp_connections: () => number = () => 0;
  private tcp_connections_refused = 0;
  /** The publisher's lines (publisher/progress.ts), once a publisher runs (service_node.ts). */
  publisher_text: () => string = () => "";
  /** A cluster node's replication figures (node/cluster_metrics.ts); empty on a single node. */
  cluster_text: () => string = () => "";
  /** DATA_DIR, whose file system's free bytes are read at each scrape (service_node.ts sets it). */
  data_dir: string | null = null;
  /** Whether journal appends fail with ENOSPC now (service_node.ts: the worker control flag). */
  disk_full: () => boolean = () => false;

  count_tcp_refused(): void {
    this.tcp_connections_refused++;
  }

  on_results(results: Uint8Array, offset: number, count: number): void {
    for (let k = 0; k < count; k++) {
      const at = offset + k * RESULT_SIZE_BYTES;
      this.orders_by_status[results[at + 32]!]!++;
      if ((results[at + 33]! & RESULT_FLAG_REPLAYED) !== 0) this.orders_replayed++;
    }
  }

  count_batch(outcome: string): void {
    this.batches.set(outcome, (this.batches.get(outcome) ?? 0) + 1);
  }

  count_http(status_code: number): void {
    this.http_responses.set(status_code, (this.http_responses.get(status_code) ?? 0) + 1);
  }

  observe_fsync(duration_ms: number): void {
    this.fsync.observe(duration_ms);
  }

  observe_snapshot(duration_ms: number): void {
    this.snapshot.observe(duration_ms);
  }

  /** RouterCounters: a committed batch answered `duration_ms` after its admission. */
  on_committed(duration_ms: number): void {
    this.commit.observe(duration_ms);
  }

  render(source: MetricsSource): string {
    const out: string[] = [];
    out.push("# HELP balance_orders_total Orders answered by the engines, by status.",
      "# TYPE balance_orders_total counter");
    for (let status = 0; status < STATUS_SLOTS; status++) {
      const count = this.orders_by_status[status]!;
      if (count > 0) out.push(`balance_orders_total{status="${Status[status] ?? status}"} ${count}`);
    }
    out.push("# HELP balance_orders_replayed_total Retries answered with their original result.",
      "# TYPE balance_orders_replayed_total counter", `balance_orders_replayed_total ${this.orders_replayed}`);
    out.push("# HELP balance_batches_total Batches received, by outcome.", "# TYPE balance_batches_total counter");
    for (const [outcome, count] of this.batches) out.push(`balance_batches_total{outcome="${outcome}"} ${count}`);
    out.push("# HELP balance_http_responses_total HTTP responses by status code.",
      "# TYPE balance_http_responses_total counter");
    for (const [code, count] of this.http_responses) out.push(`balance_http_responses_total{code="${code}"} ${count}`);
    out.push("# HELP balance_ring_depth_slots Inbound ring slots in use, per engine worker.",
      "# TYPE balance_ring_depth_slots gauge");
    source.ring_depths().forEach((depth, w) => out.push(`balance_ring_depth_slots{worker="${w}"} ${depth}`));
    out.push("# HELP balance_durable_sequence The journal's durable sequence, per group.",
      "# TYPE balance_durable_sequence gauge");
    source.durable_sequences().forEach((s, g) => out.push(`balance_durable_sequence{group="${g}"} ${s}`));
    out.push("# HELP balance_requests_in_flight Requests waiting for engines or the journal.",
      "# TYPE balance_requests_in_flight gauge", `balance_requests_in_flight ${source.in_flight()}`);
    out.push("# HELP balance_tcp_connections Open binary-protocol connections.",
      "# TYPE balance_tcp_connections gauge", `balance_tcp_connections ${this.tcp_connections()}`);
    out.push("# HELP balance_tcp_connections_refused_total Connections refused (a connection limit, or drain).",
      "# TYPE balance_tcp_connections_refused_total counter",
      `balance_tcp_connections_refused_total ${this.tcp_connections_refused}`);
    out.push(this.fsync.render("balance_journal_fsync_seconds", "Duration of one group commit (fdatasync of every group written).", 0.001));
    out.push(this.snapshot.render("balance_snapshot_write_seconds", "Duration of writing one group snapshot.", 0.001));
    out.push(this.commit.render("balance_batch_commit_seconds",
      "Time from a committed batch's admission to its durable answer (engines, journal).",
      0.001));
    this.render_disk(out);
    out.push("# HELP balance_recovery_seconds Time from start to ready (snapshot load and journal replay).",
      "# TYPE balance_recovery_seconds gauge", `balance_recovery_seconds ${this.recovery_seconds}`);
    const cluster = this.cluster_text();
    if (cluster !== "") out.push(cluster);
    const publisher = this.publisher_text();
    if (publisher !== "") out.push(publisher);
    return out.join("\n") + "\n";
  }

  /** The data directory's file system (statfs at each scrape) and the journal's disk-full flag. */
  private render_disk(out: string[]): void {
    out.push("# HELP balance_journal_disk_full 1 while journal appends fail for want of space " +
      "(writes answer 507 disk_full).", "# TYPE balance_journal_disk_full gauge",
    `balance_journal_disk_full ${this.disk_full() ? 1 : 0}`);
    if (this.data_dir === null) return;
    const fs = statfsSync(this.data_dir);
    assert(fs.frsize > 0 && fs.bavail <= fs.blocks, "statfs answers a file system's figures");
    out.push("# HELP balance_data_dir_available_bytes Bytes an unprivileged writer may still use " +
      "on DATA_DIR's file system.", "# TYPE balance_data_dir_available_bytes gauge",
    `balance_data_dir_available_bytes ${fs.bavail * fs.frsize}`);
    out.push("# HELP balance_data_dir_size_bytes Size of DATA_DIR's file system.",
      "# TYPE balance_data_dir_size_bytes gauge",
      `balance_data_dir_size_bytes ${fs.blocks * fs.frsize}`);
  }
}
