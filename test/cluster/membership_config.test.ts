// A node's cluster settings from the environment (cluster/membership/cluster_config.ts): none set
// is no cluster, a partial set names what is missing, and every value is checked at its bounds.

import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../config/config.ts";
import {
  CLUSTER_NODES_MAX, LEASE_MS_DEFAULT, LEASE_MS_MAX, LEASE_MS_MIN, NODE_ADDRESS_LENGTH_MAX,
  NODE_ID_LENGTH_MAX, REPLICAS_DEFAULT, REPLICAS_MAX,
} from "../../common/constants.ts";
import { load_cluster_config } from "../../cluster/membership/cluster_config.ts";

const FULL: Record<string, string> = {
  NODE_ID: "node-a",
  NODE_HTTP_ADDRESS: "127.0.0.1:8080",
  NODE_TCP_ADDRESS: "127.0.0.1:9090",
  NODE_REPLICATION_ADDRESS: "127.0.0.1:9191",
  CLUSTER_DATABASE_URL: "postgres://postgres@127.0.0.1:25432/balance",
  CLUSTER_KEY_FILE: "/etc/balance/cluster.key",
};

function error_of(env: Record<string, string | undefined>): string {
  try {
    load_cluster_config(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("load_cluster_config", () => {
  test("none of the variables set (or all empty): no cluster", () => {
    expect(load_cluster_config({})).toBeNull();
    expect(load_cluster_config({ PORT: "8080", DATABASE_URL: "postgres://x@y/z" })).toBeNull();
    expect(load_cluster_config({ NODE_ID: "", REPLICAS: "" })).toBeNull();
  });

  test("all required set: defaults for the schema, REPLICAS and LEASE_MS", () => {
    expect(load_cluster_config(FULL)).toEqual({
      node_id: "node-a", http_address: "127.0.0.1:8080", tcp_address: "127.0.0.1:9090",
      replication_address: "127.0.0.1:9191", replication_listen_address: "127.0.0.1:9191",
      database_url: "postgres://postgres@127.0.0.1:25432/balance",
      database_schema: "cluster", replicas: REPLICAS_DEFAULT, lease_ms: LEASE_MS_DEFAULT,
      key_file: "/etc/balance/cluster.key", initial_nodes: REPLICAS_DEFAULT, tls: null,
    });
  });

  test("partially set: names every missing variable", () => {
    expect(error_of({ NODE_ID: "node-a" })).toBe("a cluster node needs NODE_HTTP_ADDRESS, " +
      "NODE_TCP_ADDRESS, NODE_REPLICATION_ADDRESS, CLUSTER_DATABASE_URL, CLUSTER_KEY_FILE " +
      "(set: NODE_ID)");
    expect(error_of({ ...FULL, CLUSTER_DATABASE_URL: undefined }))
      .toContain("needs CLUSTER_DATABASE_URL (");
    // An optional variable alone still asks for a cluster.
    expect(error_of({ REPLICAS: "3" })).toContain("needs NODE_ID, NODE_HTTP_ADDRESS");
    expect(error_of({ LEASE_MS: "1000" })).toContain("(set: LEASE_MS)");
  });

  test("REPLICAS at its bounds", () => {
    expect(load_cluster_config({ ...FULL, REPLICAS: "1" })!.replicas).toBe(1);
    expect(load_cluster_config({ ...FULL, REPLICAS: `${REPLICAS_MAX}` })!.replicas)
      .toBe(REPLICAS_MAX);
    expect(error_of({ ...FULL, REPLICAS: "0" })).toBe(
      `REPLICAS must be between 1 and ${REPLICAS_MAX}, got 0`);
    expect(error_of({ ...FULL, REPLICAS: `${REPLICAS_MAX + 1}` })).toContain("REPLICAS must be");
    expect(error_of({ ...FULL, REPLICAS: "2.5" })).toContain("REPLICAS must be a whole number");
    expect(error_of({ ...FULL, REPLICAS: "-1" })).toContain("REPLICAS must be a whole number");
  });

  test("INITIAL_NODES: REPLICAS by default, at least REPLICAS, at most CLUSTER_NODES_MAX", () => {
    expect(load_cluster_config({ ...FULL, REPLICAS: "3" })!.initial_nodes).toBe(3);
    expect(load_cluster_config({ ...FULL, REPLICAS: "2", INITIAL_NODES: "2" })!.initial_nodes)
      .toBe(2);
    expect(load_cluster_config({ ...FULL, INITIAL_NODES: `${CLUSTER_NODES_MAX}` })!
      .initial_nodes).toBe(CLUSTER_NODES_MAX);
    expect(error_of({ ...FULL, REPLICAS: "3", INITIAL_NODES: "2" })).toBe(
      `INITIAL_NODES must be between 3 and ${CLUSTER_NODES_MAX}, got 2`);
    expect(error_of({ ...FULL, INITIAL_NODES: `${CLUSTER_NODES_MAX + 1}` }))
      .toContain("INITIAL_NODES must be");
  });

  test("NODE_REPLICATION_LISTEN_ADDRESS: the advertised address by default, else its own", () => {
    expect(load_cluster_config({ ...FULL, NODE_REPLICATION_LISTEN_ADDRESS: "0.0.0.0:7000" })!
      .replication_listen_address).toBe("0.0.0.0:7000");
    expect(error_of({ ...FULL, NODE_REPLICATION_LISTEN_ADDRESS: "nowhere" }))
      .toContain("NODE_REPLICATION_LISTEN_ADDRESS");
  });

  test("LEASE_MS at its bounds", () => {
    expect(load_cluster_config({ ...FULL, LEASE_MS: `${LEASE_MS_MIN}` })!.lease_ms)
      .toBe(LEASE_MS_MIN);
    expect(load_cluster_config({ ...FULL, LEASE_MS: `${LEASE_MS_MAX}` })!.lease_ms)
      .toBe(LEASE_MS_MAX);
    expect(error_of({ ...FULL, LEASE_MS: `${LEASE_MS_MIN - 1}` })).toBe(
      `LEASE_MS must be between ${LEASE_MS_MIN} and ${LEASE_MS_MAX}, got ${LEASE_MS_MIN - 1}`);
    expect(error_of({ ...FULL, LEASE_MS: `${LEASE_MS_MAX + 1}` })).toContain("LEASE_MS must be");
    expect(error_of({ ...FULL, LEASE_MS: "1e3" })).toContain("LEASE_MS must be a whole number");
  });

  test("NODE_ID at its length and alphabet", () => {
    const longest = "n".repeat(NODE_ID_LENGTH_MAX);
    expect(load_cluster_config({ ...FULL, NODE_ID: longest })!.node_id).toBe(longest);
    expect(error_of({ ...FULL, NODE_ID: `${longest}n` })).toStartWith("NODE_ID: node id must");
    expect(error_of({ ...FULL, NODE_ID: "Node-A" })).toStartWith("NODE_ID: node id must");
    expect(error_of({ ...FULL, NODE_ID: "-node" })).toStartWith("NODE_ID: node id must");
  });

  test("each address is host:port, port 1..65535, at most the length limit", () => {
    for (const name of ["NODE_HTTP_ADDRESS", "NODE_TCP_ADDRESS", "NODE_REPLICATION_ADDRESS"]) {
      expect(error_of({ ...FULL, [name]: "127.0.0.1" })).toStartWith(`${name}: address must`);
      expect(error_of({ ...FULL, [name]: "127.0.0.1:0" })).toStartWith(`${name}: address`);
      expect(error_of({ ...FULL, [name]: "127.0.0.1:65536" })).toStartWith(`${name}: address`);
    }
    expect(load_cluster_config({ ...FULL, NODE_TCP_ADDRESS: "h:65535" })!.tcp_address)
      .toBe("h:65535");
    const host = "h".repeat(NODE_ADDRESS_LENGTH_MAX - ":1".length);
    expect(load_cluster_config({ ...FULL, NODE_HTTP_ADDRESS: `${host}:1` })!.http_address)
      .toBe(`${host}:1`);
    expect(error_of({ ...FULL, NODE_HTTP_ADDRESS: `${host}h:1` })).toContain("address must");
  });

  test("the database's URL and schema", () => {
    expect(error_of({ ...FULL, CLUSTER_DATABASE_URL: "mysql://x@y/z" }))
      .toStartWith("CLUSTER_DATABASE_URL must be postgres://");
    const schema = load_cluster_config({ ...FULL, CLUSTER_DATABASE_SCHEMA: "cluster_b" });
    expect(schema!.database_schema).toBe("cluster_b");
    expect(error_of({ ...FULL, CLUSTER_DATABASE_SCHEMA: "1cluster" }))
      .toStartWith("CLUSTER_DATABASE_SCHEMA: schema must");
    expect(error_of({ ...FULL, CLUSTER_DATABASE_SCHEMA: "a".repeat(64) }))
      .toStartWith("CLUSTER_DATABASE_SCHEMA: schema must");
  });
});
