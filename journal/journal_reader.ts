// Recovery of one group's journal: reads its segments in big chunks, hands each entry after a given
// sequence to a callback (a view on a reused buffer: nothing is allocated per entry), and cuts a
// torn tail of the last segment so that a later append can never leave garbage behind valid data.
//
// Only bytes written after the last completed fsync can be torn, so only they may be cut. An
// earlier segment was synced in full before the next one began: damage there, or a gap in
// sequences, stops recovery with an error. In the last segment, every entry carries the synced
// mark of its write (entry_layout.ts): the last sequence a completed fsync covered then. Pages of
// an unsynced write can land in any order, so recovery also reads the valid entries beyond the
// first damaged one; if any mark reaches the damage, synced data is damaged: an error for the
// operator. Otherwise the damage lies in unsynced writes: a torn tail, cut.

import { assert } from "../common/assert.ts";
import { JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_READ_CHUNK_BYTES } from "../common/constants.ts";
import {
  ENTRY_ALIGNMENT_BYTES,
  ENTRY_MAGIC,
  entry_header_empty,
  entry_last_sequence,
  read_entry_header,
  type EntryHeader,
  type EntryReadResult,
} from "../schema/journal_entry_layout.ts";
import type { FileLayer } from "./file_layer.ts";
import { list_segments, type SegmentListing } from "./segment_names.ts";

/** The journal is damaged in a way that a crash cannot cause. Never skip it silently. */
export class JournalCorruptError extends Error {
  override name = "JournalCorruptError";
}

/** Called for each entry whose last sequence is after the requested one. The entry's bytes are
 * view[offset .. offset + 64 + header.body_bytes), valid only during the call. An entry may start
 * at or before the requested sequence (then skip its first records). */
export type OnEntry = (view: DataView, offset: number, header: EntryHeader) => void;

/** Where the journal ends, and where JournalWriter.open continues appending. */
export interface JournalRecovery {
  /** The last valid sequence; `after_sequence` when the journal holds no segment. */
  last_sequence: number;
  /** The last segment's file name, or null when the directory holds no segment. */
  segment_name: string | null;
  /** The offset in the last segment right after its last valid entry. */
  append_offset_bytes: number;
  /** Non-zero bytes found after the last valid entry and zeroed (a torn tail). */
  tail_cut_bytes: number;
}

interface ScanResult {
  last_sequence: number;
  end_offset_bytes: number;
  file_size_bytes: number;
  stop: EntryReadResult | "not_continuous";
}

/** The reusable read buffer and header of a journal scan (shared with journal_range_reader.ts). */
export class ChunkReader {
  readonly buffer = new Uint8Array(JOURNAL_READ_CHUNK_BYTES);
  readonly view = new DataView(this.buffer.buffer);
  readonly header = entry_header_empty();
}

/**
 * Reads the journal in `dir`, calling `on_entry` for every entry with sequences after
 * `after_sequence`, in order. Throws JournalCorruptError if the journal does not reach back to
 * after_sequence + 1, ends before after_sequence, or is damaged before its last segment.
 */
export function read_journal(
  files: FileLayer,
  dir: string,
  after_sequence: number,
  on_entry: OnEntry,
): JournalRecovery {
  assert(Number.isSafeInteger(after_sequence) && after_sequence >= 0, "after_sequence >= 0");
  const segments = list_segments(files, dir);
  const last = segments[segments.length - 1];
  if (last === undefined) {
    return { last_sequence: after_sequence, segment_name: null, append_offset_bytes: 0,
      tail_cut_bytes: 0 };
  }
  const start = start_index(segments, after_sequence);
  const reader = new ChunkReader();
  let previous_last_sequence = -1;
  for (let index = start; index < segments.length - 1; index++) {
    const segment = segments[index];
    assert(segment !== undefined, "index within segments");
    check_continuous(segment, previous_last_sequence);
    const scan = scan_file(files, `${dir}/${segment.name}`, segment, after_sequence, on_entry,
      reader);
    check_clean_end(segment, scan);
    previous_last_sequence = scan.last_sequence;
  }
  check_continuous(last, previous_last_sequence);
  const recovery = recover_last_segment(files, dir, last, after_sequence, on_entry, reader);
  if (recovery.last_sequence < after_sequence) {
    throw new JournalCorruptError(
      `journal in ${dir} ends at ${recovery.last_sequence}, before ${after_sequence}`);
  }
  return recovery;
}

// The segment that holds after_sequence + 1: the last one starting at or before it.
export function start_index(segments: SegmentListing[], after_sequence: number): number {
  let start = -1;
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index];
    assert(segment !== undefined, "index within segments");
    if (segment.first_sequence <= after_sequence + 1) start = index;
  }
  if (start === -1) {
    const first = segments[0];
    throw new JournalCorruptError(`journal starts at sequence ${first?.first_sequence}, ` +
      `after ${after_sequence} was requested: segments are missing`);
  }
  return start;
}

function check_continuous(segment: SegmentListing, previous_last_sequence: number): void {
  if (previous_last_sequence === -1) return; // the first segment read
  if (segment.first_sequence === previous_last_sequence + 1) return;
  throw new JournalCorruptError(`${segment.name} follows a segment ending at sequence ` +
    `${previous_last_sequence}: sequences are missing between them`);
}

// A segment before the last was synced in full before the next one began: it must end cleanly,
// with zeros or with less room than a header at the end of the file.
function check_clean_end(segment: SegmentListing, scan: ScanResult): void {
  if (scan.stop === "zero") return;
  const rest_bytes = scan.file_size_bytes - scan.end_offset_bytes;
  if (scan.stop === "short" && rest_bytes < JOURNAL_ENTRY_HEADER_BYTES) return;
  throw new JournalCorruptError(`${segment.name} is damaged at offset ${scan.end_offset_bytes} ` +
    `(${scan.stop}) after sequence ${scan.last_sequence}; it is not the last segment, so this ` +
    `is not a torn write: restore it or truncate the journal by hand`);
}

function recover_last_segment(
  files: FileLayer,
  dir: string,
  segment: SegmentListing,
  after_sequence: number,
  on_entry: OnEntry,
  reader: ChunkReader,
): JournalRecovery {
  const path = `${dir}/${segment.name}`;
  const scan = scan_file(files, path, segment, after_sequence, on_entry, reader);
  const fd = files.open(path, false);
  try {
    const synced_sequence = synced_mark_from(files, fd, scan.end_offset_bytes, reader);
    if (synced_sequence > scan.last_sequence) {
      throw new JournalCorruptError(`journal ${dir}: ${segment.name} is damaged at offset ` +
        `${scan.end_offset_bytes} (${scan.stop}) after sequence ${scan.last_sequence}, but a ` +
        `completed fsync covered sequences through ${synced_sequence}: acknowledged entries are ` +
        `damaged, not torn. Start-up stops rather than drop them: restore the segment from a ` +
        `backup or replica, or, accepting the loss, zero it from that offset on by hand`);
    }
    const tail_cut_bytes = zero_tail(files, fd, scan.end_offset_bytes, reader.buffer);
    return { last_sequence: scan.last_sequence, segment_name: segment.name,
      append_offset_bytes: scan.end_offset_bytes, tail_cut_bytes };
  } finally {
    files.close(fd);
  }
}

function scan_file(
  files: FileLayer,
  path: string,
  segment: SegmentListing,
  after_sequence: number,
  on_entry: OnEntry,
  reader: ChunkReader,
): ScanResult {
  const fd = files.open(path, false);
  try {
    return scan_entries(files, fd, segment.first_sequence, after_sequence, on_entry, reader);
  } finally {
    files.close(fd);
  }
}

// The loop over a segment's entries: chunk refills only when an entry runs past the chunk's end.
function scan_entries(
  files: FileLayer,
  fd: number,
  first_sequence: number,
  after_sequence: number,
  on_entry: OnEntry,
  reader: ChunkReader,
): ScanResult {
  const { buffer, view, header } = reader;
  const file_size_bytes = files.size_bytes(fd);
  let chunk_offset_bytes = 0; // file offset of buffer[0]
  let filled_bytes = files.read(fd, buffer, 0);
  let cursor = 0; // offset in buffer of the next entry
  let expected_sequence = first_sequence;
  for (;;) {
    const result = read_entry_header(view, cursor, filled_bytes - cursor, header);
    const loaded_to_bytes = chunk_offset_bytes + filled_bytes;
    if (result === "short" && loaded_to_bytes < file_size_bytes && cursor > 0) {
      buffer.copyWithin(0, cursor, filled_bytes);
      chunk_offset_bytes += cursor;
      filled_bytes -= cursor;
      cursor = 0;
      filled_bytes += files.read(fd, buffer.subarray(filled_bytes), loaded_to_bytes);
      continue;
    }
    const stop = result !== "ok" ? result
      : header.first_sequence !== expected_sequence ? "not_continuous" : null;
    if (stop !== null) {
      return { last_sequence: expected_sequence - 1,
        end_offset_bytes: chunk_offset_bytes + cursor, file_size_bytes, stop };
    }
    if (entry_last_sequence(header) > after_sequence) on_entry(view, cursor, header);
    expected_sequence = entry_last_sequence(header) + 1;
    cursor += JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
  }
}

/**
 * The highest synced mark among the valid entries from `from_bytes` to the end of the segment
 * (0 if none): they sit beyond the valid prefix, so only a write that was never synced can hold
 * them, and its mark says how far the synced part reached. Checks every aligned offset.
 */
function synced_mark_from(files: FileLayer, fd: number, from_bytes: number,
  reader: ChunkReader): number {
  assert(from_bytes % ENTRY_ALIGNMENT_BYTES === 0, "entries start aligned");
  const { buffer, view, header } = reader;
  const file_size_bytes = files.size_bytes(fd);
  let synced_sequence = 0;
  let chunk_offset_bytes = from_bytes;
  for (;;) {
    const filled_bytes = files.read(fd, buffer, chunk_offset_bytes);
    const file_end = chunk_offset_bytes + filled_bytes >= file_size_bytes;
    let cursor = 0;
    for (; cursor + JOURNAL_ENTRY_HEADER_BYTES <= filled_bytes; cursor += ENTRY_ALIGNMENT_BYTES) {
      if (view.getUint32(cursor, true) !== ENTRY_MAGIC) continue;
      const result = read_entry_header(view, cursor, filled_bytes - cursor, header);
      if (result === "short" && !file_end) break; // read again from here, whole
      if (result === "ok") synced_sequence = Math.max(synced_sequence, header.synced_sequence);
    }
    if (file_end && cursor + JOURNAL_ENTRY_HEADER_BYTES > filled_bytes) return synced_sequence;
    assert(cursor > 0, "the read chunk holds the largest entry");
    chunk_offset_bytes += cursor;
  }
}

// Zeroes every non-zero byte from `from_bytes` to the end of the file, then syncs, so that what
// follows the last valid entry is what a fresh preallocated segment holds. Returns bytes zeroed.
function zero_tail(files: FileLayer, fd: number, from_bytes: number, buffer: Uint8Array): number {
  const file_size_bytes = files.size_bytes(fd);
  assert(from_bytes <= file_size_bytes, "the cut is inside the file");
  let cut_bytes = 0;
  for (let position = from_bytes; position < file_size_bytes; position += buffer.length) {
    const chunk = buffer.subarray(0, Math.min(buffer.length, file_size_bytes - position));
    const read_bytes = files.read(fd, chunk, position);
    assert(read_bytes === chunk.length, "a file reads to its size");
    if (is_zero(chunk)) continue;
    chunk.fill(0);
    files.write(fd, chunk, position);
    cut_bytes += chunk.length;
  }
  if (cut_bytes > 0) files.datasync(fd);
  return cut_bytes;
}

function is_zero(bytes: Uint8Array): boolean {
  // Whole 32-bit words where aligned (4x fewer loads), then the remaining bytes.
  const aligned = bytes.byteOffset % 4 === 0;
  const words_count = aligned ? bytes.length >>> 2 : 0;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, words_count);
  for (let index = 0; index < words_count; index++) {
    if (words[index] !== 0) return false;
  }
  for (let index = words_count << 2; index < bytes.length; index++) {
    if (bytes[index] !== 0) return false;
  }
  return true;
}
