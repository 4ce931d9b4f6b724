// The messages between a cluster node's main thread and its journal worker (worker.ts). The
// worker owns every group's journal: the groups this node follows as hot standbys (their links
// served by the replication listener), and the groups it leads (their replicators, and what is
// committed: durable here and on every standby counted in sync).

import type { RingShape } from "../../common/ring.ts";
import type { GroupEngineState } from "../../engine/engine_move.ts";
import type { GroupLimits } from "../../engine/rules.ts";
import type { GroupHolder } from "../replication/holder.ts";
import type { StandbyAddress } from "../replication/standby_sender.ts";
import type { TlsFiles } from "../../auth/tls.ts";

export interface ClusterJournalInit {
  groups: number;
  data_dir: string;
  limits: GroupLimits;
  rings: SharedArrayBuffer[];
  ring_shape: RingShape;
  /** The engine workers' inbound rings, woken at the end of a group commit (JournalLoop). */
  engine_inbound: SharedArrayBuffer[];
  engine_inbound_shape: RingShape;
  control: SharedArrayBuffer;
  segment_size_bytes: number;
  /** JOURNAL_SHARED_FLUSH: groups on one disk may share a flush per commit (JournalWriterOptions). */
  shared_flush: boolean;
  /** This node's number on replication links (node_number of NODE_ID). */
  node: number;
  key: Uint8Array;
  /** Replication links in mutual TLS with these files (the worker watches them); null: clear. */
  tls: TlsFiles | null;
  /** This node's disk id: told to every primary, which records it in sync with it. */
  disk_id: string;
  listen_host: string;
  listen_port: number;
  /** How often each followed group is snapshotted (SNAPSHOT_INTERVAL_MS). */
  snapshot_interval_ms: number;
  /** How often a primary tells idle standbys it is alive (a third of a lease). */
  heartbeat_interval_ms: number;
  /**
   * Whether a publisher runs (KAFKA_BROKERS): then a group's segments wait for it too, on its
   * primary (its own checkpoint) and on its standbys (the primary's `published` frames).
   */
  publisher: boolean;
}

export type ClusterJournalRequest =
  | { type: "init"; init: ClusterJournalInit }
  | { type: "snapshot"; group: number; sequence: number; buffer: SharedArrayBuffer;
      size_bytes: number }
  /** The answer to a who_holds (null: no holder recorded; error: the control plane unreachable). */
  | { type: "holder"; request_id: number; holder: GroupHolder | null; error: string | null }
  /** Before a takeover: no link may append to the group until it is promoted or unfenced. */
  | { type: "fence"; group: number }
  | { type: "unfence"; group: number }
  | { type: "promote"; group: number; epoch: number; standbys: StandbyAddress[];
      counted: number[] }
  /** The control plane recorded the standby out of sync: commits stop waiting for it. */
  | { type: "uncount"; group: number; node: number }
  | { type: "caught_up_recorded"; group: number; node: number }
  /**
   * A planned handover: answered `drained` once the group's journal holds `last_sequence` (the
   * engine released the group there), durably, and `target` acknowledged all of it.
   */
  | { type: "drain"; group: number; last_sequence: number; target: number }
  /** A node added to a led group's members: its sender starts (it catches up as a standby). */
  | { type: "add_standby"; group: number; standby: StandbyAddress }
  /** The group is followed again: its replicator stops, its journal becomes a standby's. */
  | { type: "to_standby"; group: number }
  /** A read barrier of a led group: answered read_confirmed once every counted standby confirms. */
  | { type: "read_barrier"; group: number; read_id: number }
  /** Kafka holds the led group's events through `sequence`: segments behind it may go. */
  | { type: "publisher_checkpoint"; group: number; sequence: number };

export interface StandbyGroupState {
  group: number;
  durable_sequence: number;
  last_entry_epoch: number;
}

export type ClusterJournalMessage =
  | { type: "ready"; groups: StandbyGroupState[]; replication_port: number }
  /** Committed sequences per group that advanced (durable here and on every counted standby). */
  | { type: "durable"; groups: [number, number][]; sync_ms: number }
  | { type: "snapshot_written"; group: number; sequence: number; duration_ms: number }
  | { type: "who_holds"; request_id: number; group: number }
  /** caught_up: on `disk` (the standby's own word in its catch_up), it holds all committed. */
  | { type: "standby_report"; group: number; node: number; state: "caught_up" | "lagging";
      disk: string }
  /** Per standby group: how long ago its primary was last heard on the replication link. */
  | { type: "heard"; groups: [number, number][] }
  | { type: "fenced"; group: number; durable_sequence: number }
  /** The group's engine, moved whole (its buffers transferred), for the worker that will lead it. */
  | { type: "promoted"; group: number; epoch: number; durable_sequence: number;
      state: GroupEngineState }
  /** Replication figures per led group and standby, for /metrics. */
  | { type: "replication"; standbys: { group: number; node: number; lag_entries: number;
      counted: boolean; state: string }[] }
  | { type: "drained"; group: number; last_sequence: number }
  | { type: "followed"; group: number }
  /** Every counted standby confirmed the group's read barriers up to read_id. */
  | { type: "read_confirmed"; group: number; read_id: number }
  | { type: "stopped" };
