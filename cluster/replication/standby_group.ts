// A group as a standby holds it: its journal (appended by the link, fsynced before any ack) and a
// hot GroupEngine that applies every entry by its recorded outcome as it arrives (replay_entry: it
// never decides an order), so a takeover needs no replay. It also remembers the highest epoch it
// accepted and from which node: the fence the links check.

import { assert } from "../../common/assert.ts";
import { JOURNAL_ENTRY_HEADER_BYTES } from "../../common/constants.ts";
import type { GroupEngine } from "../../engine/group_engine.ts";
import { replay_entry } from "../../engine/replay.ts";
import { restore_snapshot } from "../../engine/snapshot.ts";
import { DiskFullError, type FileLayer } from "../../journal/file_layer.ts";
import { ChunkReader, read_journal } from "../../journal/journal_reader.ts";
import { JournalWriter, type JournalWriterOptions } from "../../journal/journal_writer.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { sync_journals } from "../../journal/sync_journals.ts";
import {
  list_snapshots, publish_snapshot_file, read_newest_snapshot, SnapshotWriter,
  stage_snapshot_file,
} from "../../journal/snapshot_file.ts";
import { capture_snapshot } from "../../engine/snapshot.ts";
import {
  entry_header_empty, entry_last_sequence, read_entry_header,
} from "../../schema/journal_entry_layout.ts";
import { ErrorCode } from "./frame_layout.ts";
import type { GroupHolder } from "./holder.ts";
import { cut_journal_tail } from "./journal_tail.ts";

export interface StandbyGroupOptions {
  files: FileLayer;
  dir: string;
  /** A fresh engine of the group (its limits), epoch 0: rebuilt from disk after a tail cut. */
  make_engine: () => GroupEngine;
  writer_options?: JournalWriterOptions;
}

/** No node accepted yet in this process (after a start, the control plane is asked). */
const NODE_UNKNOWN = -1;

export class StandbyGroup {
  engine: GroupEngine;
  private writer: JournalWriter;
  /** The highest epoch accepted, and the node that writes it (NODE_UNKNOWN after a start). */
  highest_epoch = 0;
  highest_node = NODE_UNKNOWN;
  /** The epoch of the journal's last entry (epochs never decrease along a journal). */
  last_entry_epoch = 0;
  /**
   * Where the journal's entries of last_entry_epoch begin: the run cut_diverged removes. 1 when
   * the run reaches back into the snapshot recovery started from (where it began is not known).
   */
  private last_epoch_first_sequence = 1;
  /** The sequence of the snapshot the last recovery started from (0: none). */
  snapshot_sequence = 0;
  /** Set once the group became a primary's: its engine and journal writer belong to others. */
  private promoted = false;
  /** How far the primary's publisher is in Kafka, as it last said (0: not told since start). */
  published_sequence = 0;
  private readonly reader = new ChunkReader();
  private readonly header = entry_header_empty();

  private constructor(private readonly options: StandbyGroupOptions) {
    const { engine, writer } = this.recover();
    this.engine = engine;
    this.writer = writer;
  }

  /** Recovers the group from its directory (snapshot, then journal), as a restart does. */
  static open(options: StandbyGroupOptions): StandbyGroup {
    options.files.mkdir_p(options.dir);
    return new StandbyGroup(options);
  }

  get group(): number {
    return this.engine.group;
  }

  /** The last sequence journaled (durable or not). */
  get last_sequence(): number {
    return this.writer.last_sequence;
  }

  get durable_sequence(): number {
    return this.writer.synced_sequence;
  }

  /** Whether a link of (epoch, node) may go on without asking the control plane. */
  is_current_writer(epoch: number, node: number): boolean {
    return epoch === this.highest_epoch && node === this.highest_node;
  }

  /** Accepts the recorded holder's epoch: cuts entries of older epochs from its first sequence
   * on (and the snapshots past it), then rebuilds the engine from what remains. */
  accept_holder(holder: GroupHolder): void {
    assert(holder.epoch >= this.highest_epoch, "epochs accepted only grow");
    assert(holder.epoch >= this.last_entry_epoch, "the journal holds no later epoch");
    this.highest_epoch = holder.epoch;
    this.highest_node = holder.node;
    if (this.last_entry_epoch === holder.epoch) return; // all of this epoch is the holder's
    if (this.writer.last_sequence < holder.first_sequence) return;
    this.cut_tail(holder.first_sequence);
    assert(this.writer.last_sequence < holder.first_sequence, "the tail is cut");
  }

  /**
   * The holder of `link_epoch` refused this journal's end as not its own (`diverged`): this node
   * missed an epoch's first sequence (down or deposed while the group was taken over twice), so
   * accept_holder cut too little. Its entries of the last epoch it holds go, as a run: where they
   * part from the holder's journal is not known here. None of what goes past that point was
   * committed (the holder's journal holds everything committed); what comes before it the holder
   * sends again. Until this node has caught up past the epoch's first sequence it cannot take
   * the group over (take_over_lease refuses `sequence_behind`). Each refusal cuts one epoch's
   * run, so links converge on the last entry both journals share (or an empty journal).
   */
  cut_diverged(link_epoch: number): void {
    assert(!this.promoted, "a promoted group takes no link");
    // The link's own epoch's entries are the holder's: its refusal has another cause.
    if (this.last_entry_epoch >= link_epoch || this.writer.last_sequence === 0) return;
    const [end, epoch] = [this.writer.last_sequence, this.last_entry_epoch];
    this.cut_tail(this.last_epoch_first_sequence);
    console.log(`[cluster] group ${this.group}: the journal's end ${end} (epoch ${epoch}) is not ` +
      `epoch ${link_epoch}'s holder's: epoch ${epoch}'s entries cut, the journal ends at ` +
      `${this.writer.last_sequence} (epoch ${this.last_entry_epoch})`);
  }

  // Removes every entry reaching `cut_sequence` (and the snapshots past it), then rebuilds the
  // engine and the writer from what remains.
  private cut_tail(cut_sequence: number): void {
    this.writer.sync();
    this.writer.close();
    cut_journal_tail(this.options.files, this.options.dir, cut_sequence, this.reader);
    const { engine, writer } = this.recover();
    this.engine = engine;
    this.writer = writer;
  }

  /**
   * Checks an entries frame's body (whole entries of this group continuing the journal, epochs
   * never decreasing and none above the link's, ending at `last_sequence`) before anything
   * changes; ErrorCode.none if good.
   */
  check_entries(view: DataView, offset: number, size_bytes: number, link_epoch: number,
    last_sequence: number): ErrorCode {
    const header = this.header;
    let expected = this.writer.last_sequence + 1;
    let epoch = this.last_entry_epoch;
    let at = offset;
    while (at < offset + size_bytes) {
      if (read_entry_header(view, at, offset + size_bytes - at, header) !== "ok") {
        return ErrorCode.bad_entry;
      }
      if (header.first_sequence !== expected) return ErrorCode.sequence_gap;
      if (header.group !== this.group) return ErrorCode.bad_entry;
      if (header.epoch < epoch || header.epoch > link_epoch) return ErrorCode.bad_entry;
      epoch = header.epoch;
      expected = entry_last_sequence(header) + 1;
      at += JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
    }
    return expected - 1 === last_sequence ? ErrorCode.none : ErrorCode.bad_entry;
  }

  /** Journals the entries check_entries accepted, then applies them to the engine. */
  append_entries(view: DataView, offset: number, size_bytes: number): void {
    assert(!this.promoted, "a promoted group takes no replicated entries");
    const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, size_bytes);
    this.writer.append(bytes);
    const header = this.header;
    for (let at = offset; at < offset + size_bytes;) {
      const result = read_entry_header(view, at, offset + size_bytes - at, header);
      assert(result === "ok", "a journaled entry reads back");
      replay_entry(this.engine, header, view, at + JOURNAL_ENTRY_HEADER_BYTES);
      this.note_entry_epoch(header.epoch, header.first_sequence);
      at += JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
    }
    assert(this.engine.last_sequence === this.writer.last_sequence, "engine and journal agree");
  }

  /**
   * Snapshots the hot engine at its last sequence (the journal made durable first), and deletes
   * the journal segments behind the previous snapshot, as a primary does; with a `publisher`
   * (Kafka), only behind what the primary said its publisher has there, too.
   * Written whole, on the caller's thread: no link appends meanwhile, and no tail cut can fall
   * between the state taken and the file written. Returns the snapshot's sequence, or null when
   * nothing was applied since the last one or the disk is full.
   */
  write_snapshot(publisher: boolean): number | null {
    if (this.promoted) return null;
    const sequence = this.engine.last_sequence;
    if (sequence <= this.snapshot_sequence) return null;
    this.writer.sync();
    const { files, dir } = this.options;
    let writer: SnapshotWriter | null = null;
    try {
      writer = SnapshotWriter.begin(files, dir, sequence);
      for (const chunk of capture_snapshot(this.engine)) writer.write_chunk(chunk);
      writer.finish();
    } catch (error) {
      if (!(error instanceof DiskFullError)) throw error;
      writer?.abort(); // a full disk: no snapshot this time; the journal keeps everything
      return null;
    }
    const previous = this.snapshot_sequence;
    this.snapshot_sequence = sequence;
    // With a publisher, also behind what Kafka holds: a successor's publisher resumes from there.
    const free_through = publisher ? Math.min(previous, this.published_sequence) : previous;
    if (free_through > 0) this.writer.delete_through(free_through);
    return sequence;
  }

  /**
   * Replaces all this standby holds by its primary's snapshot of `sequence` (a whole file that
   * decode_snapshot accepts, of this group, past this journal's end): the journal and snapshots
   * here do not continue it, so they go; the engine is rebuilt from it and a fresh journal
   * continues at sequence + 1. Order, for crashes: the file is staged (synced under its temporary
   * name; a full disk stops here with nothing changed), every segment and snapshot is deleted,
   * then the file is named: a crash part-way leaves an older, shorter state (this standby is out
   * of sync: it lacked what the snapshot holds), never a journal that does not continue its
   * snapshot. Returns the durable sequence, the snapshot's.
   */
  install_snapshot(sequence: number, file_bytes: Uint8Array): number {
    assert(!this.promoted, "a promoted group takes no snapshot from a primary");
    assert(sequence > this.writer.last_sequence, "a snapshot past this journal's end");
    const { files, dir } = this.options;
    stage_snapshot_file(files, dir, sequence, file_bytes);
    this.writer.close(); // unsynced entries go too: all of them are deleted
    for (const segment of list_segments(files, dir)) files.unlink(`${dir}/${segment.name}`);
    for (const snapshot of list_snapshots(files, dir)) files.unlink(`${dir}/${snapshot.name}`);
    files.fsync_dir(dir);
    publish_snapshot_file(files, dir, sequence);
    const { engine, writer } = this.recover();
    this.engine = engine;
    this.writer = writer;
    assert(this.snapshot_sequence === sequence && writer.last_sequence === sequence,
      "the engine and the journal continue the snapshot");
    return writer.synced_sequence;
  }

  /** The primary's publisher has the group's events in Kafka through `sequence`. */
  published(sequence: number): void {
    this.published_sequence = Math.max(this.published_sequence, sequence);
  }

  /** Makes every appended entry durable; returns the durable sequence (what may be acked). */
  sync(): number {
    return this.writer.sync();
  }

  /**
   * sync() for several groups at once, flushing each disk's cache once (sync_journals.ts). A
   * promoted group is left out: its journal is the primary side's now.
   */
  static sync_all(groups: Iterable<StandbyGroup>): void {
    const writers: [number, JournalWriter][] = [];
    for (const group of groups) {
      if (!group.promoted) writers.push([group.group, group.writer]);
    }
    sync_journals(writers);
  }

  close(): void {
    if (!this.promoted) this.writer.close();
  }

  /**
   * The group is led here from now on: everything appended is made durable, and the engine and
   * the journal writer go to their primary-side owners (the engine by a state copy, the writer to
   * the journal loop). The standby side never touches either again.
   */
  promote(): { engine: GroupEngine; writer: JournalWriter } {
    assert(!this.promoted, "promoted once");
    this.writer.sync();
    this.promoted = true;
    return { engine: this.engine, writer: this.writer };
  }

  // The newest snapshot, then the journal after it by recorded outcomes (the torn tail cut).
  private recover(): { engine: GroupEngine; writer: JournalWriter } {
    const { files, dir } = this.options;
    const engine = this.options.make_engine();
    assert(engine.last_sequence === 0, "a fresh engine");
    const snapshot = read_newest_snapshot(files, dir);
    if (snapshot !== null) restore_snapshot(engine, snapshot.bytes);
    this.snapshot_sequence = engine.last_sequence;
    this.last_entry_epoch = engine.epoch;
    this.last_epoch_first_sequence = 1;
    const recovery = read_journal(files, dir, engine.last_sequence, (view, offset, header) => {
      assert(header.first_sequence === engine.last_sequence + 1, "entry straddles the snapshot");
      replay_entry(engine, header, view, offset + JOURNAL_ENTRY_HEADER_BYTES);
      this.note_entry_epoch(header.epoch, header.first_sequence);
    });
    assert(recovery.last_sequence === engine.last_sequence, "replay reached the journal's end");
    this.highest_epoch = Math.max(this.highest_epoch, this.last_entry_epoch);
    const writer = JournalWriter.open(files, dir, recovery, this.options.writer_options);
    return { engine, writer };
  }

  private note_entry_epoch(epoch: number, first_sequence: number): void {
    if (epoch !== this.last_entry_epoch) this.last_epoch_first_sequence = first_sequence;
    this.last_entry_epoch = epoch;
  }
}
