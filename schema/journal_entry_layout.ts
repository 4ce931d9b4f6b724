// The journal entry header: 64 bytes, little-endian, followed by record_count fixed-size records.
// The journal treats the body as opaque; only this header is its business. Two CRC32s: the body's
// (so a torn or rotten body is caught) and the header's over bytes 0..59 (so a torn header is
// caught before its lengths are trusted).
//
// The synced mark (in what were reserved bytes, so the version and the entry size stay): the last
// sequence a completed fsync covered when the journal writer wrote this entry. The engine writes
// zero; JournalWriter.append stamps it (and recomputes the header CRC). Recovery uses it to tell a
// torn unsynced tail from damage to what was already synced (journal_reader.ts).

import { assert } from "../common/assert.ts";
import {
  JOURNAL_ENTRY_HEADER_BYTES,
  JOURNAL_ENTRY_RECORDS_MAX,
  JOURNAL_RECORD_BYTES,
} from "../common/constants.ts";

export const ENTRY_MAGIC = 0x4c4e524a; // bytes "J","R","N","L" read as a little-endian u32
export const ENTRY_VERSION = 1;

export const ENTRY_MAGIC_OFFSET = 0; // u32
export const ENTRY_VERSION_OFFSET = 4; // u16
export const ENTRY_HEADER_BYTES_OFFSET = 6; // u16
export const ENTRY_BODY_BYTES_OFFSET = 8; // u32
export const ENTRY_RECORD_COUNT_OFFSET = 12; // u32
export const ENTRY_GROUP_OFFSET = 16; // u32
export const ENTRY_EPOCH_OFFSET = 20; // u32
export const ENTRY_FIRST_SEQUENCE_OFFSET = 24; // f64, a safe integer >= 1
export const ENTRY_ENGINE_TIME_MS_OFFSET = 32; // f64
export const ENTRY_BODY_CRC32_OFFSET = 40; // u32
export const ENTRY_SYNCED_SEQUENCE_OFFSET = 44; // f64, a safe integer < first sequence
export const ENTRY_RESERVED_OFFSET = 52; // 8 bytes, zero
export const ENTRY_RESERVED_BYTES = 8;
/** Entries start at multiples of this in a segment (header and records are multiples of it). */
export const ENTRY_ALIGNMENT_BYTES = 16;
export const ENTRY_HEADER_CRC32_OFFSET = 60; // u32, CRC32 of bytes 0..59

assert(ENTRY_SYNCED_SEQUENCE_OFFSET + 8 === ENTRY_RESERVED_OFFSET, "layout");
assert(ENTRY_RESERVED_OFFSET + ENTRY_RESERVED_BYTES === ENTRY_HEADER_CRC32_OFFSET, "layout");
assert(JOURNAL_ENTRY_HEADER_BYTES % ENTRY_ALIGNMENT_BYTES === 0, "headers keep entries aligned");
assert(JOURNAL_RECORD_BYTES % ENTRY_ALIGNMENT_BYTES === 0, "records keep entries aligned");
assert(ENTRY_HEADER_CRC32_OFFSET + 4 === JOURNAL_ENTRY_HEADER_BYTES, "header is 64 bytes");

/** The fields of a header the caller chooses; lengths and checksums are derived. */
export interface EntryFields {
  record_count: number;
  group: number;
  epoch: number;
  first_sequence: number;
  engine_time_ms: number;
}

/** A decoded header. Reused by readers (filled in place) so replay allocates nothing per entry. */
export interface EntryHeader extends EntryFields {
  /** The synced mark: the last sequence durable when the writer wrote the entry (0: none). */
  synced_sequence: number;
  body_bytes: number;
  body_crc32: number;
  header_crc32: number;
}

/**
 * Why a header could not be read. "zero": all 64 bytes are zero (preallocated space: the end).
 * "short": fewer bytes than the entry needs remain (torn at the end of the file).
 * Each other reason is a header or body that was torn or corrupted.
 */
export type EntryReadResult =
  | "ok"
  | "zero"
  | "short"
  | "bad_magic"
  | "bad_header_crc"
  | "bad_version"
  | "bad_length"
  | "bad_sequence"
  | "bad_reserved"
  | "bad_body_crc";

export function entry_size_bytes(record_count: number): number {
  assert(Number.isInteger(record_count), "record_count is an integer");
  assert(record_count >= 1 && record_count <= JOURNAL_ENTRY_RECORDS_MAX, "record_count in range");
  return JOURNAL_ENTRY_HEADER_BYTES + record_count * JOURNAL_RECORD_BYTES;
}

export function entry_header_empty(): EntryHeader {
  return {
    record_count: 0,
    group: 0,
    epoch: 0,
    first_sequence: 0,
    engine_time_ms: 0,
    synced_sequence: 0,
    body_bytes: 0,
    body_crc32: 0,
    header_crc32: 0,
  };
}

/** The last sequence an entry covers. */
export function entry_last_sequence(header: EntryFields): number {
  return header.first_sequence + header.record_count - 1;
}

function bytes_of(view: DataView, offset: number, size_bytes: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + offset, size_bytes);
}

/**
 * Writes the header at `offset`, computing the body CRC over the record_count * 80 bytes that
 * must already sit right after the header in the same buffer, then the header CRC.
 */
export function write_entry_header(view: DataView, offset: number, fields: EntryFields): void {
  const body_bytes = entry_size_bytes(fields.record_count) - JOURNAL_ENTRY_HEADER_BYTES;
  assert(offset >= 0 && offset + JOURNAL_ENTRY_HEADER_BYTES + body_bytes <= view.byteLength,
    "the entry fits the view");
  assert(Number.isSafeInteger(fields.first_sequence) && fields.first_sequence >= 1,
    "first_sequence is a safe integer >= 1");
  assert(Number.isSafeInteger(entry_last_sequence(fields)), "last sequence is a safe integer");
  assert(fields.group >>> 0 === fields.group, "group is a u32");
  assert(fields.epoch >>> 0 === fields.epoch, "epoch is a u32");
  assert(Number.isFinite(fields.engine_time_ms), "engine_time_ms is finite");

  view.setUint32(offset + ENTRY_MAGIC_OFFSET, ENTRY_MAGIC, true);
  view.setUint16(offset + ENTRY_VERSION_OFFSET, ENTRY_VERSION, true);
  view.setUint16(offset + ENTRY_HEADER_BYTES_OFFSET, JOURNAL_ENTRY_HEADER_BYTES, true);
  view.setUint32(offset + ENTRY_BODY_BYTES_OFFSET, body_bytes, true);
  view.setUint32(offset + ENTRY_RECORD_COUNT_OFFSET, fields.record_count, true);
  view.setUint32(offset + ENTRY_GROUP_OFFSET, fields.group, true);
  view.setUint32(offset + ENTRY_EPOCH_OFFSET, fields.epoch, true);
  view.setFloat64(offset + ENTRY_FIRST_SEQUENCE_OFFSET, fields.first_sequence, true);
  view.setFloat64(offset + ENTRY_ENGINE_TIME_MS_OFFSET, fields.engine_time_ms, true);
  const body = bytes_of(view, offset + JOURNAL_ENTRY_HEADER_BYTES, body_bytes);
  view.setUint32(offset + ENTRY_BODY_CRC32_OFFSET, Bun.hash.crc32(body), true);
  view.setFloat64(offset + ENTRY_SYNCED_SEQUENCE_OFFSET, 0, true);
  // Zeroed word by word: a view made per entry just to fill it costs more than the bytes.
  for (let at = ENTRY_RESERVED_OFFSET; at < ENTRY_HEADER_CRC32_OFFSET; at += 4) {
    view.setUint32(offset + at, 0, true);
  }
  write_header_crc32(view, offset);
}

function write_header_crc32(view: DataView, offset: number): void {
  const header_crc32 = Bun.hash.crc32(bytes_of(view, offset, ENTRY_HEADER_CRC32_OFFSET));
  view.setUint32(offset + ENTRY_HEADER_CRC32_OFFSET, header_crc32, true);
}

/**
 * Sets the synced mark of the valid entry at `offset` (read into `header`) and its header CRC.
 * The mark is below the entry's first sequence: a sync never covers what is not yet written.
 */
export function stamp_synced_sequence(view: DataView, offset: number, header: EntryHeader,
  synced_sequence: number): void {
  assert(Number.isSafeInteger(synced_sequence) && synced_sequence >= 0, "mark is a sequence");
  assert(synced_sequence < header.first_sequence, "the mark precedes the entry");
  view.setFloat64(offset + ENTRY_SYNCED_SEQUENCE_OFFSET, synced_sequence, true);
  write_header_crc32(view, offset);
  header.synced_sequence = synced_sequence;
}

function header_is_zero(view: DataView, offset: number): boolean {
  for (let at = offset; at < offset + JOURNAL_ENTRY_HEADER_BYTES; at += 4) {
    if (view.getUint32(at, true) !== 0) return false;
  }
  return true;
}

/**
 * Decodes and verifies the entry at `offset` into `out` (filled in place; valid only on "ok").
 * `available_bytes` counts the bytes from `offset` that the view holds. The header CRC is checked
 * before any length is trusted; the body CRC before the body may be read.
 */
export function read_entry_header(
  view: DataView,
  offset: number,
  available_bytes: number,
  out: EntryHeader,
): EntryReadResult {
  assert(offset >= 0 && offset + available_bytes <= view.byteLength, "available within view");
  if (available_bytes < JOURNAL_ENTRY_HEADER_BYTES) return "short";
  if (header_is_zero(view, offset)) return "zero";
  if (view.getUint32(offset + ENTRY_MAGIC_OFFSET, true) !== ENTRY_MAGIC) return "bad_magic";
  const header_crc32 = view.getUint32(offset + ENTRY_HEADER_CRC32_OFFSET, true);
  if (Bun.hash.crc32(bytes_of(view, offset, ENTRY_HEADER_CRC32_OFFSET)) !== header_crc32) {
    return "bad_header_crc";
  }
  const result = read_checked_fields(view, offset, out);
  if (result !== "ok") return result;
  out.header_crc32 = header_crc32;
  if (available_bytes < JOURNAL_ENTRY_HEADER_BYTES + out.body_bytes) return "short";
  const body = bytes_of(view, offset + JOURNAL_ENTRY_HEADER_BYTES, out.body_bytes);
  if (Bun.hash.crc32(body) !== out.body_crc32) return "bad_body_crc";
  return "ok";
}

// Fields behind a valid header CRC can still be wrong if a bug wrote them: check every relation.
function read_checked_fields(view: DataView, offset: number, out: EntryHeader): EntryReadResult {
  if (view.getUint16(offset + ENTRY_VERSION_OFFSET, true) !== ENTRY_VERSION) return "bad_version";
  if (view.getUint16(offset + ENTRY_HEADER_BYTES_OFFSET, true) !== JOURNAL_ENTRY_HEADER_BYTES) {
    return "bad_length";
  }
  out.body_bytes = view.getUint32(offset + ENTRY_BODY_BYTES_OFFSET, true);
  out.record_count = view.getUint32(offset + ENTRY_RECORD_COUNT_OFFSET, true);
  if (out.record_count < 1 || out.record_count > JOURNAL_ENTRY_RECORDS_MAX) return "bad_length";
  if (out.body_bytes !== out.record_count * JOURNAL_RECORD_BYTES) return "bad_length";
  out.group = view.getUint32(offset + ENTRY_GROUP_OFFSET, true);
  out.epoch = view.getUint32(offset + ENTRY_EPOCH_OFFSET, true);
  out.first_sequence = view.getFloat64(offset + ENTRY_FIRST_SEQUENCE_OFFSET, true);
  if (!Number.isSafeInteger(out.first_sequence) || out.first_sequence < 1) return "bad_sequence";
  if (!Number.isSafeInteger(entry_last_sequence(out))) return "bad_sequence";
  out.engine_time_ms = view.getFloat64(offset + ENTRY_ENGINE_TIME_MS_OFFSET, true);
  out.body_crc32 = view.getUint32(offset + ENTRY_BODY_CRC32_OFFSET, true);
  out.synced_sequence = view.getFloat64(offset + ENTRY_SYNCED_SEQUENCE_OFFSET, true);
  if (!Number.isSafeInteger(out.synced_sequence) || out.synced_sequence < 0) return "bad_sequence";
  if (out.synced_sequence >= out.first_sequence) return "bad_sequence";
  for (let at = ENTRY_RESERVED_OFFSET; at < ENTRY_HEADER_CRC32_OFFSET; at += 4) {
    if (view.getUint32(offset + at, true) !== 0) return "bad_reserved";
  }
  return "ok";
}
