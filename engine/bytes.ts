// Copies whole 32-bit words between views: the engine moves orders and ids this way instead of
// through subarray() + set(), which would allocate a view object per order.

export function copy_words(source: DataView, source_offset: number, target: DataView,
  target_offset: number, word_count: number): void {
  for (let i = 0; i < word_count * 4; i += 4) {
    target.setUint32(target_offset + i, source.getUint32(source_offset + i, true), true);
  }
}
