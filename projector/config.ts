// The projector process's configuration from environment variables, each with a documented default
// (docs/projector.md, Configuration), validated at start-up: a bad value stops the process (exit 2)
// with a message naming the variable. Authentication settings (AUTH, AUTH_KEYS_FILE, ...) are the
// service's own (auth/options.ts), read by set_up_auth with DATA_DIR.

import { ConfigError } from "../config/config.ts";

export { ConfigError };

export const EVENTS_TOPIC_DEFAULT = "balance-events";
export const PROJECTOR_GROUP_ID_DEFAULT = "balance-projector";
export const PROJECTOR_HOST_DEFAULT = "127.0.0.1";
export const PROJECTOR_PORT_DEFAULT = 8070;
/** Where the service keeps its development keys file (config/config.ts DATA_DIR). */
export const DATA_DIR_DEFAULT = "./data";
/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1). */
export const SCHEMA_NAME_LENGTH_MAX = 63;
/** Kafka's limit on topic names; consumer group ids are held to the same. */
export const KAFKA_NAME_LENGTH_MAX = 249;
const PORT_MAX = 65_535;

export interface ProjectorConfig {
  /** DATABASE_URL: postgres://user@host:port/database */
  database_url: string;
  /** DATABASE_SCHEMA: the tables' schema; null: the server's search_path (normally public). */
  database_schema: string | null;
  /** KAFKA_BROKERS: host:port[,host:port...] */
  kafka_brokers: string;
  events_topic: string;
  group_id: string;
  /** The read API's address (PROJECTOR_HOST, PROJECTOR_PORT; port 0: any free port). */
  http_host: string;
  http_port: number;
  /** DATA_DIR: where the development keys file is, as for the service. */
  data_dir: string;
}

type Env = Record<string, string | undefined>;

/** Throws ConfigError naming the first variable that is missing or malformed. */
export function load_projector_config(env: Env = process.env): ProjectorConfig {
  return {
    database_url: database_url_of(env.DATABASE_URL),
    database_schema: database_schema_of(env.DATABASE_SCHEMA),
    kafka_brokers: kafka_brokers_of(env.KAFKA_BROKERS),
    events_topic: kafka_name_of("EVENTS_TOPIC", env.EVENTS_TOPIC, EVENTS_TOPIC_DEFAULT),
    group_id: kafka_name_of("PROJECTOR_GROUP_ID", env.PROJECTOR_GROUP_ID, PROJECTOR_GROUP_ID_DEFAULT),
    http_host: host_of(env.PROJECTOR_HOST),
    http_port: port_of(env.PROJECTOR_PORT),
    data_dir: env.DATA_DIR || DATA_DIR_DEFAULT,
  };
}

function database_url_of(text: string | undefined): string {
  if (text === undefined || text === "") {
    throw new ConfigError("DATABASE_URL must be set (postgres://user@host:port/database)");
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`DATABASE_URL is not a URL (postgres://user@host:port/database)`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError(`DATABASE_URL must start with postgres:// or postgresql://, ` +
      `got ${url.protocol}//`);
  }
  if (url.hostname === "") throw new ConfigError("DATABASE_URL names no host");
  return text;
}

/** A plain identifier, so it is safe as a search_path and needs no quoting. */
function database_schema_of(text: string | undefined): string | null {
  if (text === undefined || text === "") return null;
  if (!/^[a-z_][a-z0-9_]*$/.test(text) || text.length > SCHEMA_NAME_LENGTH_MAX) {
    throw new ConfigError(`DATABASE_SCHEMA must be 1..${SCHEMA_NAME_LENGTH_MAX} of a-z 0-9 _ ` +
      `(not starting with a digit), got "${text}"`);
  }
  return text;
}

function kafka_brokers_of(text: string | undefined): string {
  if (text === undefined || text.trim() === "") {
    throw new ConfigError("KAFKA_BROKERS must be set (host:port[,host:port...])");
  }
  const brokers = text.split(",").map((broker) => broker.trim());
  for (const broker of brokers) {
    const match = /^[A-Za-z0-9.\-\[\]:]+:(\d{1,5})$/.exec(broker);
    const port = match === null ? 0 : Number(match[1]);
    if (port < 1 || port > PORT_MAX) {
      throw new ConfigError(`KAFKA_BROKERS entry "${broker}" is not host:port`);
    }
  }
  return brokers.join(",");
}

function kafka_name_of(name: string, text: string | undefined, fallback: string): string {
  if (text === undefined || text === "") return fallback;
  const valid = /^[A-Za-z0-9._-]+$/.test(text) && text.length <= KAFKA_NAME_LENGTH_MAX &&
    text !== "." && text !== "..";
  if (!valid) {
    throw new ConfigError(`${name} must be 1..${KAFKA_NAME_LENGTH_MAX} of A-Z a-z 0-9 . _ -, ` +
      `got "${text}"`);
  }
  return text;
}

function host_of(text: string | undefined): string {
  if (text === undefined) return PROJECTOR_HOST_DEFAULT;
  if (text === "" || /\s/.test(text)) {
    throw new ConfigError(`PROJECTOR_HOST must be a host name or address, got "${text}"`);
  }
  return text;
}

function port_of(text: string | undefined): number {
  if (text === undefined || text === "") return PROJECTOR_PORT_DEFAULT;
  if (!/^\d{1,5}$/.test(text) || Number(text) > PORT_MAX) {
    throw new ConfigError(`PROJECTOR_PORT must be 0..${PORT_MAX} (0: any free port), got "${text}"`);
  }
  return Number(text);
}
