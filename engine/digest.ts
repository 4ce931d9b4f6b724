// The payload digest of an order: tells a retry (same payload) from an id conflict (different
// payload under the same id). FNV-1a over the eight 32-bit words after the id, unrolled so nothing
// is allocated. Used by the engine and by replay, which must rebuild the same window.

export function order_digest(view: DataView, at: number): number {
  let h = 0x811c9dc5;
  h = Math.imul(h ^ view.getUint32(at + 8, true), 0x01000193);
  h = Math.imul(h ^ view.getUint32(at + 12, true), 0x01000193);
  h = Math.imul(h ^ view.getUint32(at + 16, true), 0x01000193);
  h = Math.imul(h ^ view.getUint32(at + 20, true), 0x01000193);
  h = Math.imul(h ^ view.getUint32(at + 24, true), 0x01000193);
  h = Math.imul(h ^ view.getUint32(at + 28, true), 0x01000193);
  h = Math.imul(h ^ view.getUint32(at + 32, true), 0x01000193);
  h = Math.imul(h ^ view.getUint32(at + 36, true), 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}
