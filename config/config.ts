// Configuration from environment variables, each with a documented default (README, Configuration),
// validated at start-up: a bad value stops the service with a message naming the variable.

import {
  ENGINE_WORKERS_MAX, GROUPS_MAX, IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT, IDEMPOTENCY_WINDOW_MS_DEFAULT,
  IDEMPOTENCY_WINDOW_MS_MAX, IDEMPOTENCY_WINDOW_MS_MIN,
  JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT, JOURNAL_SEGMENT_SIZE_BYTES_MAX,
  JOURNAL_SEGMENT_SIZE_BYTES_MIN, RING_SLOT_COUNT_MAX, RING_SLOT_COUNT_MIN,
  TCP_CONNECTIONS_MAX_DEFAULT, TCP_CONNECTIONS_MAX_LIMIT, TCP_CONNECTIONS_PER_PRINCIPAL_MAX_DEFAULT,
  TCP_FRAME_TIMEOUT_MS_DEFAULT, TCP_FRAME_TIMEOUT_MS_MAX, TCP_FRAME_TIMEOUT_MS_MIN,
  TCP_IDLE_TIMEOUT_MS_DEFAULT,
  TCP_IDLE_TIMEOUT_MS_MAX, TCP_IDLE_TIMEOUT_MS_MIN, TCP_IN_FLIGHT_MAX_DEFAULT, TCP_IN_FLIGHT_MAX_LIMIT,
  TCP_PORT_DEFAULT, TCP_SEND_BUFFER_BYTES_MAX_DEFAULT, TCP_SEND_BUFFER_BYTES_MAX_LIMIT,
  TCP_SEND_BUFFER_BYTES_MAX_MIN, TCP_UNAUTHENTICATED_CONNECTIONS_MAX_DEFAULT,
} from "../common/constants.ts";

export interface Config {
  host: string;
  port: number;
  data_dir: string;
  groups: number;
  engine_workers: number;
  /** Optional partner -> group overrides; other partners are hashed. */
  group_map: Map<number, number>;
  accounts_per_group: number;
  holds_per_group: number;
  idempotency_window_ms: number;
  idempotency_entries_per_group: number;
  ring_slots: number;
  journal_segment_bytes: number;
  /**
   * JOURNAL_SHARED_FLUSH (on | off, default on): groups on one disk share one cache flush per group
   * commit where the file system allows it (journal/disk_flush_scope.ts); off: every group's
   * journal is fdatasynced on its own, whatever the file system.
   */
  journal_shared_flush: boolean;
  snapshot_interval_ms: number;
  request_timeout_ms: number;
  seed_file: string | null;
  tcp: TcpConfig;
  /** KAFKA_BROKERS (host:port[,host:port...]): the publisher runs only when set. */
  kafka_brokers: string | null;
  /** EVENTS_TOPIC: the topic the publisher produces to (default "balance-events"). */
  events_topic: string;
  /**
   * DATABASE_URL: the projector's PostgreSQL. When set (with KAFKA_BROKERS), a group with no local
   * state is loaded from it and the events topic before the node serves (storage_load/load.ts).
   */
  database_url: string | null;
  /** DATABASE_SCHEMA: the schema of the projector's tables (default: the server's search_path). */
  database_schema: string | null;
}

/** The binary TCP front door (docs/protocol.md, Limits). */
export interface TcpConfig {
  port: number;
  connections_max: number;
  in_flight_max: number;
  idle_timeout_ms: number;
  send_buffer_bytes_max: number;
  /** How long a frame may take from its first byte to its last. */
  frame_timeout_ms: number;
  /** Connections past Hello of one principal (a partner, or the internal principal). */
  connections_per_principal_max: number;
  /** Connections whose Hello is not verified yet. */
  unauthenticated_connections_max: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Env = Record<string, string | undefined>;

/** A whole number from the environment within [min, max], or `fallback` when unset or empty. */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text)) throw new ConfigError(`${name} must be a whole number, got "${text}"`);
  const value = Number(text);
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** "on" or "off" from the environment, or `fallback` when unset or empty. */
function on_off(env: Env, name: string, fallback: boolean): boolean {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (text === "on") return true;
  if (text === "off") return false;
  throw new ConfigError(`${name} must be on or off, got "${text}"`);
}

function power_of_two(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = integer(env, name, fallback, min, max);
  if ((value & (value - 1)) !== 0) throw new ConfigError(`${name} must be a power of two`);
  return value;
}

/** GROUP_MAP="7:0,8:3": partner 7 in group 0, partner 8 in group 3. */
function group_map(text: string | undefined, groups: number): Map<number, number> {
  const map = new Map<number, number>();
  if (text === undefined || text.trim() === "") return map;
  for (const pair of text.split(",")) {
    const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(pair);
    if (match === null) throw new ConfigError(`GROUP_MAP entry "${pair}" is not partner:group`);
    const partner = Number(match[1]);
    const group = Number(match[2]);
    if (partner < 1 || partner > 0xffff_ffff) throw new ConfigError(`GROUP_MAP partner ${partner}`);
    if (group >= groups) throw new ConfigError(`GROUP_MAP group ${group} >= GROUPS (${groups})`);
    map.set(partner, group);
  }
  return map;
}

export function load_config(env: Env = process.env): Config {
  const groups = integer(env, "GROUPS", 4, 1, GROUPS_MAX);
  const engine_workers = integer(env, "ENGINE_WORKERS", 1, 1, ENGINE_WORKERS_MAX);
  if (engine_workers > groups) throw new ConfigError("ENGINE_WORKERS must not exceed GROUPS");
  const host = env.HOST ?? "127.0.0.1";
  if (host === "") throw new ConfigError("HOST must not be empty");
  const brokers = kafka_brokers(env.KAFKA_BROKERS);
  const database_url = database_url_of(env.DATABASE_URL);
  // Loading from storage reads PostgreSQL, then replays Kafka from there.
  if (database_url !== null && brokers === null) {
    throw new ConfigError("DATABASE_URL needs KAFKA_BROKERS: a node loading from storage replays " +
      "the events topic after what PostgreSQL holds");
  }
  return {
    host,
    port: integer(env, "PORT", 8080, 0, 65535),
    data_dir: env.DATA_DIR || "./data",
    groups,
    engine_workers,
    group_map: group_map(env.GROUP_MAP, groups),
    accounts_per_group: integer(env, "ACCOUNTS_PER_GROUP", 1 << 20, 1, 1 << 26),
    holds_per_group: integer(env, "HOLDS_PER_GROUP", 1 << 18, 1, 1 << 24),
    idempotency_window_ms: integer(env, "IDEMPOTENCY_WINDOW_MS", IDEMPOTENCY_WINDOW_MS_DEFAULT,
      IDEMPOTENCY_WINDOW_MS_MIN, IDEMPOTENCY_WINDOW_MS_MAX),
    idempotency_entries_per_group: power_of_two(env, "IDEMPOTENCY_ENTRIES_PER_GROUP",
      IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT,
      1 << 8, 1 << 26),
    ring_slots: power_of_two(env, "RING_SLOTS", 4096, RING_SLOT_COUNT_MIN, RING_SLOT_COUNT_MAX),
    journal_segment_bytes: integer(env, "JOURNAL_SEGMENT_BYTES", JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT,
      JOURNAL_SEGMENT_SIZE_BYTES_MIN, JOURNAL_SEGMENT_SIZE_BYTES_MAX),
    journal_shared_flush: on_off(env, "JOURNAL_SHARED_FLUSH", true),
    snapshot_interval_ms: integer(env, "SNAPSHOT_INTERVAL_MS", 60_000, 1_000, 24 * 3600 * 1000),
    request_timeout_ms: integer(env, "REQUEST_TIMEOUT_MS", 10_000, 100, 600_000),
    seed_file: env.SEED_FILE || null,
    tcp: load_tcp_config(env),
    kafka_brokers: brokers,
    events_topic: events_topic(env.EVENTS_TOPIC),
    database_url,
    database_schema: database_schema(env.DATABASE_SCHEMA),
  };
}

function database_url_of(text: string | undefined): string | null {
  if (text === undefined || text.trim() === "") return null;
  if (!/^postgres(ql)?:\/\/[^\s]+$/.test(text)) {
    throw new ConfigError("DATABASE_URL must be postgres://user[:password]@host[:port]/database");
  }
  return text;
}

function database_schema(text: string | undefined): string | null {
  if (text === undefined || text === "") return null;
  if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(text)) {
    throw new ConfigError(`DATABASE_SCHEMA "${text}" is not a PostgreSQL identifier`);
  }
  return text;
}

function kafka_brokers(text: string | undefined): string | null {
  if (text === undefined || text.trim() === "") return null;
  const brokers = text.split(",").map((b) => b.trim());
  for (const broker of brokers) {
    const match = /^[A-Za-z0-9.\-\[\]:]+:(\d+)$/.exec(broker);
    const port = match === null ? 0 : Number(match[1]);
    if (port < 1 || port > 65535) {
      throw new ConfigError(`KAFKA_BROKERS entry "${broker}" is not host:port`);
    }
  }
  return brokers.join(",");
}

function events_topic(text: string | undefined): string {
  if (text === undefined || text === "") return "balance-events";
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(text) || text === "." || text === "..") {
    throw new ConfigError(`EVENTS_TOPIC "${text}" is not a valid Kafka topic name ` +
      `(1-249 of A-Z a-z 0-9 . _ -)`);
  }
  return text;
}

function load_tcp_config(env: Env): TcpConfig {
  const connections_max = integer(env, "TCP_CONNECTIONS_MAX", TCP_CONNECTIONS_MAX_DEFAULT, 1,
    TCP_CONNECTIONS_MAX_LIMIT);
  return {
    port: integer(env, "TCP_PORT", TCP_PORT_DEFAULT, 0, 65535),
    connections_max,
    in_flight_max: integer(env, "TCP_IN_FLIGHT_MAX", TCP_IN_FLIGHT_MAX_DEFAULT, 1,
      TCP_IN_FLIGHT_MAX_LIMIT),
    idle_timeout_ms: integer(env, "TCP_IDLE_TIMEOUT_MS", TCP_IDLE_TIMEOUT_MS_DEFAULT,
      TCP_IDLE_TIMEOUT_MS_MIN, TCP_IDLE_TIMEOUT_MS_MAX),
    send_buffer_bytes_max: integer(env, "TCP_SEND_BUFFER_BYTES_MAX",
      TCP_SEND_BUFFER_BYTES_MAX_DEFAULT, TCP_SEND_BUFFER_BYTES_MAX_MIN,
      TCP_SEND_BUFFER_BYTES_MAX_LIMIT),
    frame_timeout_ms: integer(env, "TCP_FRAME_TIMEOUT_MS", TCP_FRAME_TIMEOUT_MS_DEFAULT,
      TCP_FRAME_TIMEOUT_MS_MIN, TCP_FRAME_TIMEOUT_MS_MAX),
    // A share of TCP_CONNECTIONS_MAX: at most all of it; the defaults are lowered to it.
    connections_per_principal_max: integer(env, "TCP_CONNECTIONS_PER_PRINCIPAL_MAX",
      Math.min(TCP_CONNECTIONS_PER_PRINCIPAL_MAX_DEFAULT, connections_max), 1, connections_max),
    unauthenticated_connections_max: integer(env, "TCP_UNAUTHENTICATED_CONNECTIONS_MAX",
      Math.min(TCP_UNAUTHENTICATED_CONNECTIONS_MAX_DEFAULT, connections_max), 1, connections_max),
  };
}
