// What "committed" means for one group this node leads (docs/cluster.md "Committed"): durable
// here AND acknowledged as durable by every standby counted in sync. A standby is counted from
// the moment its sender streams live and its acks advance (so whatever commits from then on
// waits for it; a half-open link whose acks stall is not counted again and again), and is
// reported caught up for the control plane only once it acknowledged everything committed
// before it was counted. A counted standby that leaves an entry durable here unacknowledged for
// REPLICATION_ACK_TIMEOUT_MS, or a read barrier unconfirmed as long, is reported lagging; it
// stops being counted only when the node says the control plane recorded it out of sync, and
// until then nothing more commits (and no read is answered).

import { assert } from "../../common/assert.ts";
import type { Replicator } from "../replication/replicator.ts";
import type { StandbySender } from "../replication/standby_sender.ts";

/** A counted standby that leaves a durable entry unacknowledged this long is lagging. */
export const REPLICATION_ACK_TIMEOUT_MS = 500;

export type StandbyReport = { node: number; state: "caught_up" | "lagging"; disk: string };

interface Counted {
  /** Reported caught up once acked reaches this (committed when it was counted). */
  caught_up_at: number;
  caught_up_reported: boolean;
  /** An entry durable here it has not acknowledged yet, and since when (performance.now()). */
  waiting_for: number;
  waiting_since_ms: number;
  /** A read barrier it has not confirmed yet, and since when (a dead standby with no writes). */
  read_waiting_for: number;
  read_since_ms: number;
  /** The sender's streams_count when last reported: a new link may be a new disk. */
  streams_seen: number;
}

export class CommitTracker {
  private local_durable: number;
  private committed_sequence: number;
  private readonly counted = new Map<number, Counted>();
  private read_issued = 0;
  /** Uncounted standbys: the ack last seen at a report (counted again only if acks move). */
  private readonly acked_seen = new Map<number, number>();

  constructor(readonly replicator: Replicator, durable_sequence: number,
    counted_at_start: readonly number[]) {
    this.local_durable = durable_sequence;
    this.committed_sequence = durable_sequence;
    for (const node of counted_at_start) {
      // Reported again once its link streams: the set may name a disk it no longer runs on.
      this.counted.set(node, { caught_up_at: 0, caught_up_reported: true, waiting_for: 0,
        waiting_since_ms: 0, streams_seen: 0, read_waiting_for: 0, read_since_ms: 0 });
    }
  }

  get committed(): number {
    return this.committed_sequence;
  }

  counted_nodes(): number[] {
    return [...this.counted.keys()];
  }

  on_local_durable(sequence: number): void {
    assert(sequence >= this.local_durable, "durable never goes back");
    this.local_durable = sequence;
  }

  /**
   * A read barrier (docs/cluster.md "Reads"): every counted standby is asked, in one round trip,
   * whether it still follows this epoch. With none counted this node is the whole in-sync set:
   * nobody can take the group over, so it is confirmed at once.
   */
  issue_read(read_id: number): void {
    assert(read_id > this.read_issued, "read barriers grow");
    this.read_issued = read_id;
    for (const sender of this.replicator.senders) {
      if (this.counted.has(sender.standby.node)) sender.heartbeat(read_id);
    }
  }

  /**
   * Heartbeats every standby (the replicator's timer); while a read barrier is unconfirmed it
   * rides along, so a standby whose link was down when the barrier was issued gets it now.
   */
  heartbeat(): void {
    this.replicator.heartbeat(this.read_pending() ? this.read_issued : 0);
  }

  read_pending(): boolean {
    return this.read_confirmed() < this.read_issued;
  }

  /** The newest read barrier every counted standby confirmed. */
  read_confirmed(): number {
    let confirmed = this.read_issued;
    for (const sender of this.replicator.senders) {
      if (this.counted.has(sender.standby.node)) {
        confirmed = Math.min(confirmed, sender.confirmed_read_id);
      }
    }
    return confirmed;
  }

  /** The control plane recorded `node` out of sync: commits stop waiting for it. */
  uncount(node: number): void {
    this.counted.delete(node);
  }

  /** Recomputes the committed sequence; true when it advanced. */
  advance(): boolean {
    let committed = this.local_durable;
    for (const sender of this.replicator.senders) {
      if (this.counted.has(sender.standby.node)) committed = Math.min(committed, sender.acked_sequence);
    }
    if (committed <= this.committed_sequence) return false;
    this.committed_sequence = committed;
    return true;
  }

  /** What the node should record in the control plane now (called every report interval). */
  reports(now_ms: number): StandbyReport[] {
    const reports: StandbyReport[] = [];
    for (const sender of this.replicator.senders) {
      const node = sender.standby.node;
      const counted = this.counted.get(node);
      if (counted === undefined) {
        const acks_move = sender.acked_sequence >= this.local_durable ||
          sender.acked_sequence > (this.acked_seen.get(node) ?? 0);
        this.acked_seen.set(node, sender.acked_sequence);
        if (sender.state === "live" && acks_move) this.count(node);
        continue;
      }
      if (counted.streams_seen !== sender.streams_count) {
        // A new link (maybe a restarted node on a new disk): recorded again, with the disk it
        // names, once it holds everything committed now.
        counted.streams_seen = sender.streams_count;
        counted.caught_up_reported = false;
        counted.caught_up_at = this.committed_sequence;
      }
      const disk = sender.standby_disk;
      if (!counted.caught_up_reported && sender.acked_sequence >= counted.caught_up_at &&
        disk !== "") {
        reports.push({ node, state: "caught_up", disk });
      }
      if (this.lagging(sender, counted, now_ms)) reports.push({ node, state: "lagging", disk });
    }
    return reports;
  }

  /** The node recorded `node` in sync. */
  caught_up_recorded(node: number): void {
    const counted = this.counted.get(node);
    if (counted !== undefined) counted.caught_up_reported = true;
  }

  private count(node: number): void {
    this.counted.set(node, { caught_up_at: this.committed_sequence, caught_up_reported: false,
      waiting_for: 0, waiting_since_ms: 0, streams_seen: 0, read_waiting_for: 0, read_since_ms: 0 });
  }

  // Lagging: an entry durable here, or a read barrier, left unacknowledged for
  // REPLICATION_ACK_TIMEOUT_MS (with no writes a dead standby is found by the reads it holds up).
  private lagging(sender: StandbySender, counted: Counted, now_ms: number): boolean {
    const entries = this.entries_overdue(sender, counted, now_ms);
    return this.read_overdue(sender, counted, now_ms) || entries;
  }

  private read_overdue(sender: StandbySender, counted: Counted, now_ms: number): boolean {
    if (sender.confirmed_read_id >= this.read_issued) {
      counted.read_waiting_for = 0;
      return false;
    }
    if (counted.read_waiting_for === 0 || sender.confirmed_read_id >= counted.read_waiting_for) {
      counted.read_waiting_for = this.read_issued;
      counted.read_since_ms = now_ms;
      return false;
    }
    return now_ms - counted.read_since_ms >= REPLICATION_ACK_TIMEOUT_MS;
  }

  private entries_overdue(sender: StandbySender, counted: Counted, now_ms: number): boolean {
    if (sender.acked_sequence >= this.local_durable) {
      counted.waiting_for = 0;
      return false;
    }
    if (counted.waiting_for === 0 || sender.acked_sequence >= counted.waiting_for) {
      counted.waiting_for = this.local_durable;
      counted.waiting_since_ms = now_ms;
      return false;
    }
    return now_ms - counted.waiting_since_ms >= REPLICATION_ACK_TIMEOUT_MS;
  }
}
