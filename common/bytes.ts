// Copies between byte arrays without making a view per copy: subarray() + set() allocates an
// object for every order and result moved, which the main thread and the engine pay per order.

/** Whole 32-bit words between DataViews (the engine's orders, ids and records). */
export function copy_words(source: DataView, source_offset: number, target: DataView,
  target_offset: number, word_count: number): void {
  for (let i = 0; i < word_count * 4; i += 4) {
    target.setUint32(target_offset + i, source.getUint32(source_offset + i, true), true);
  }
}

/** `length` bytes between Uint8Arrays (an order or a result: tens of bytes). */
export function copy_bytes(source: Uint8Array, source_offset: number, target: Uint8Array,
  target_offset: number, length: number): void {
  for (let i = 0; i < length; i++) target[target_offset + i] = source[source_offset + i]!;
}
