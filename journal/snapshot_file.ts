// Atomic snapshot files of one group: `snapshot-<sequence, 20 digits>.snap`.
//
// A snapshot is written under a `.tmp` name, synced, renamed, and the directory synced: a crash at
// any point leaves the previous snapshot or the new one, never a mix (a `.tmp` is never read). A
// CRC32 over everything catches a damaged file, and reading then falls back to the previous one.
// The body is opaque here. It may be written in pieces (SnapshotWriter) so that a caller can spread
// a big snapshot over time.
//
// Layout, little-endian: header (32 bytes) | body | footer (8 bytes)
//   header: 0 magic u32 "SNAP", 4 version u16, 6 header_bytes u16 = 32, 8 sequence f64,
//           16 body_bytes f64, 24..31 reserved zero
//   footer: 0 crc32 u32 over the body then the header, 4 magic u32 "SNAP" again
// (The CRC runs over the body first because the header, which holds the body's length, is only
// written at the end, and CRC32 can be continued but not prefixed.)

import { assert } from "../common/assert.ts";
import { SNAPSHOTS_KEPT } from "../common/constants.ts";
import type { FileLayer } from "./file_layer.ts";

export const SNAPSHOT_MAGIC = 0x50414e53; // bytes "S","N","A","P" read as a little-endian u32
export const SNAPSHOT_VERSION = 1;
export const SNAPSHOT_HEADER_BYTES = 32;
export const SNAPSHOT_FOOTER_BYTES = 8;
const SNAPSHOT_PATTERN = /^snapshot-(\d{20})\.snap$/;
const TEMPORARY_PATTERN = /^snapshot-\d{20}\.snap\.tmp$/;
const SEQUENCE_DIGITS = 20;

export interface Snapshot {
  sequence: number;
  bytes: Uint8Array;
}

export function snapshot_name(sequence: number): string {
  assert(Number.isSafeInteger(sequence) && sequence >= 0, "snapshot sequence >= 0");
  return `snapshot-${String(sequence).padStart(SEQUENCE_DIGITS, "0")}.snap`;
}

/** Writes a snapshot in pieces: write_chunk() any number of times, then finish() (or abort()). */
export class SnapshotWriter {
  private fd: number | null;
  private body_bytes = 0;
  private body_crc32 = 0;

  private constructor(
    private readonly files: FileLayer,
    private readonly dir: string,
    readonly sequence: number,
  ) {
    const fd = files.open(this.temporary_path(), true);
    files.truncate(fd, 0); // a .tmp of an earlier attempt may be there
    this.fd = fd;
  }

  static begin(files: FileLayer, dir: string, sequence: number): SnapshotWriter {
    assert(Number.isSafeInteger(sequence) && sequence >= 0, "snapshot sequence >= 0");
    return new SnapshotWriter(files, dir, sequence);
  }

  write_chunk(bytes: Uint8Array): void {
    assert(this.fd !== null, "the snapshot is still being written");
    this.files.write(this.fd, bytes, SNAPSHOT_HEADER_BYTES + this.body_bytes);
    this.body_bytes += bytes.length;
    this.body_crc32 = Bun.hash.crc32(bytes, this.body_crc32);
  }

  /** Makes the snapshot durable under its final name, then deletes all but the newest kept. */
  finish(): void {
    assert(this.fd !== null, "the snapshot is still being written");
    const header = encode_header(this.sequence, this.body_bytes);
    const footer = new Uint8Array(SNAPSHOT_FOOTER_BYTES);
    const footer_view = new DataView(footer.buffer);
    footer_view.setUint32(0, Bun.hash.crc32(header, this.body_crc32), true);
    footer_view.setUint32(4, SNAPSHOT_MAGIC, true);
    this.files.write(this.fd, header, 0);
    this.files.write(this.fd, footer, SNAPSHOT_HEADER_BYTES + this.body_bytes);
    this.files.datasync(this.fd); // before the rename: the name must never point at unsynced data
    this.files.close(this.fd);
    this.fd = null;
    this.files.rename(this.temporary_path(), `${this.dir}/${snapshot_name(this.sequence)}`);
    this.files.fsync_dir(this.dir);
    delete_old_snapshots(this.files, this.dir);
  }

  /** Gives up this snapshot (e.g. on DiskFullError); the previous ones stay. */
  abort(): void {
    if (this.fd === null) return;
    this.files.close(this.fd);
    this.fd = null;
    this.files.unlink(this.temporary_path());
  }

  private temporary_path(): string {
    return `${this.dir}/${snapshot_name(this.sequence)}.tmp`;
  }
}

/** Writes a whole snapshot at once. */
export function write_snapshot(
  files: FileLayer,
  dir: string,
  sequence: number,
  chunks: Uint8Array[],
): void {
  const writer = SnapshotWriter.begin(files, dir, sequence);
  for (const chunk of chunks) writer.write_chunk(chunk);
  writer.finish();
}

/**
 * The newest valid snapshot, or null. Damaged ones are skipped (and left for the operator);
 * leftover .tmp files of interrupted writes are deleted: only for a directory no process is
 * writing (start-up). A running node's directory is read with peek_newest_snapshot.
 */
export function read_newest_snapshot(files: FileLayer, dir: string): Snapshot | null {
  delete_temporary_files(files, dir);
  return peek_newest_snapshot(files, dir);
}

/** read_newest_snapshot without the clean-up: changes nothing, safe while a node writes. */
export function peek_newest_snapshot(files: FileLayer, dir: string): Snapshot | null {
  const file = peek_newest_snapshot_file(files, dir);
  return file === null ? null : { sequence: file.sequence, bytes: file.body };
}

export interface SnapshotFile {
  sequence: number;
  /** The whole file: header, body, footer (what a primary sends a standby). */
  file_bytes: Uint8Array;
  /** The body, a view into file_bytes. */
  body: Uint8Array;
}

/** The newest valid snapshot file, read whole (a later replacement does not change it); null if
 * none. Changes nothing. */
export function peek_newest_snapshot_file(files: FileLayer, dir: string): SnapshotFile | null {
  for (const { name, sequence } of list_snapshots(files, dir).reverse()) {
    const file_bytes = read_file(files, `${dir}/${name}`);
    const body = decode_snapshot(file_bytes, sequence);
    if (body !== null) return { sequence, file_bytes, body };
  }
  return null;
}

/**
 * Writes a whole snapshot file made elsewhere (a primary's, checked by decode_snapshot) under its
 * temporary name and syncs it; publish_snapshot_file then names it. Split so that a caller can
 * change the directory between the two (a crash before the name leaves no such snapshot). On an
 * error (a full disk) the temporary file is removed and nothing else has changed.
 */
export function stage_snapshot_file(files: FileLayer, dir: string, sequence: number,
  file_bytes: Uint8Array): void {
  assert(decode_snapshot(file_bytes, sequence) !== null, "a whole, valid snapshot file");
  const path = `${dir}/${snapshot_name(sequence)}.tmp`;
  const fd = files.open(path, true);
  try {
    files.truncate(fd, 0);
    files.write(fd, file_bytes, 0);
    files.datasync(fd); // before the rename: the name must never point at unsynced data
  } catch (error) {
    files.close(fd);
    files.unlink(path);
    throw error;
  }
  files.close(fd);
}

/** Names the snapshot stage_snapshot_file wrote, durably. */
export function publish_snapshot_file(files: FileLayer, dir: string, sequence: number): void {
  files.rename(`${dir}/${snapshot_name(sequence)}.tmp`, `${dir}/${snapshot_name(sequence)}`);
  files.fsync_dir(dir);
}

function encode_header(sequence: number, body_bytes: number): Uint8Array {
  const header = new Uint8Array(SNAPSHOT_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC, true);
  view.setUint16(4, SNAPSHOT_VERSION, true);
  view.setUint16(6, SNAPSHOT_HEADER_BYTES, true);
  view.setFloat64(8, sequence, true);
  view.setFloat64(16, body_bytes, true);
  return header; // bytes 24..31 stay zero (reserved)
}

/** The body if `bytes` is a whole, valid snapshot of `sequence`; null otherwise. */
export function decode_snapshot(bytes: Uint8Array, sequence: number): Uint8Array | null {
  if (bytes.length < SNAPSHOT_HEADER_BYTES + SNAPSHOT_FOOTER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const body_bytes = bytes.length - SNAPSHOT_HEADER_BYTES - SNAPSHOT_FOOTER_BYTES;
  if (view.getUint32(0, true) !== SNAPSHOT_MAGIC) return null;
  if (view.getUint16(4, true) !== SNAPSHOT_VERSION) return null;
  if (view.getUint16(6, true) !== SNAPSHOT_HEADER_BYTES) return null;
  if (view.getFloat64(8, true) !== sequence) return null;
  if (view.getFloat64(16, true) !== body_bytes) return null;
  if (view.getFloat64(24, true) !== 0) return null;
  if (view.getUint32(bytes.length - 4, true) !== SNAPSHOT_MAGIC) return null;
  const body = bytes.subarray(SNAPSHOT_HEADER_BYTES, SNAPSHOT_HEADER_BYTES + body_bytes);
  const header = bytes.subarray(0, SNAPSHOT_HEADER_BYTES);
  const crc32 = Bun.hash.crc32(header, Bun.hash.crc32(body));
  if (view.getUint32(bytes.length - SNAPSHOT_FOOTER_BYTES, true) !== crc32) return null;
  return body;
}

/** The snapshot files of a group directory, oldest first (valid or not). */
export function list_snapshots(files: FileLayer, dir: string): { name: string; sequence: number }[] {
  const snapshots: { name: string; sequence: number }[] = [];
  for (const name of files.list(dir)) {
    const match = SNAPSHOT_PATTERN.exec(name);
    if (match === null || match[1] === undefined) continue;
    const sequence = Number(match[1]);
    if (Number.isSafeInteger(sequence)) snapshots.push({ name, sequence });
  }
  return snapshots.sort((a, b) => a.sequence - b.sequence);
}

function delete_old_snapshots(files: FileLayer, dir: string): void {
  const snapshots = list_snapshots(files, dir);
  const old = snapshots.slice(0, Math.max(0, snapshots.length - SNAPSHOTS_KEPT));
  for (const { name } of old) files.unlink(`${dir}/${name}`);
  if (old.length > 0) files.fsync_dir(dir);
}

function delete_temporary_files(files: FileLayer, dir: string): void {
  let deleted_count = 0;
  for (const name of files.list(dir)) {
    if (!TEMPORARY_PATTERN.test(name)) continue;
    files.unlink(`${dir}/${name}`);
    deleted_count++;
  }
  if (deleted_count > 0) files.fsync_dir(dir);
}

function read_file(files: FileLayer, path: string): Uint8Array {
  const fd = files.open(path, false);
  try {
    const bytes = new Uint8Array(files.size_bytes(fd));
    const read_bytes = files.read(fd, bytes, 0);
    assert(read_bytes === bytes.length, "a file reads to its size");
    return bytes;
  } finally {
    files.close(fd);
  }
}
