// The number a node goes by on replication links (a frame header holds a u32, the control plane
// a NODE_ID string): FNV-1a of the id. Two registered ids with one number would let one stand in
// for the other on a link, so a node refuses to start beside a node whose number it shares.

export function node_number(node_id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < node_id.length; i++) {
    hash ^= node_id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
