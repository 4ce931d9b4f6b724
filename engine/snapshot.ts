// A group's state as bytes, for snapshots: everything replay needs to continue from its sequence
// (accounts, holds open and recently closed, the idempotency window, engine time, epoch).
// Capturing copies the used part of each table (a memcpy per array), so the engine is stalled only
// for that copy; the copies are then written to disk elsewhere. Indexes are rebuilt on restore.
//
// Layout (little-endian): a 64-byte meta block, the account records (engine/accounts.ts), then the
// holds and the window, each a list of column arrays of `count` elements. Every part starts
// 8-aligned.

import { assert } from "../common/assert.ts";
import { ACCOUNT_RECORD_BYTES } from "./accounts.ts";
import type { GroupEngine } from "./group_engine.ts";
import type { HoldState } from "../schema/hold_state.ts";

const STATE_MAGIC = 0x41545347; // "GSTA": group state (the file around it has its own header)
// 2: accounts as 64-byte records. 3: account and order ids are each partner's own (holds carry
// their partner; the window and the accounts already did).
export const STATE_VERSION = 3;
const META_BYTES = 64;

type Column = Uint32Array | Int32Array | Uint16Array | Uint8Array | Float64Array;

function padded(bytes: number): number {
  return (bytes + 7) & ~7;
}

// partner, id_hi, id_lo, account, amount, expires, closed, state
const HOLD_COLUMN_BYTES = [4, 4, 4, 4, 8, 8, 8, 1];
const WINDOW_COLUMN_BYTES = [4, 4, 4, 4, 1, 8, 8, 8];

/** Bytes the snapshot of this engine's state takes right now. */
export function snapshot_size_bytes(engine: GroupEngine): number {
  const holds = engine.holds.used_count;
  const window = engine.window.count;
  return META_BYTES + padded(engine.accounts.count * ACCOUNT_RECORD_BYTES) +
    HOLD_COLUMN_BYTES.reduce((sum, bytes) => sum + padded(bytes * holds), 0) +
    WINDOW_COLUMN_BYTES.reduce((sum, bytes) => sum + padded(bytes * window), 0);
}

/**
 * Writes the snapshot into `target` (at least snapshot_size_bytes long, 8-aligned) and returns its
 * size. The engine's stall is this copy: into a reused, already-touched buffer it is a memcpy speed.
 */
export function write_snapshot_into(engine: GroupEngine, target: Uint8Array): number {
  const size = snapshot_size_bytes(engine);
  assert(target.byteLength >= size, "snapshot target too small");
  assert(target.byteOffset % 8 === 0, "snapshot target 8-aligned");
  const a = engine.accounts;
  const meta = new DataView(target.buffer, target.byteOffset, META_BYTES);
  meta.setUint32(0, STATE_MAGIC, true);
  meta.setUint32(4, STATE_VERSION, true);
  meta.setUint32(8, engine.group, true);
  meta.setUint32(12, engine.epoch, true);
  meta.setFloat64(16, engine.last_sequence, true);
  meta.setFloat64(24, engine.engine_time_ms, true);
  meta.setUint32(32, a.count, true);
  meta.setUint32(36, engine.holds.used_count, true);
  meta.setUint32(40, engine.window.count, true);
  meta.setUint32(44, 0, true);
  meta.setFloat64(48, engine.window.window_ms, true);
  meta.setFloat64(56, 0, true);
  let offset = META_BYTES;
  target.set(a.records_view(a.count), offset); // one memcpy: accounts are fixed-size records
  offset += padded(a.count * ACCOUNT_RECORD_BYTES);
  offset = write_holds(engine, target, offset);
  offset = write_window(engine, target, offset);
  assert(offset === size, "snapshot size as computed");
  return size;
}

/** The snapshot as one fresh buffer (tests and tools; the engine worker reuses its buffers). */
export function capture_snapshot(engine: GroupEngine): Uint8Array[] {
  const bytes = new Uint8Array(snapshot_size_bytes(engine));
  write_snapshot_into(engine, bytes);
  return [bytes];
}

function write_holds(engine: GroupEngine, target: Uint8Array, offset: number): number {
  const h = engine.holds;
  const n = h.used_count;
  const base = target.byteOffset + offset;
  const at = HOLD_COLUMN_BYTES.map((_, c) => base +
    HOLD_COLUMN_BYTES.slice(0, c).reduce((sum, bytes) => sum + padded(bytes * n), 0));
  const partner = new Uint32Array(target.buffer, at[0], n);
  const id_hi = new Uint32Array(target.buffer, at[1], n);
  const id_lo = new Uint32Array(target.buffer, at[2], n);
  const account = new Int32Array(target.buffer, at[3], n);
  const amount = new Float64Array(target.buffer, at[4], n);
  const expires = new Float64Array(target.buffer, at[5], n);
  const closed = new Float64Array(target.buffer, at[6], n);
  const state = new Uint8Array(target.buffer, at[7], n);
  let i = 0;
  h.for_each_used((slot) => {
    partner[i] = h.partner[slot]!;
    id_hi[i] = h.id_hi[slot]!;
    id_lo[i] = h.id_lo[slot]!;
    account[i] = h.account_slot[slot]!;
    amount[i] = h.amount_minor[slot]!;
    expires[i] = h.expires_at_ms[slot]!;
    closed[i] = h.closed_at_ms[slot]!;
    state[i] = h.state[slot]!;
    i++;
  });
  assert(i === n, "snapshot: hold count mismatch");
  return offset + HOLD_COLUMN_BYTES.reduce((sum, bytes) => sum + padded(bytes * n), 0);
}

/** The window's live entries, column by column, oldest bucket first, in insertion order (copied
 * a page at a time: IdempotencyWindow.copy_live_into). */
function write_window(engine: GroupEngine, target: Uint8Array, offset: number): number {
  const w = engine.window;
  const n = w.count;
  const column = <T extends Column>(make: (buffer: ArrayBuffer, offset: number, length: number) => T,
    element_bytes: number): T => {
    const view = make(target.buffer as ArrayBuffer, target.byteOffset + offset, n);
    offset += padded(n * element_bytes);
    return view;
  };
  const id_hi = column(u32, 4), id_lo = column(u32, 4), digest = column(u32, 4);
  const partner = column(u32, 4), status = column(u8, 1), sequence = column(f64, 8);
  const balance_minor = column(f64, 8), available_minor = column(f64, 8);
  w.copy_live_into({ id_hi, id_lo, digest, partner, status, sequence, balance_minor,
    available_minor });
  return offset;
}

/** Reads columns back in order. */
class ColumnReader {
  private offset = META_BYTES;
  constructor(private readonly bytes: Uint8Array) {}

  next<T extends Column>(make: (buffer: ArrayBuffer, offset: number, length: number) => T,
    element_bytes: number, count: number): T {
    const size = count * element_bytes;
    assert(this.offset + size <= this.bytes.byteLength, "snapshot: truncated");
    // Copy into a fresh aligned buffer: the snapshot bytes may sit at any offset.
    const copy = this.bytes.slice(this.offset, this.offset + size);
    this.offset += padded(size);
    return make(copy.buffer, 0, count);
  }

  done(): void {
    assert(this.offset === this.bytes.byteLength, "snapshot: trailing bytes");
  }
}

const u32 = (b: ArrayBuffer, o: number, n: number) => new Uint32Array(b, o, n);
const i32 = (b: ArrayBuffer, o: number, n: number) => new Int32Array(b, o, n);
const u8 = (b: ArrayBuffer, o: number, n: number) => new Uint8Array(b, o, n);
const f64 = (b: ArrayBuffer, o: number, n: number) => new Float64Array(b, o, n);

export interface SnapshotMeta {
  group: number;
  /** The engine's epoch when it was taken (at least its last entry's). */
  epoch: number;
  last_sequence: number;
}

/** What a snapshot says of itself, checked before restoring one received from elsewhere; null
 * when it is too short or not a group state of this version. */
export function read_snapshot_meta(bytes: Uint8Array): SnapshotMeta | null {
  if (bytes.byteLength < META_BYTES) return null;
  const meta = new DataView(bytes.buffer, bytes.byteOffset, META_BYTES);
  if (meta.getUint32(0, true) !== STATE_MAGIC) return null;
  if (meta.getUint32(4, true) !== STATE_VERSION) return null;
  return { group: meta.getUint32(8, true), epoch: meta.getUint32(12, true),
    last_sequence: meta.getFloat64(16, true) };
}

/** Loads a snapshot into a freshly constructed engine (its tables empty). */
export function restore_snapshot(engine: GroupEngine, bytes: Uint8Array): void {
  assert(engine.last_sequence === 0 && engine.accounts.count === 0, "restore into a fresh engine");
  const meta = new DataView(bytes.buffer, bytes.byteOffset, META_BYTES);
  assert(meta.getUint32(0, true) === STATE_MAGIC, "snapshot: bad magic");
  check_state_version(meta.getUint32(4, true));
  assert(meta.getUint32(8, true) === engine.group, "snapshot: another group's");
  const account_count = meta.getUint32(32, true);
  const hold_count = meta.getUint32(36, true);
  const window_count = meta.getUint32(40, true);
  assert(account_count <= engine.accounts.capacity, "snapshot: more accounts than configured");
  assert(hold_count <= engine.holds.capacity, "snapshot: more holds than configured");
  assert(window_count <= engine.window.capacity, "snapshot: window larger than configured");
  const reader = new ColumnReader(bytes);
  restore_accounts(engine, reader, account_count);
  restore_holds(engine, reader, hold_count);
  restore_window(engine, reader, window_count);
  reader.done();
  engine.epoch = Math.max(engine.epoch, meta.getUint32(12, true));
  engine.last_sequence = meta.getFloat64(16, true);
  engine.engine_time_ms = meta.getFloat64(24, true);
}

/** An older version is an operator's matter (data of an older release), not a bug: say so. */
function check_state_version(version: number): void {
  if (version === STATE_VERSION) return;
  if (version < STATE_VERSION) {
    throw new Error(`snapshot: group state version ${version} is no longer read (version ` +
      `${STATE_VERSION} keys account and order ids by partner): remove the group's data to start ` +
      "it afresh, or load it from storage");
  }
  throw new Error(`snapshot: group state version ${version} is newer than this release reads ` +
    `(${STATE_VERSION})`);
}

function restore_accounts(engine: GroupEngine, reader: ColumnReader, n: number): void {
  const records = reader.next(u8, 1, n * ACCOUNT_RECORD_BYTES);
  const a = engine.accounts;
  a.restore_records(records, n);
  for (let slot = 0; slot < n; slot++) a.verify(slot);
}

function restore_holds(engine: GroupEngine, reader: ColumnReader, n: number): void {
  const partner = reader.next(u32, 4, n);
  const id_hi = reader.next(u32, 4, n), id_lo = reader.next(u32, 4, n);
  const account = reader.next(i32, 4, n), amount = reader.next(f64, 8, n);
  const expires = reader.next(f64, 8, n), closed = reader.next(f64, 8, n);
  const state = reader.next(u8, 1, n);
  for (let i = 0; i < n; i++) {
    assert(engine.accounts.partner(account[i]!) === partner[i], "snapshot: a hold's partner");
    engine.holds.restore(partner[i]!, id_hi[i]!, id_lo[i]!, account[i]!, amount[i]!, expires[i]!,
      state[i]! as HoldState, closed[i]!);
  }
}

function restore_window(engine: GroupEngine, reader: ColumnReader, n: number): void {
  const id_hi = reader.next(u32, 4, n), id_lo = reader.next(u32, 4, n);
  const digest = reader.next(u32, 4, n), partner = reader.next(u32, 4, n);
  const status = reader.next(u8, 1, n);
  const sequence = reader.next(f64, 8, n), balance = reader.next(f64, 8, n);
  const available = reader.next(f64, 8, n);
  for (let i = 0; i < n; i++) {
    if (engine.window.room_for(id_hi[i]!, id_lo[i]!) === 0) {
      throw new Error("the snapshot's idempotency window does not fit this configuration: raise " +
        "IDEMPOTENCY_ENTRIES_PER_GROUP (or restore IDEMPOTENCY_WINDOW_MS) to what wrote it");
    }
    engine.window.insert(id_hi[i]!, id_lo[i]!, digest[i]!, partner[i]!, status[i]!, sequence[i]!,
      balance[i]!, available[i]!);
  }
}
