// A reusable snapshot buffer per group, shared with the journal worker. The engine's snapshot
// stall is the copy into it: a fresh buffer costs a page fault per 4 KiB (measured ~6x the copy
// itself), so each group keeps its buffer and reuses it. The first 8 bytes hold a flag: 1 while
// the journal worker is writing the buffer to disk, 0 when the engine may fill it again.

import { assert } from "./assert.ts";

export const SNAPSHOT_BUFFER_HEADER_BYTES = 8;
/** A new buffer is sized with this much room to grow, so it is rarely replaced. */
const SNAPSHOT_BUFFER_GROWTH = 1.25;
const IN_USE = 0;

export function snapshot_buffer_capacity(buffer: SharedArrayBuffer): number {
  return buffer.byteLength - SNAPSHOT_BUFFER_HEADER_BYTES;
}

export function allocate_snapshot_buffer(size_bytes: number): SharedArrayBuffer {
  const capacity = Math.ceil((size_bytes * SNAPSHOT_BUFFER_GROWTH) / 8) * 8;
  return new SharedArrayBuffer(SNAPSHOT_BUFFER_HEADER_BYTES + capacity);
}

export function snapshot_buffer_in_use(buffer: SharedArrayBuffer): boolean {
  return Atomics.load(new Int32Array(buffer, 0, 1), IN_USE) !== 0;
}

/** The engine hands the buffer over: the journal worker owns it until release. */
export function snapshot_buffer_hand_over(buffer: SharedArrayBuffer): void {
  assert(!snapshot_buffer_in_use(buffer), "snapshot buffer handed over twice");
  Atomics.store(new Int32Array(buffer, 0, 1), IN_USE, 1);
}

/** The journal worker has written the snapshot: the engine may reuse the buffer. */
export function snapshot_buffer_release(buffer: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(buffer, 0, 1), IN_USE, 0);
}

export function snapshot_buffer_bytes(buffer: SharedArrayBuffer, size_bytes: number): Uint8Array {
  return new Uint8Array(buffer, SNAPSHOT_BUFFER_HEADER_BYTES, size_bytes);
}
