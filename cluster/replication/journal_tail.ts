// Cutting a standby's journal at a new epoch's first sequence: the entries it holds from there on
// were written by a deposed primary and never by the new one, so they go, and so do the snapshots
// that include them. Snapshots first, then whole segments (newest first), then the rest of the
// last segment is zeroed and synced: a crash part-way leaves a shorter journal, never a hole, and
// the next link of the new epoch cuts again at the same place (the cut is idempotent).

import { assert } from "../../common/assert.ts";
import { JOURNAL_ENTRY_HEADER_BYTES } from "../../common/constants.ts";
import type { FileLayer } from "../../journal/file_layer.ts";
import { ChunkReader, JournalCorruptError } from "../../journal/journal_reader.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { list_snapshots } from "../../journal/snapshot_file.ts";
import { entry_last_sequence, read_entry_header } from "../../schema/journal_entry_layout.ts";

const ZERO_CHUNK_BYTES = 1 << 20;

/** Removes every entry whose last sequence is >= cut_sequence, and every snapshot past it.
 * No writer may have the directory open. Returns the last sequence the journal still holds
 * (at most cut_sequence - 1; lower when an entry straddles the cut). */
export function cut_journal_tail(files: FileLayer, dir: string, cut_sequence: number,
  reader: ChunkReader): number {
  assert(Number.isSafeInteger(cut_sequence) && cut_sequence >= 1, "cut_sequence >= 1");
  for (const snapshot of list_snapshots(files, dir)) {
    if (snapshot.sequence >= cut_sequence) files.unlink(`${dir}/${snapshot.name}`);
  }
  const segments = list_segments(files, dir);
  let kept_count = segments.length;
  while (kept_count > 0 && segments[kept_count - 1]!.first_sequence >= cut_sequence) {
    kept_count--;
    files.unlink(`${dir}/${segments[kept_count]!.name}`);
  }
  files.fsync_dir(dir);
  const last = segments[kept_count - 1];
  if (last === undefined) return 0;
  return cut_segment(files, `${dir}/${last.name}`, last.first_sequence, cut_sequence, reader);
}

// Finds the first entry reaching cut_sequence in the segment and zeroes from it to the end.
function cut_segment(files: FileLayer, path: string, first_sequence: number,
  cut_sequence: number, reader: ChunkReader): number {
  const fd = files.open(path, false);
  try {
    const { cut_offset_bytes, kept_last_sequence } =
      find_cut(files, fd, path, first_sequence, cut_sequence, reader);
    const size_bytes = files.size_bytes(fd);
    if (cut_offset_bytes >= size_bytes) return kept_last_sequence;
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK_BYTES, size_bytes - cut_offset_bytes));
    for (let at = cut_offset_bytes; at < size_bytes; at += zeros.length) {
      files.write(fd, zeros.subarray(0, Math.min(zeros.length, size_bytes - at)), at);
    }
    files.datasync(fd);
    return kept_last_sequence;
  } finally {
    files.close(fd);
  }
}

interface CutPoint {
  cut_offset_bytes: number;
  kept_last_sequence: number;
}

function find_cut(files: FileLayer, fd: number, path: string, first_sequence: number,
  cut_sequence: number, reader: ChunkReader): CutPoint {
  const { buffer, view, header } = reader;
  const size_bytes = files.size_bytes(fd);
  let chunk_at_bytes = 0;
  let filled_bytes = files.read(fd, buffer, 0);
  let cursor = 0;
  let expected = first_sequence;
  for (;;) {
    const result = read_entry_header(view, cursor, filled_bytes - cursor, header);
    if (result === "short" && chunk_at_bytes + filled_bytes < size_bytes && cursor > 0) {
      chunk_at_bytes += cursor;
      filled_bytes = files.read(fd, buffer, chunk_at_bytes);
      cursor = 0;
      continue;
    }
    // The end of what the segment holds (recovery already cut any torn tail).
    if (result !== "ok") return { cut_offset_bytes: chunk_at_bytes + cursor,
      kept_last_sequence: expected - 1 };
    if (header.first_sequence !== expected) {
      throw new JournalCorruptError(`${path}: entry at ${header.first_sequence}, expected ` +
        `${expected}`);
    }
    if (entry_last_sequence(header) >= cut_sequence) {
      return { cut_offset_bytes: chunk_at_bytes + cursor, kept_last_sequence: expected - 1 };
    }
    expected = entry_last_sequence(header) + 1;
    cursor += JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
  }
}
