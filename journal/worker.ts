// Entry point of the journal worker thread: owns every group's journal files and snapshots. It
// appends what the engines hand over, fdatasyncs, reports durable sequences to the main thread,
// writes snapshots once the journal covers them, and deletes segments behind the older snapshot.
// A failed fsync, or any failure here, kills the process (docs/design.md section 4: never retried).

import { DurableBoard } from "../common/durable_board.ts";
import { Ring, type RingShape } from "../common/ring.ts";
import { WorkerControl } from "../common/worker_control.ts";
import { NodeFileLayer } from "./file_layer.ts";
import { JournalLoop } from "./journal_loop.ts";
import type { JournalRecovery } from "./journal_reader.ts";
import { JournalWriter } from "./journal_writer.ts";
import { snapshot_buffer_bytes, snapshot_buffer_release } from "../common/snapshot_buffer.ts";
import { SnapshotQueue } from "./snapshot_queue.ts";

declare const self: Worker;

export interface JournalWorkerInit {
  groups: { group: number; dir: string; recovery: JournalRecovery; snapshot_sequence: number }[];
  rings: SharedArrayBuffer[];
  ring_shape: RingShape;
  /** The engine workers' inbound rings, woken at the end of a group commit (JournalLoop). */
  engine_inbound: SharedArrayBuffer[];
  engine_inbound_shape: RingShape;
  control: SharedArrayBuffer;
  /** The groups' durable sequences for the main thread to read (common/durable_board.ts). */
  durable_board: SharedArrayBuffer;
  segment_size_bytes: number;
  /** JOURNAL_SHARED_FLUSH: groups on one disk may share a flush per commit (JournalWriterOptions). */
  shared_flush: boolean;
  /** Per group, the publisher's checkpoint at start; null when no publisher runs. */
  publisher_checkpoints: [number, number][] | null;
}

export type JournalWorkerRequest =
  | { type: "init"; init: JournalWorkerInit }
  | { type: "snapshot"; group: number; sequence: number; buffer: SharedArrayBuffer;
      size_bytes: number }
  | { type: "publisher_checkpoint"; group: number; sequence: number };

export type JournalWorkerMessage =
  | { type: "ready" }
  | { type: "durable"; groups: [number, number][]; sync_ms: number }
  | { type: "snapshot_written"; group: number; sequence: number; duration_ms: number }
  | { type: "stopped" };

function post(message: JournalWorkerMessage): void {
  self.postMessage(message);
}

let snapshots: SnapshotQueue | null = null;

/** Says how a group commit makes this node's groups durable (journal_loop.ts), for the operator. */
function describe_flushes(writers: Map<number, JournalWriter>, shared_flush: boolean): string {
  const by_disk = new Map<string, number[]>();
  for (const [group, writer] of writers) {
    const disk = writer.flush_disk ?? "none";
    by_disk.set(disk, [...by_disk.get(disk) ?? [], group]);
  }
  const parts = [...by_disk].map(([disk, groups]) => disk === "none"
    ? `groups ${groups.join(",")}: one fdatasync each (` +
      `${shared_flush ? "no shared disk flush on this file system" : "JOURNAL_SHARED_FLUSH=off"})`
    : `groups ${groups.join(",")}: one disk flush for all (${disk})`);
  return `journal commits: ${parts.join("; ")}`;
}

async function start(init: JournalWorkerInit): Promise<void> {
  const files = new NodeFileLayer();
  const board = new DurableBoard(init.durable_board);
  const writers = new Map<number, JournalWriter>();
  for (const { group, dir, recovery } of init.groups) {
    writers.set(group, JournalWriter.open(files, dir, recovery,
      { segment_size_bytes: init.segment_size_bytes, shared_flush: init.shared_flush }));
  }
  console.log(describe_flushes(writers, init.shared_flush));
  snapshots = new SnapshotQueue(files, writers,
    new Map(init.groups.map((g) => [g.group, { dir: g.dir, sequence: g.snapshot_sequence }])),
    (group, sequence, duration_ms) => post({ type: "snapshot_written", group, sequence, duration_ms }),
    init.publisher_checkpoints === null ? null : new Map(init.publisher_checkpoints));
  const loop = new JournalLoop({
    rings: init.rings.map((buffer) => Ring.attach(buffer, init.ring_shape)),
    engine_inbound: init.engine_inbound.map((buffer) =>
      Ring.attach(buffer, init.engine_inbound_shape)),
    writers,
    control: new WorkerControl(init.control),
    on_durable: (durable, sync_ms) => {
      board.publish(durable); // read by a busy main thread before this message reaches it
      post({ type: "durable", groups: [...durable], sync_ms });
    },
    on_cycle: (durable) => snapshots!.step(durable),
  });
  post({ type: "ready" });
  await loop.run();
  post({ type: "stopped" });
}

function die(error: unknown): never {
  console.error("journal worker failed, stopping the process:", error);
  process.kill(process.pid, "SIGKILL");
  throw error;
}

// A timer's or an immediate's exception would otherwise end this worker alone, silently, and
// leave the node running without its journal.
process.on("uncaughtException", die);
process.on("unhandledRejection", die);

self.onmessage = (event: MessageEvent<JournalWorkerRequest>) => {
  const request = event.data;
  if (request.type === "init") {
    start(request.init).catch(die);
    return;
  }
  if (snapshots === null) die(new Error(`${request.type} before init`));
  if (request.type === "publisher_checkpoint") {
    snapshots.set_publisher_checkpoint(request.group, request.sequence);
    return;
  }
  const { group, sequence, buffer, size_bytes } = request;
  snapshots.add({ group, sequence, chunks: [snapshot_buffer_bytes(buffer, size_bytes)],
    release: () => snapshot_buffer_release(buffer) });
};
