// The journal worker's state on a cluster node. Every group starts as a hot standby (recovered
// from this node's disk, its links served by the replication listener); a group this node comes
// to lead is promoted: its engine goes to an engine worker whole (engine/engine_move.ts: its
// buffers transferred, no copy, no replay),
// its journal writer to the journal loop, and a replicator streams each append to its standbys.
// What the main thread hears as durable is what is committed: durable here and acknowledged by
// every standby counted in sync (commit_tracker.ts).

import { assert } from "../../common/assert.ts";
import { Ring } from "../../common/ring.ts";
import { snapshot_buffer_bytes, snapshot_buffer_release } from "../../common/snapshot_buffer.ts";
import { WorkerControl } from "../../common/worker_control.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import { move_out_engine, transfer_list } from "../../engine/engine_move.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { JournalLoop } from "../../journal/journal_loop.ts";
import type { JournalWriter } from "../../journal/journal_writer.ts";
import { group_dir } from "../../journal/segment_names.ts";
import { SnapshotQueue } from "../../journal/snapshot_queue.ts";
import type { HolderDirectory } from "../replication/holder.ts";
import { Replicator } from "../replication/replicator.ts";
import type { StandbyAddress } from "../replication/standby_sender.ts";
import { StandbyGroup } from "../replication/standby_group.ts";
import { StandbyServer } from "../replication/standby_server.ts";
import { CommitTracker } from "./commit_tracker.ts";
import type {
  ClusterJournalInit, ClusterJournalMessage, StandbyGroupState,
} from "./messages.ts";
import { TlsWatch } from "../../auth/tls.ts";

/** How often standby reports, heard times and replication figures go to the main thread. */
export const CLUSTER_REPORT_INTERVAL_MS = 100;

export class ClusterJournal {
  private readonly files = new NodeFileLayer();
  /** Groups followed as standbys (the listener's view: a fenced or promoted group leaves it). */
  private readonly standby_groups = new Map<number, StandbyGroup>();
  private readonly all_standby_groups = new Map<number, StandbyGroup>();
  private readonly trackers = new Map<number, CommitTracker>();
  private readonly writers = new Map<number, JournalWriter>();
  private readonly snapshot_dirs = new Map<number, { dir: string; sequence: number }>();
  readonly server: StandbyServer;
  /** The replication certificate, watched for rotation; null: links in the clear. */
  private readonly tls: TlsWatch | null;
  readonly loop: JournalLoop;
  readonly snapshots: SnapshotQueue;
  private readonly committed_unposted = new Map<number, number>();
  private readonly reads_reported = new Map<number, number>();
  /** Planned handovers waiting for their journal to drain (checked every report interval). */
  private readonly drains = new Map<number, { last_sequence: number; target: number }>();
  private readonly to_follow = new Set<number>();
  private timers: ReturnType<typeof setInterval>[] = [];

  constructor(private readonly init: ClusterJournalInit, holders: HolderDirectory,
    private readonly post: (message: ClusterJournalMessage, transfer?: ArrayBuffer[]) => void,
    on_fatal: (error: unknown) => void) {
    for (let group = 0; group < init.groups; group++) {
      const standby = StandbyGroup.open({
        files: this.files, dir: group_dir(init.data_dir, group),
        make_engine: () => new GroupEngine(group, 0, init.limits),
        writer_options: { segment_size_bytes: init.segment_size_bytes,
          shared_flush: init.shared_flush },
      });
      this.standby_groups.set(group, standby);
      this.all_standby_groups.set(group, standby);
    }
    this.tls = init.tls === null ? null : new TlsWatch(init.tls);
    this.server = new StandbyServer({ node: init.node, key: init.key, disk_id: init.disk_id,
      host: init.listen_host,
      port: init.listen_port, groups: this.standby_groups, holders, tls: this.tls, on_fatal });
    // With a publisher, a led group's segments are deleted only behind what Kafka holds (none
    // before its publisher learned that: node/cluster_publisher.ts), as on a single node.
    this.snapshots = new SnapshotQueue(this.files, this.writers, this.snapshot_dirs,
      (group, sequence, duration_ms) => post({ type: "snapshot_written", group, sequence,
        duration_ms }), init.publisher ? new Map<number, number>() : null);
    this.loop = new JournalLoop({
      rings: init.rings.map((buffer) => Ring.attach(buffer, init.ring_shape)),
      engine_inbound: init.engine_inbound.map((buffer) =>
        Ring.attach(buffer, init.engine_inbound_shape)),
      writers: this.writers,
      control: new WorkerControl(init.control),
      on_durable: (durable, sync_ms) => this.on_local_durable(durable, sync_ms),
      on_cycle: (durable) => this.snapshots.step(durable),
      on_append: (group, bytes) => this.trackers.get(group)!.replicator.entries_written(bytes),
    });
  }

  standby_states(): StandbyGroupState[] {
    return [...this.all_standby_groups.values()].map((standby) => ({
      group: standby.group, durable_sequence: standby.durable_sequence,
      last_entry_epoch: standby.last_entry_epoch,
    }));
  }

  start_timers(): void {
    this.timers.push(setInterval(() => this.report(), CLUSTER_REPORT_INTERVAL_MS));
    this.timers.push(setInterval(() => {
      for (const tracker of this.trackers.values()) tracker.heartbeat();
    }, this.init.heartbeat_interval_ms));
    this.timers.push(setInterval(() => this.snapshot_standbys(), this.init.snapshot_interval_ms));
  }

  /** Every followed group is snapshotted, so a standby's journal stays bounded too. */
  private snapshot_standbys(): void {
    for (const standby of this.standby_groups.values()) {
      const started_ms = performance.now();
      const sequence = standby.write_snapshot(this.init.publisher);
      if (sequence === null) continue;
      this.post({ type: "snapshot_written", group: standby.group, sequence,
        duration_ms: performance.now() - started_ms });
    }
  }

  /** No link appends to `group` any more; answers its durable end (what a takeover records). */
  fence(group: number): number {
    const standby = this.all_standby_groups.get(group);
    assert(standby !== undefined && !this.trackers.has(group), "fence: a standby group");
    this.standby_groups.delete(group);
    this.server.close_link(group);
    return standby.sync();
  }

  unfence(group: number): void {
    const standby = this.all_standby_groups.get(group);
    assert(standby !== undefined && !this.trackers.has(group), "unfence: a standby group");
    this.standby_groups.set(group, standby);
  }

  /** The group is led here at `epoch` from now on. */
  promote(group: number, epoch: number, standbys: StandbyAddress[], counted: number[]): void {
    const standby = this.all_standby_groups.get(group);
    assert(standby !== undefined && !this.trackers.has(group), "promote: a standby group");
    this.fence(group);
    const { engine, writer } = standby.promote();
    const state = move_out_engine(engine); // the standby's engine is not used again
    const dir = group_dir(this.init.data_dir, group);
    this.snapshot_dirs.set(group, { dir, sequence: standby.snapshot_sequence });
    this.loop.add_group(group, writer);
    const replicator = new Replicator({
      files: this.files, dir, group, node: this.init.node, epoch,
      last_sequence: writer.last_sequence, standbys, key: this.init.key, tls: this.tls,
      on_ack: () => this.on_ack(group),
    });
    this.trackers.set(group, new CommitTracker(replicator, writer.synced_sequence, counted));
    replicator.start();
    this.post({ type: "promoted", group, epoch, durable_sequence: writer.synced_sequence, state },
      transfer_list(state));
  }

  /**
   * The group's publisher (on this node, its primary) has its events in Kafka through `sequence`:
   * segments here go only behind it, and the standbys hear it too (they free theirs likewise).
   */
  publisher_checkpoint(group: number, sequence: number): void {
    this.snapshots.set_publisher_checkpoint(group, sequence);
    this.trackers.get(group)?.replicator.published(sequence);
  }

  uncount(group: number, node: number): void {
    const tracker = this.trackers.get(group);
    if (tracker === undefined) return;
    const was_counted = tracker.counted_nodes().includes(node);
    tracker.uncount(node);
    // Rare and decisive for what "committed" means: the log says when commits stop waiting.
    if (was_counted) console.log(`[cluster] group ${group}: node ${node} no longer counted`);
    if (tracker.advance()) this.queue_committed(group, tracker.committed);
    this.report_reads(group, tracker);
  }

  drain(group: number, last_sequence: number, target: number): void {
    assert(this.trackers.has(group), "drain: a led group");
    this.drains.set(group, { last_sequence, target });
    this.check_drains();
  }

  add_standby(group: number, standby: StandbyAddress): void {
    const tracker = this.trackers.get(group);
    assert(tracker !== undefined, "add_standby: a led group");
    if (tracker.replicator.senders.some((s) => s.standby.node === standby.node)) return;
    tracker.replicator.add_standby(standby);
  }

  /** The group becomes a standby's again (after a handover), once no snapshot of it is pending. */
  to_standby(group: number): void {
    assert(this.trackers.has(group), "to_standby: a led group");
    this.to_follow.add(group);
    this.check_drains();
  }

  private check_drains(): void {
    for (const [group, { last_sequence, target }] of this.drains) {
      const tracker = this.trackers.get(group)!;
      const writer = this.writers.get(group)!;
      const sender = tracker.replicator.senders.find((s) => s.standby.node === target);
      if (writer.synced_sequence < last_sequence || sender === undefined ||
        sender.acked_sequence < last_sequence) continue;
      assert(writer.last_sequence === last_sequence, "nothing written after the release");
      this.drains.delete(group);
      this.post({ type: "drained", group, last_sequence });
    }
    for (const group of this.to_follow) {
      if (this.snapshots.has_work_for(group)) continue;
      this.to_follow.delete(group);
      this.follow(group);
    }
  }

  private follow(group: number): void {
    const tracker = this.trackers.get(group)!;
    tracker.replicator.stop();
    this.trackers.delete(group);
    this.drains.delete(group);
    this.reads_reported.delete(group);
    this.loop.remove_group(group);
    this.snapshot_dirs.delete(group);
    const standby = StandbyGroup.open({
      files: this.files, dir: group_dir(this.init.data_dir, group),
      make_engine: () => new GroupEngine(group, 0, this.init.limits),
      writer_options: { segment_size_bytes: this.init.segment_size_bytes,
        shared_flush: this.init.shared_flush },
    });
    this.standby_groups.set(group, standby);
    this.all_standby_groups.set(group, standby);
    this.server.follows_from_now(group);
    this.post({ type: "followed", group });
  }

  read_barrier(group: number, read_id: number): void {
    const tracker = this.trackers.get(group);
    assert(tracker !== undefined, "a read barrier of a led group");
    tracker.issue_read(read_id);
    this.report_reads(group, tracker);
  }

  private report_reads(group: number, tracker: CommitTracker): void {
    const confirmed = tracker.read_confirmed();
    if (confirmed <= (this.reads_reported.get(group) ?? 0)) return;
    this.reads_reported.set(group, confirmed);
    this.post({ type: "read_confirmed", group, read_id: confirmed });
  }

  caught_up_recorded(group: number, node: number): void {
    this.trackers.get(group)?.caught_up_recorded(node);
  }

  add_snapshot(group: number, sequence: number, buffer: SharedArrayBuffer, size_bytes: number): void {
    this.snapshots.add({ group, sequence, chunks: [snapshot_buffer_bytes(buffer, size_bytes)],
      release: () => snapshot_buffer_release(buffer) });
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const tracker of this.trackers.values()) tracker.replicator.stop();
    this.server.stop();
    for (const standby of this.all_standby_groups.values()) standby.close();
  }

  private on_local_durable(durable: Map<number, number>, sync_ms: number): void {
    const advanced: [number, number][] = [];
    for (const [group, sequence] of durable) {
      const tracker = this.trackers.get(group)!;
      tracker.on_local_durable(sequence);
      tracker.replicator.entries_durable(sequence);
      if (tracker.advance()) advanced.push([group, tracker.committed]);
    }
    if (advanced.length > 0) this.post({ type: "durable", groups: advanced, sync_ms });
  }

  private on_ack(group: number): void {
    const tracker = this.trackers.get(group)!;
    if (tracker.advance()) this.queue_committed(group, tracker.committed);
    this.report_reads(group, tracker);
  }

  // Acks of one turn go to the main thread in one message.
  private queue_committed(group: number, sequence: number): void {
    const first = this.committed_unposted.size === 0;
    this.committed_unposted.set(group, sequence);
    if (!first) return;
    setImmediate(() => {
      this.post({ type: "durable", groups: [...this.committed_unposted], sync_ms: 0 });
      this.committed_unposted.clear();
    });
  }

  private report(): void {
    this.check_drains();
    const now_ms = performance.now();
    const figures: Extract<ClusterJournalMessage, { type: "replication" }>["standbys"] = [];
    for (const [group, tracker] of this.trackers) {
      if (tracker.read_pending()) tracker.heartbeat(); // a barrier a link missed is sent again
      const counted_before = tracker.counted_nodes();
      const reports = tracker.reports(now_ms);
      log_newly_counted(group, counted_before, tracker.counted_nodes());
      for (const report of reports) {
        this.post({ type: "standby_report", group, node: report.node, state: report.state,
          disk: report.disk });
      }
      const counted = new Set(tracker.counted_nodes());
      for (const sender of tracker.replicator.senders) {
        figures.push({ group, node: sender.standby.node, counted: counted.has(sender.standby.node),
          lag_entries: tracker.replicator.written_sequence - sender.acked_sequence,
          state: sender.state });
      }
    }
    const heard: [number, number][] = [];
    for (const group of this.standby_groups.keys()) {
      heard.push([group, this.server.heard_ms_ago(group)]);
    }
    this.post({ type: "heard", groups: heard });
    this.post({ type: "replication", standbys: figures });
  }
}

/** Logs the standbys a report started counting (commits wait for them from now on). */
function log_newly_counted(group: number, before: readonly number[], after: readonly number[])
  : void {
  for (const node of after) {
    if (!before.includes(node)) console.log(`[cluster] group ${group}: node ${node} counted`);
  }
}
