// A node's cluster settings from the environment, validated like config/config.ts: a bad or
// missing value stops the node with a ConfigError naming the variable. None of the variables set
// means no cluster: the node runs alone, exactly as before (load_cluster_config returns null).

import { ConfigError, integer, type Env } from "../../config/config.ts";
import {
  CLUSTER_NODES_MAX, LEASE_MS_DEFAULT, LEASE_MS_MAX, LEASE_MS_MIN, REPLICAS_DEFAULT, REPLICAS_MAX,
} from "../../common/constants.ts";
import {
  address_problem, CONTROL_PLANE_SCHEMA_DEFAULT, node_id_problem, schema_problem,
} from "../control_plane/inputs.ts";
import { replication_tls_files, type TlsFiles } from "../../auth/tls.ts";

export interface ClusterConfig {
  /** NODE_ID: this node's name in the control plane. */
  node_id: string;
  /** NODE_HTTP_ADDRESS, NODE_TCP_ADDRESS, NODE_REPLICATION_ADDRESS: host:port, as peers dial. */
  http_address: string;
  tcp_address: string;
  replication_address: string;
  /**
   * NODE_REPLICATION_LISTEN_ADDRESS: where the replication listener binds (host:port), when peers
   * reach it through another address (NAT, a proxy); NODE_REPLICATION_ADDRESS by default.
   */
  replication_listen_address: string;
  /** CLUSTER_DATABASE_URL: the control plane's PostgreSQL. */
  database_url: string;
  /** CLUSTER_DATABASE_SCHEMA: its tables' schema (default "cluster"). */
  database_schema: string;
  /** REPLICAS: copies of each group, the primary included (default REPLICAS_DEFAULT). */
  replicas: number;
  /** LEASE_MS: a lease's length (default LEASE_MS_DEFAULT). */
  lease_ms: number;
  /**
   * INITIAL_NODES: the groups are first placed once this many nodes registered (default: REPLICAS,
   * at least REPLICAS), so a cluster started node by node spreads its primaries over all of them.
   */
  initial_nodes: number;
  /** CLUSTER_KEY_FILE: the key every replication link proves (replication/handshake.ts). */
  key_file: string;
  /**
   * CLUSTER_TLS_CERT_FILE, CLUSTER_TLS_KEY_FILE, CLUSTER_TLS_CA_FILE: replication links in mutual
   * TLS, each side presenting a certificate of the cluster's CA; null: links in the clear (still
   * proving CLUSTER_KEY_FILE).
   */
  tls: TlsFiles | null;
}

/** Without these a node cannot join: set all of them, or none. */
export const CLUSTER_VARIABLES_REQUIRED = [
  "NODE_ID", "NODE_HTTP_ADDRESS", "NODE_TCP_ADDRESS", "NODE_REPLICATION_ADDRESS",
  "CLUSTER_DATABASE_URL", "CLUSTER_KEY_FILE",
] as const;
/** These have defaults, but setting one of them alone still asks for a cluster. */
export const CLUSTER_VARIABLES_OPTIONAL = [
  "CLUSTER_DATABASE_SCHEMA", "REPLICAS", "LEASE_MS", "INITIAL_NODES",
  "NODE_REPLICATION_LISTEN_ADDRESS",
] as const;

function is_set(env: Env, name: string): boolean {
  const text = env[name];
  return text !== undefined && text !== "";
}

/** The node's cluster settings, or null when none of the cluster's variables is set. */
export function load_cluster_config(env: Env): ClusterConfig | null {
  const names = [...CLUSTER_VARIABLES_REQUIRED, ...CLUSTER_VARIABLES_OPTIONAL];
  if (!names.some((name) => is_set(env, name))) return null;
  const missing = CLUSTER_VARIABLES_REQUIRED.filter((name) => !is_set(env, name));
  if (missing.length > 0) {
    const set = names.filter((name) => is_set(env, name));
    throw new ConfigError(`a cluster node needs ${missing.join(", ")} (set: ${set.join(", ")})`);
  }
  const replicas = integer(env, "REPLICAS", REPLICAS_DEFAULT, 1, REPLICAS_MAX);
  return {
    node_id: checked(env, "NODE_ID", node_id_problem),
    http_address: checked(env, "NODE_HTTP_ADDRESS", address_problem),
    tcp_address: checked(env, "NODE_TCP_ADDRESS", address_problem),
    replication_address: checked(env, "NODE_REPLICATION_ADDRESS", address_problem),
    tls: replication_tls_files(env),
    replication_listen_address: is_set(env, "NODE_REPLICATION_LISTEN_ADDRESS")
      ? checked(env, "NODE_REPLICATION_LISTEN_ADDRESS", address_problem)
      : env.NODE_REPLICATION_ADDRESS!,
    database_url: database_url_of(env.CLUSTER_DATABASE_URL!),
    database_schema: is_set(env, "CLUSTER_DATABASE_SCHEMA")
      ? checked(env, "CLUSTER_DATABASE_SCHEMA", schema_problem)
      : CONTROL_PLANE_SCHEMA_DEFAULT,
    replicas,
    initial_nodes: integer(env, "INITIAL_NODES", replicas, replicas, CLUSTER_NODES_MAX),
    lease_ms: integer(env, "LEASE_MS", LEASE_MS_DEFAULT, LEASE_MS_MIN, LEASE_MS_MAX),
    key_file: env.CLUSTER_KEY_FILE!,
  };
}

function checked(env: Env, name: string, problem_of: (text: string) => string | null): string {
  const text = env[name]!;
  const problem = problem_of(text);
  if (problem !== null) throw new ConfigError(`${name}: ${problem}`);
  return text;
}

/** CLUSTER_DATABASE_URL checked (the cluster tool reads it too). */
export function database_url_of(text: string): string {
  if (!/^postgres(ql)?:\/\/[^\s]+$/.test(text)) {
    throw new ConfigError(
      "CLUSTER_DATABASE_URL must be postgres://user[:password]@host[:port]/database");
  }
  return text;
}
