// A read-only reader of a durable range of one group's journal, for the publisher: it visits the
// whole entries with sequences in (after_sequence, through_sequence], in order. `through_sequence`
// is a durable sequence (the journal worker synced it), so every byte up to it is complete: any
// damage, gap or missing segment inside the range is an error (JournalCorruptError), never a torn
// tail. Unlike read_journal (journal_reader.ts) it never truncates or zeroes anything, so it may
// run while the journal worker appends to the same files: it never looks past through_sequence.

import { assert } from "../common/assert.ts";
import { JOURNAL_ENTRY_HEADER_BYTES } from "../common/constants.ts";
import {
  entry_last_sequence, read_entry_header, type EntryHeader,
} from "../schema/journal_entry_layout.ts";
import type { FileLayer } from "./file_layer.ts";
import { ChunkReader, JournalCorruptError, start_index } from "./journal_reader.ts";
import { list_segments } from "./segment_names.ts";

/** As journal_reader.ts OnEntry; returning false stops the read after this entry. */
export type OnRangeEntry = (view: DataView, offset: number, header: EntryHeader) => boolean | void;

export interface RangeReadResult {
  /** The last sequence of the last entry visited (after_sequence when none was). */
  last_sequence: number;
  /** Whether the read stopped early because on_entry returned false. */
  stopped: boolean;
}

/** The reusable buffer of a range read: the same as a full read's. */
export { ChunkReader as RangeReader };

export function read_journal_range(
  files: FileLayer,
  dir: string,
  after_sequence: number,
  through_sequence: number,
  on_entry: OnRangeEntry,
  reader: ChunkReader = new ChunkReader(),
): RangeReadResult {
  assert(Number.isSafeInteger(after_sequence) && after_sequence >= 0, "after_sequence >= 0");
  assert(Number.isSafeInteger(through_sequence) && through_sequence >= after_sequence,
    "through_sequence >= after_sequence");
  if (through_sequence === after_sequence) return { last_sequence: after_sequence, stopped: false };
  const segments = list_segments(files, dir);
  const start = start_index(segments, after_sequence); // throws if segments are missing
  let expected = segments[start]!.first_sequence;
  let visited_last = after_sequence;
  for (let index = start; index < segments.length && expected <= through_sequence; index++) {
    const segment = segments[index]!;
    if (segment.first_sequence !== expected) {
      throw new JournalCorruptError(`${dir}/${segment.name} starts at ${segment.first_sequence}, ` +
        `expected ${expected}: sequences are missing`);
    }
    const path = `${dir}/${segment.name}`;
    const fd = files.open(path, false);
    try {
      const scan = scan_segment(files, fd, path, expected, after_sequence, through_sequence,
        on_entry, reader);
      expected = scan.next_sequence;
      if (scan.visited_last > 0) visited_last = scan.visited_last;
      if (scan.stopped) return { last_sequence: visited_last, stopped: true };
    } finally {
      files.close(fd);
    }
  }
  if (expected <= through_sequence) {
    throw new JournalCorruptError(`journal in ${dir} ends at sequence ${expected - 1}, before ` +
      `the durable sequence ${through_sequence}`);
  }
  return { last_sequence: visited_last, stopped: false };
}

interface SegmentScan {
  next_sequence: number;
  visited_last: number;
  stopped: boolean;
}

function scan_segment(
  files: FileLayer, fd: number, path: string, first_sequence: number, after_sequence: number,
  through_sequence: number, on_entry: OnRangeEntry, reader: ChunkReader,
): SegmentScan {
  const { buffer, view, header } = reader;
  const file_size_bytes = files.size_bytes(fd);
  let chunk_offset_bytes = 0;
  let filled_bytes = files.read(fd, buffer, 0);
  let cursor = 0;
  let expected = first_sequence;
  let visited_last = 0;
  while (expected <= through_sequence) {
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
    const at_bytes = chunk_offset_bytes + cursor;
    if (result === "zero" || (result === "short" &&
      file_size_bytes - at_bytes < JOURNAL_ENTRY_HEADER_BYTES)) {
      // The segment's clean end: the next segment continues at `expected`.
      return { next_sequence: expected, visited_last, stopped: false };
    }
    if (result !== "ok") {
      throw new JournalCorruptError(`${path} is damaged at offset ${at_bytes} (${result}) at ` +
        `sequence ${expected}, inside the durable range through ${through_sequence}`);
    }
    if (header.first_sequence !== expected) {
      throw new JournalCorruptError(`${path} at offset ${at_bytes}: entry starts at sequence ` +
        `${header.first_sequence}, expected ${expected}`);
    }
    const last = entry_last_sequence(header);
    if (last > through_sequence) {
      throw new JournalCorruptError(`${path} at offset ${at_bytes}: entry ${header.first_sequence}` +
        `..${last} straddles the durable sequence ${through_sequence}`);
    }
    expected = last + 1;
    if (last > after_sequence) {
      visited_last = last;
      if (on_entry(view, cursor, header) === false) {
        return { next_sequence: expected, visited_last, stopped: true };
      }
    }
    cursor += JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
  }
  return { next_sequence: expected, visited_last, stopped: false };
}
