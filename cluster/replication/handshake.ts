// The link's mutual authentication: each side proves it holds the cluster key by an HMAC-SHA256
// over both sides' fresh nonces and what the link is for (group, epoch, both nodes), so no secret
// crosses the wire and no answer can be replayed on another link or for another epoch.
//   primary -> hello(nonce P)    standby -> challenge(nonce S, MAC_standby)
//   primary checks MAC_standby, then -> proof(MAC_primary); the standby checks it.
// The two MACs carry different role bytes, so one side's answer is never the other's.

import { createHmac, randomFillSync, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { assert } from "../../common/assert.ts";
import {
  REPLICATION_KEY_BYTES_MAX, REPLICATION_KEY_BYTES_MIN, REPLICATION_MAC_BYTES,
  REPLICATION_NONCE_BYTES,
} from "./constants.ts";

/** The cluster key file is missing, unreadable, or of a length outside the limits. */
export class ClusterKeyError extends Error {
  override name = "ClusterKeyError";
}

/** Reads the cluster key: the file's bytes, a trailing newline left out. */
export function load_cluster_key(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new ClusterKeyError(`cluster key ${path}: ${String(error)}`);
  }
  let size_bytes = bytes.length;
  while (size_bytes > 0 && (bytes[size_bytes - 1] === 0x0a || bytes[size_bytes - 1] === 0x0d)) {
    size_bytes--;
  }
  if (size_bytes < REPLICATION_KEY_BYTES_MIN || size_bytes > REPLICATION_KEY_BYTES_MAX) {
    throw new ClusterKeyError(`cluster key ${path}: ${size_bytes} bytes, expected ` +
      `${REPLICATION_KEY_BYTES_MIN}..${REPLICATION_KEY_BYTES_MAX}`);
  }
  return bytes.slice(0, size_bytes);
}

export function check_cluster_key(key: Uint8Array): void {
  assert(key.length >= REPLICATION_KEY_BYTES_MIN && key.length <= REPLICATION_KEY_BYTES_MAX,
    "cluster key length within limits");
}

/** What both MACs cover besides the nonces. */
export interface LinkFacts {
  group: number;
  epoch: number;
  primary_node: number;
  standby_node: number;
}

export const MacRole = { standby: 1, primary: 2 } as const;
export type MacRole = (typeof MacRole)[keyof typeof MacRole];

const FACTS_BYTES = 1 + 4 * 4;

export function fill_nonce(target: Uint8Array): void {
  assert(target.length === REPLICATION_NONCE_BYTES, "a nonce of the protocol's size");
  randomFillSync(target);
}

/** The MAC of `role` for a link: 32 bytes. */
export function link_mac(key: Uint8Array, role: MacRole, facts: LinkFacts,
  primary_nonce: Uint8Array, standby_nonce: Uint8Array): Uint8Array {
  check_cluster_key(key);
  assert(primary_nonce.length === REPLICATION_NONCE_BYTES, "primary nonce size");
  assert(standby_nonce.length === REPLICATION_NONCE_BYTES, "standby nonce size");
  const message = new Uint8Array(FACTS_BYTES);
  const view = new DataView(message.buffer);
  view.setUint8(0, role);
  view.setUint32(1, facts.group, true);
  view.setUint32(5, facts.epoch, true);
  view.setUint32(9, facts.primary_node, true);
  view.setUint32(13, facts.standby_node, true);
  const mac = createHmac("sha256", key).update(message).update(primary_nonce)
    .update(standby_nonce).digest();
  assert(mac.length === REPLICATION_MAC_BYTES, "HMAC-SHA256 is 32 bytes");
  return new Uint8Array(mac);
}

/** Constant-time comparison of a received MAC with the expected one. */
export function mac_matches(received: Uint8Array, expected: Uint8Array): boolean {
  assert(expected.length === REPLICATION_MAC_BYTES, "expected MAC size");
  if (received.length !== expected.length) return false;
  return timingSafeEqual(received, expected);
}
