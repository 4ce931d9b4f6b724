// What the control plane accepts from its callers, checked before anything is written. Each check
// returns a message naming the problem, or null: the node's configuration turns a message into a
// ConfigError at start-up, and every operation asserts it (a caller that skipped the check is a
// programmer error, and nothing has been written when the assertion fires).

import {
  DISK_ID_LENGTH_MAX, GROUPS_MAX, LEASE_MS_MAX, LEASE_MS_MIN, NODE_ADDRESS_LENGTH_MAX,
  NODE_ID_LENGTH_MAX, PARTNER_ID_MAX, REPLICAS_MAX,
} from "../../common/constants.ts";

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1). */
export const SCHEMA_NAME_LENGTH_MAX = 63;
/** The control plane's tables live in this PostgreSQL schema unless told otherwise. */
export const CONTROL_PLANE_SCHEMA_DEFAULT = "cluster";

/** GROUPS, REPLICAS and the partner map: one setting for the whole cluster. */
export interface ClusterSettings {
  groups: number;
  replicas: number;
  /** GROUP_MAP's overrides, partner -> group; other partners are hashed. */
  partner_map: ReadonlyMap<number, number>;
}

/** Where a node is reached, and the disk it runs on. */
export interface NodeRegistration {
  node_id: string;
  http_address: string;
  tcp_address: string;
  replication_address: string;
  disk_id: string;
}

const ID_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]*$/;
const ADDRESS_PATTERN = /^[A-Za-z0-9.\-\[\]:]+:(\d{1,5})$/;
const PORT_MAX = 65_535;

function id_problem(what: string, text: string, length_max: number): string | null {
  if (text.length === 0 || text.length > length_max || !ID_PATTERN.test(text)) {
    return `${what} must be 1..${length_max} of a-z 0-9 _ - (not starting with _ or -), ` +
      `got "${text}"`;
  }
  return null;
}

export function node_id_problem(text: string): string | null {
  return id_problem("node id", text, NODE_ID_LENGTH_MAX);
}

export function disk_id_problem(text: string): string | null {
  return id_problem("disk id", text, DISK_ID_LENGTH_MAX);
}

/** host:port, as a peer dials it. */
export function address_problem(text: string): string | null {
  const match = ADDRESS_PATTERN.exec(text);
  const port = match === null ? 0 : Number(match[1]);
  if (text.length > NODE_ADDRESS_LENGTH_MAX || port < 1 || port > PORT_MAX) {
    return `address must be host:port (at most ${NODE_ADDRESS_LENGTH_MAX} characters), ` +
      `got "${text}"`;
  }
  return null;
}

/** A plain identifier, so it is safe as a search_path and needs no quoting. */
export function schema_problem(text: string): string | null {
  if (text.length === 0 || text.length > SCHEMA_NAME_LENGTH_MAX || !SCHEMA_PATTERN.test(text)) {
    return `schema must be 1..${SCHEMA_NAME_LENGTH_MAX} of a-z 0-9 _ ` +
      `(not starting with a digit), got "${text}"`;
  }
  return null;
}

export function lease_ms_problem(lease_ms: number): string | null {
  if (!Number.isInteger(lease_ms) || lease_ms < LEASE_MS_MIN || lease_ms > LEASE_MS_MAX) {
    return `lease must be ${LEASE_MS_MIN}..${LEASE_MS_MAX} ms, got ${lease_ms}`;
  }
  return null;
}

export function registration_problem(node: NodeRegistration): string | null {
  return node_id_problem(node.node_id) ?? disk_id_problem(node.disk_id) ??
    address_problem(node.http_address) ?? address_problem(node.tcp_address) ??
    address_problem(node.replication_address);
}

export function settings_problem(settings: ClusterSettings): string | null {
  const { groups, replicas } = settings;
  if (!Number.isInteger(groups) || groups < 1 || groups > GROUPS_MAX) {
    return `groups must be 1..${GROUPS_MAX}, got ${groups}`;
  }
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > REPLICAS_MAX) {
    return `replicas must be 1..${REPLICAS_MAX}, got ${replicas}`;
  }
  for (const [partner, group] of settings.partner_map) {
    if (!Number.isInteger(partner) || partner < 1 || partner > PARTNER_ID_MAX) {
      return `partner map: partner ${partner} is not 1..${PARTNER_ID_MAX}`;
    }
    if (!Number.isInteger(group) || group < 0 || group >= groups) {
      return `partner map: partner ${partner}'s group ${group} is not 0..${groups - 1}`;
    }
  }
  return null;
}

/** A sequence the journal can hold: 1..2^53 - 1. */
export function sequence_problem(sequence: number): string | null {
  if (!Number.isSafeInteger(sequence) || sequence < 1) {
    return `sequence ${sequence} is not 1..2^53-1`;
  }
  return null;
}
