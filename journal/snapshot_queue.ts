// Snapshots waiting to be written by the journal worker. A snapshot of sequence S is written only
// once the journal is durable up to S (so a snapshot never holds state the journal could lose), a
// bounded number of bytes per loop cycle (so group commits keep flowing while a big one is
// written). After it is on disk, journal segments behind the PREVIOUS snapshot are deleted: the
// reader falls back to that one if the newest turns out damaged. When a publisher runs, segments are
// also kept until the publisher's checkpoint has passed them (it reads them to produce events).

import { assert } from "../common/assert.ts";
import type { FileLayer } from "./file_layer.ts";
import type { JournalWriter } from "./journal_writer.ts";
import { SnapshotWriter } from "./snapshot_file.ts";

export const SNAPSHOT_WRITE_BYTES_PER_CYCLE = 4 * 1024 * 1024;

export interface PendingSnapshot {
  group: number;
  sequence: number;
  chunks: Uint8Array[];
  /** Called once the snapshot is on disk (or abandoned): its memory may be reused. */
  release: () => void;
}

interface ActiveSnapshot {
  snapshot: PendingSnapshot;
  writer: SnapshotWriter;
  chunk_index: number;
  chunk_offset: number;
  started_ms: number;
}

export class SnapshotQueue {
  private readonly queue: PendingSnapshot[] = [];
  private active: ActiveSnapshot | null = null;
  /** Per group, the publisher's checkpoint; null when no publisher runs (then not a bound). */
  private readonly publisher_checkpoints: Map<number, number> | null;

  constructor(
    private readonly files: FileLayer,
    private readonly writers: Map<number, JournalWriter>,
    /** Per group: its directory and the sequence of its newest snapshot on disk. */
    private readonly groups: Map<number, { dir: string; sequence: number }>,
    private readonly on_written: (group: number, sequence: number, duration_ms: number) => void,
    publisher_checkpoints: Map<number, number> | null = null,
  ) {
    this.publisher_checkpoints = publisher_checkpoints;
  }

  /** The publisher acknowledged the group through `sequence`: segments behind it may go. */
  set_publisher_checkpoint(group: number, sequence: number): void {
    assert(this.publisher_checkpoints !== null, "publisher checkpoint without a publisher");
    const previous = this.publisher_checkpoints.get(group) ?? 0;
    this.publisher_checkpoints.set(group, Math.max(previous, sequence));
  }

  /** Whether a snapshot of `group` is queued or being written. */
  has_work_for(group: number): boolean {
    return this.active?.snapshot.group === group || this.queue.some((s) => s.group === group);
  }

  add(snapshot: PendingSnapshot): void {
    assert(this.groups.has(snapshot.group), `snapshot of unknown group ${snapshot.group}`);
    this.queue.push(snapshot);
  }

  /** Does a bounded amount of snapshot work; returns whether a snapshot is still being written. */
  step(durable_by_group: Map<number, number>): boolean {
    if (this.active === null) this.active = this.begin_next(durable_by_group);
    if (this.active === null) return false;
    let budget = SNAPSHOT_WRITE_BYTES_PER_CYCLE;
    const active = this.active;
    const chunks = active.snapshot.chunks;
    while (budget > 0 && active.chunk_index < chunks.length) {
      const chunk = chunks[active.chunk_index]!;
      const end = Math.min(chunk.byteLength, active.chunk_offset + budget);
      active.writer.write_chunk(chunk.subarray(active.chunk_offset, end));
      budget -= end - active.chunk_offset;
      active.chunk_offset = end;
      if (end === chunk.byteLength) {
        active.chunk_index++;
        active.chunk_offset = 0;
      }
    }
    if (active.chunk_index === chunks.length) this.finish(active);
    return true;
  }

  private begin_next(durable_by_group: Map<number, number>): ActiveSnapshot | null {
    const index = this.queue.findIndex((s) => s.sequence <= (durable_by_group.get(s.group) ?? 0));
    if (index === -1) return null;
    const snapshot = this.queue.splice(index, 1)[0]!;
    const dir = this.groups.get(snapshot.group)!.dir;
    return {
      snapshot,
      writer: SnapshotWriter.begin(this.files, dir, snapshot.sequence),
      chunk_index: 0,
      chunk_offset: 0,
      started_ms: performance.now(),
    };
  }

  private finish(active: ActiveSnapshot): void {
    active.writer.finish();
    active.snapshot.release();
    this.active = null;
    const { group, sequence } = active.snapshot;
    const state = this.groups.get(group)!;
    const previous_sequence = state.sequence;
    state.sequence = Math.max(state.sequence, sequence);
    // Behind the previous snapshot and, when a publisher runs, behind its checkpoint too.
    const published = this.publisher_checkpoints === null ? previous_sequence
      : this.publisher_checkpoints.get(group) ?? 0;
    const deletable = Math.min(previous_sequence, published);
    if (deletable > 0) this.writers.get(group)!.delete_through(deletable);
    this.on_written(group, sequence, performance.now() - active.started_ms);
  }
}
