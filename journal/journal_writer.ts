// The append side of one group's journal: whole entries go into preallocated segment files.
//
// Why preallocate (write zeros, then fdatasync, before a segment is used): appending to a file that
// grows makes every fdatasync also flush the new size and block allocation (a file system journal
// commit: twice the I/O, and slower). Writing over blocks that already exist lets fdatasync flush
// only data. It also moves ENOSPC to preallocation time, before any entry is written, and zeros
// after the last entry are what recovery reads as "the end" (fallocate would not do: its unwritten
// extents are converted on first write, which again is a metadata update).
//
// The next segment is prepared under a temporary name (ideally when idle, via
// prepare_next_segment), synced, and only renamed to its real name (then the directory synced) at
// rollover: a crash can leave a partly zeroed temporary file, never a partly zeroed segment.

import { assert } from "../common/assert.ts";
import {
  JOURNAL_APPEND_BYTES_MAX,
  JOURNAL_ENTRY_HEADER_BYTES,
  JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT,
  JOURNAL_SEGMENT_SIZE_BYTES_MAX,
  JOURNAL_SEGMENT_SIZE_BYTES_MIN,
} from "../common/constants.ts";
import {
  entry_header_empty, entry_last_sequence, read_entry_header, stamp_synced_sequence,
} from "../schema/journal_entry_layout.ts";
import { FsyncFailedError, type FileLayer } from "./file_layer.ts";
import type { JournalRecovery } from "./journal_reader.ts";
import {
  list_segments,
  segment_name,
  SEGMENT_PREPARED_NAME,
} from "./segment_names.ts";

export interface JournalWriterOptions {
  /** Size of each new segment file; default JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT (16 MiB). */
  segment_size_bytes?: number;
  /** Whether this journal may share a disk flush with others (default true; false: it is
   * always fdatasynced on its own, JOURNAL_SHARED_FLUSH=off). */
  shared_flush?: boolean;
}

const PREALLOCATE_CHUNK_BYTES = 1 << 20;
let zeros_shared: Uint8Array | null = null; // read-only, one per process, not one per group

function zeros(): Uint8Array {
  zeros_shared ??= new Uint8Array(PREALLOCATE_CHUNK_BYTES);
  return zeros_shared;
}

export class JournalWriter {
  private fd: number | null = null; // the current segment
  private current_name: string | null = null;
  private capacity_bytes = 0; // the current segment's file size
  private offset_bytes = 0; // where the next entry goes in the current segment
  private written_sequence: number; // last sequence appended
  private durable_sequence: number; // last sequence covered by a completed sync
  private durable_offset_bytes = 0; // the current segment's bytes covered by it
  private written_out_sequence = 0; // last sequence write_out sent to the disk
  private written_out_offset_bytes = 0;
  /** The disk whose one flush covers this journal's write_out, or null (disk_flush_scope.ts). */
  readonly flush_disk: string | null;
  private prepared = false; // SEGMENT_PREPARED_NAME exists, zeroed in full and synced
  private prepare_fd: number | null = null; // SEGMENT_PREPARED_NAME while it is being zeroed
  private prepare_position_bytes = 0;
  private failed = false; // an fsync failed: this writer must never touch the disk again
  private readonly header = entry_header_empty();

  private constructor(
    private readonly files: FileLayer,
    private readonly dir: string,
    private readonly segment_size_bytes: number,
    last_sequence: number,
    shared_flush: boolean,
  ) {
    this.written_sequence = last_sequence;
    this.durable_sequence = last_sequence;
    this.flush_disk = shared_flush ? files.flush_disk(dir) : null;
  }

  /** Continues the journal where `recovery` (from read_journal on the same dir) found its end. */
  static open(
    files: FileLayer,
    dir: string,
    recovery: JournalRecovery,
    options: JournalWriterOptions = {},
  ): JournalWriter {
    const segment_size_bytes = options.segment_size_bytes ?? JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT;
    assert(Number.isInteger(segment_size_bytes), "segment_size_bytes is an integer");
    assert(segment_size_bytes >= JOURNAL_SEGMENT_SIZE_BYTES_MIN, "segment_size_bytes >= min");
    assert(segment_size_bytes <= JOURNAL_SEGMENT_SIZE_BYTES_MAX, "segment_size_bytes <= max");
    const writer = new JournalWriter(files, dir, segment_size_bytes, recovery.last_sequence,
      options.shared_flush ?? true);
    writer.remove_prepared_segment();
    if (recovery.segment_name !== null) writer.continue_segment(recovery);
    return writer;
  }

  /** The last sequence appended (durable or not). */
  get last_sequence(): number {
    return this.written_sequence;
  }

  /** The last sequence covered by a completed sync(). */
  get synced_sequence(): number {
    return this.durable_sequence;
  }

  /**
   * Appends one or more whole entries, back to back, at most JOURNAL_APPEND_BYTES_MAX bytes. Each
   * is verified (CRCs, continuity) first, then stamped in place with the synced mark (the last
   * sequence a completed sync covers). All of `bytes` goes into one segment. On DiskFullError
   * none of it counts as appended and the same bytes may be appended again later.
   */
  append(bytes: Uint8Array): void {
    assert(!this.failed, "the journal writer failed an fsync and must not be used");
    assert(bytes.length > 0 && bytes.length <= JOURNAL_APPEND_BYTES_MAX, "append size in range");
    if (this.fd === null || this.offset_bytes + bytes.length > this.capacity_bytes) {
      this.roll_over();
    }
    // After a rollover, which syncs the old segment: the mark then covers all of it.
    const last_sequence = this.verify_and_stamp_entries(bytes);
    assert(this.fd !== null, "a segment is open");
    assert(this.offset_bytes + bytes.length <= this.capacity_bytes, "the append fits the segment");
    this.files.write(this.fd, bytes, this.offset_bytes);
    // The group commit appends every group before it syncs any: each file's writeback starts
    // now, so the disk takes them together (sync_file_range.ts).
    this.files.start_writeback(this.fd, this.offset_bytes, bytes.length);
    this.offset_bytes += bytes.length;
    this.written_sequence = last_sequence;
  }

  /** Makes every appended entry durable; returns the highest durable sequence. */
  sync(): number {
    assert(!this.failed, "the journal writer failed an fsync and must not be used");
    if (this.written_sequence === this.durable_sequence) return this.durable_sequence;
    assert(this.fd !== null, "entries were written to an open segment");
    this.datasync(this.fd);
    this.durable_sequence = this.written_sequence;
    this.durable_offset_bytes = this.offset_bytes;
    return this.durable_sequence;
  }

  /**
   * Sends every appended entry to the disk and waits for it, without flushing the disk's cache:
   * durable only once another journal on the same flush_disk syncs, and then mark_flushed says
   * so. It is the group commit's way to flush the disk once for every group (journal_loop.ts).
   * Entries only ever overwrite a preallocated segment's synced zeros, as write_out requires.
   */
  write_out(): void {
    assert(!this.failed, "the journal writer failed an fsync and must not be used");
    assert(this.flush_disk !== null, "write_out only where a flush of the disk covers it");
    if (this.written_sequence === this.durable_sequence) return;
    assert(this.fd !== null, "entries were written to an open segment");
    try {
      this.files.write_out(this.fd, this.durable_offset_bytes,
        this.offset_bytes - this.durable_offset_bytes);
    } catch (error) {
      if (error instanceof FsyncFailedError) this.failed = true;
      throw error;
    }
    this.written_out_sequence = this.written_sequence;
    this.written_out_offset_bytes = this.offset_bytes;
  }

  /** After a sync of another journal on the same flush_disk: what write_out sent is durable.
   * Returns the highest durable sequence. */
  mark_flushed(): number {
    // A rollover since write_out synced the old segment whole: nothing is left to mark.
    if (this.written_out_sequence > this.durable_sequence) {
      this.durable_sequence = this.written_out_sequence;
      this.durable_offset_bytes = this.written_out_offset_bytes;
    }
    return this.durable_sequence;
  }

  /** Preallocates the next segment so that rollover does not stall; call when idle. */
  prepare_next_segment(): void {
    while (!this.prepare_next_segment_step(this.segment_size_bytes)) { /* until prepared */ }
  }

  /**
   * Zeroes up to `budget_bytes` more of the next segment, so a caller can spread the preparation
   * over its idle moments instead of stalling a rollover; true once it is prepared (and synced).
   * No step leaves its zeros dirty for a later fdatasync to write: left to one at the end, a 64
   * MiB segment's dirty pages held the journal worker, and every group's commit behind it, for
   * 70-116 ms. Each step that writes zeros starts their writeback, and one more step, which
   * writes nothing (by then the writeback is mostly done), fdatasyncs: the disk's cache is flushed
   * once for the whole file, not once per step (docs/performance.md, bench/segment_prepare.ts).
   * Where writeback cannot be started, each step syncs. After a DiskFullError the next call starts
   * the file over.
   */
  prepare_next_segment_step(budget_bytes: number): boolean {
    assert(!this.failed, "the journal writer failed an fsync and must not be used");
    assert(budget_bytes > 0, "a positive budget");
    if (this.prepared) return true;
    if (this.prepare_fd === null) {
      this.prepare_fd = this.files.open(this.path(SEGMENT_PREPARED_NAME), true);
      this.prepare_position_bytes = 0;
    }
    const fd = this.prepare_fd;
    try {
      const start = this.prepare_position_bytes;
      if (start < this.segment_size_bytes) {
        const end = Math.min(this.segment_size_bytes, start + budget_bytes);
        while (this.prepare_position_bytes < end) {
          const size_bytes = Math.min(PREALLOCATE_CHUNK_BYTES, end - this.prepare_position_bytes);
          this.files.write(fd, zeros().subarray(0, size_bytes), this.prepare_position_bytes);
          this.prepare_position_bytes += size_bytes;
        }
        if (!this.files.start_writeback(fd, start, end - start)) this.datasync(fd);
        return false;
      }
      this.datasync(fd);
    } catch (error) {
      this.prepare_fd = null;
      this.files.close(fd);
      throw error;
    }
    this.prepare_fd = null;
    this.files.close(fd);
    this.prepared = true;
    return true;
  }

  /** Whether the next segment is ready, so a rollover will not stall to zero one. */
  get next_segment_prepared(): boolean {
    return this.prepared;
  }

  /**
   * Deletes whole segments whose every sequence is <= `sequence` (never the current one). The
   * caller guarantees that a snapshot (and the publisher) covers them. Returns how many it deleted.
   */
  delete_through(sequence: number): number {
    assert(!this.failed, "the journal writer failed an fsync and must not be used");
    assert(sequence <= this.durable_sequence, "only durable history is deleted");
    const segments = list_segments(this.files, this.dir);
    let deleted_count = 0;
    // Oldest first, so that a crash part-way leaves a journal without holes.
    for (let index = 0; index + 1 < segments.length; index++) {
      const segment = segments[index];
      const next = segments[index + 1];
      assert(segment !== undefined && next !== undefined, "index within segments");
      assert(segment.name !== this.current_name, "the current segment is the last one");
      if (next.first_sequence - 1 > sequence) break;
      this.files.unlink(this.path(segment.name));
      deleted_count++;
    }
    if (deleted_count > 0) this.fsync_dir();
    return deleted_count;
  }

  /** Closes the current segment. Does not sync: call sync() first to keep what was appended. */
  close(): void {
    if (this.fd !== null) this.files.close(this.fd);
    this.fd = null;
    if (this.prepare_fd !== null) this.files.close(this.prepare_fd);
    this.prepare_fd = null;
  }

  private continue_segment(recovery: JournalRecovery): void {
    assert(recovery.segment_name !== null, "a segment to continue");
    this.fd = this.files.open(this.path(recovery.segment_name), false);
    this.current_name = recovery.segment_name;
    this.capacity_bytes = this.files.size_bytes(this.fd);
    this.offset_bytes = recovery.append_offset_bytes;
    assert(this.offset_bytes <= this.capacity_bytes, "the append offset is inside the segment");
    // What recovery read may sit only in the page cache (after kill -9): make it durable before
    // anything built on it is acknowledged.
    this.datasync(this.fd);
    this.durable_offset_bytes = this.offset_bytes;
  }

  // Checks and stamps every entry before any byte is written; returns the last sequence of `bytes`.
  private verify_and_stamp_entries(bytes: Uint8Array): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let expected_sequence = this.written_sequence + 1;
    let offset = 0;
    while (offset < bytes.length) {
      const result = read_entry_header(view, offset, bytes.length - offset, this.header);
      assert(result === "ok", `appended entry at offset ${offset} is valid: ${result}`);
      assert(this.header.first_sequence === expected_sequence,
        `entry starts at sequence ${this.header.first_sequence}, expected ${expected_sequence}`);
      stamp_synced_sequence(view, offset, this.header, this.durable_sequence);
      expected_sequence = entry_last_sequence(this.header) + 1;
      offset += JOURNAL_ENTRY_HEADER_BYTES + this.header.body_bytes;
    }
    assert(offset === bytes.length, "bytes hold whole entries");
    return expected_sequence - 1;
  }

  // Order matters for crashes and a full disk: preallocate (may fail: nothing has changed yet),
  // sync the old segment (entries never span a sync boundary between segments, which is what lets
  // recovery call damage in an older segment corruption), then name the new one durably.
  private roll_over(): void {
    this.prepare_next_segment();
    if (this.fd !== null) this.sync();
    const name = segment_name(this.written_sequence + 1);
    assert(name !== this.current_name, "a new segment gets a new name");
    this.files.rename(this.path(SEGMENT_PREPARED_NAME), this.path(name));
    this.prepared = false;
    this.fsync_dir();
    if (this.fd !== null) this.files.close(this.fd);
    this.fd = null;
    this.fd = this.files.open(this.path(name), false);
    this.current_name = name;
    this.capacity_bytes = this.files.size_bytes(this.fd);
    this.offset_bytes = 0;
    this.durable_offset_bytes = 0;
    assert(this.capacity_bytes === this.segment_size_bytes, "the new segment is preallocated");
  }

  // A prepared segment left by an earlier process may be partly zeroed or of another size.
  private remove_prepared_segment(): void {
    if (this.files.list(this.dir).includes(SEGMENT_PREPARED_NAME)) {
      this.files.unlink(this.path(SEGMENT_PREPARED_NAME));
    }
  }

  private datasync(fd: number): void {
    try {
      this.files.datasync(fd);
    } catch (error) {
      if (error instanceof FsyncFailedError) this.failed = true;
      throw error;
    }
  }

  private fsync_dir(): void {
    try {
      this.files.fsync_dir(this.dir);
    } catch (error) {
      if (error instanceof FsyncFailedError) this.failed = true;
      throw error;
    }
  }

  private path(name: string): string {
    return `${this.dir}/${name}`;
  }
}
