// `cluster rebalance` and `cluster drain` as the tool runs them (cluster/cli/main.ts, in process)
// against a control plane on the real PostgreSQL with no node processes: the dry run prints the
// plan and changes nothing, a node whose heartbeat is old is never a target and cannot be drained,
// a move no primary answers exits 1, an unreachable control plane 2, a usage error 64.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parse_args } from "../../cluster/cli/args.ts";
import {
  EXIT_CONTROL_PLANE, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, run_cluster_tool,
} from "../../cluster/cli/main.ts";
import { register_node } from "../../cluster/control_plane/nodes.ts";
import { read_routing_map } from "../../cluster/control_plane/routing_map.ts";
import {
  fresh_plane, LEASE_LONG_MS, node_registration, SERVICES_TIMEOUT_MS, small_cluster,
  TEST_TIMEOUT_MS, type TestPlane,
} from "./control_support.ts";

let test_plane: TestPlane;

beforeAll(async () => {
  test_plane = await fresh_plane("rebalance_cli");
  // node-0 and node-1 lead two groups each; node-2 registers after the placement.
  await small_cluster(test_plane, { groups: 4, replicas: 2, node_count: 2, lease_ms: LEASE_LONG_MS });
  expect((await register_node(test_plane.plane, node_registration(2))).kind).toBe("registered");
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await test_plane.drop();
});

async function tool(args: string[], database_url = test_plane.database_url)
  : Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await run_cluster_tool(args, { CLUSTER_DATABASE_URL: database_url,
    CLUSTER_DATABASE_SCHEMA: test_plane.schema },
  { out: (text) => (out += text), err: (text) => (err += text) });
  return { code, out, err };
}

async function primaries(): Promise<string[]> {
  const read = await read_routing_map(test_plane.plane);
  if (read.kind !== "map") throw new Error(read.kind);
  return read.map.groups.map((g) => g.primary);
}

async function heartbeat_ago(node: string, seconds: number): Promise<void> {
  await test_plane.plane.sql`
    update nodes set heartbeat_at = now() - ${seconds} * interval '1 second'
    where node_id = ${node}`;
}

describe("cluster rebalance and drain: the tool", () => {
  test("a dry run prints the plan and changes nothing", async () => {
    const before = await primaries();
    const run = await tool(["rebalance", "--dry-run"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(EXIT_OK);
    expect(run.out).toBe([
      "rebalance: 3 of 3 nodes alive (node-0, node-1, node-2), 4 groups",
      "leads now:   node-0 2, node-1 2, node-2 0",
      "leads after: node-0 2, node-1 1, node-2 1",
      "plan: 1 move",
      "  group 1: node-1 -> node-2  join, spread (node-2 joins and catches up; node-1 leaves)",
      "dry run: nothing moved",
      "",
    ].join("\n"));
    const drain = await tool(["drain", "--node", "node-0", "--dry-run"]);
    expect(drain.code).toBe(EXIT_OK);
    expect(drain.out).toContain("leads after: node-0 0, node-1 2, node-2 2");
    expect(await primaries()).toEqual(before);
  }, TEST_TIMEOUT_MS);

  test("a move no primary answers: exit 1, the message names the node", async () => {
    const run = await tool(["rebalance"]);
    expect(run.code).toBe(EXIT_REFUSED);
    expect(run.out).toContain("group 1: moving node-1 -> node-2 (join)");
    // Nothing listens on node-1's registered address (or something that is not a node).
    expect(run.err).toMatch(/^cluster: (node-1 at 127\.0\.0\.1:18001|move refused by node-1)/);
  }, TEST_TIMEOUT_MS);

  test("a node whose heartbeat is old is never a target, and cannot be drained", async () => {
    await heartbeat_ago("node-2", 60);
    const run = await tool(["rebalance", "--dry-run"]);
    expect(run.code).toBe(EXIT_OK);
    expect(run.out).toContain("2 of 3 nodes alive (node-0, node-1)");
    expect(run.out).toContain("plan: nothing to move");
    const drain = await tool(["drain", "--node", "node-2"]);
    expect(drain.code).toBe(EXIT_REFUSED);
    expect(drain.err).toContain("drain: node-2 is not alive");
    const unknown = await tool(["drain", "--node", "node-9"]);
    expect(unknown.code).toBe(EXIT_REFUSED);
    expect(unknown.err).toContain("drain: node-9 is not a registered node");
  }, TEST_TIMEOUT_MS);

  test("an unreachable control plane exits 2; a usage error 64", async () => {
    const unreachable = await tool(["rebalance", "--dry-run"], "postgres://postgres@127.0.0.1:1/x");
    expect(unreachable.code).toBe(EXIT_CONTROL_PLANE);
    expect(unreachable.err).toContain("cluster: control plane unreachable");
    for (const args of [["rebalance", "--dry-run", "--dry-run"], ["rebalance", "-n"], ["drain"],
      ["drain", "--node"], ["drain", "--node", "a/b"], ["drain", "--node", "x", "--node", "y"]]) {
      const run = await tool(args);
      expect(run.code).toBe(EXIT_USAGE);
      expect(run.err).toContain("usage: bun run cluster");
    }
    expect(parse_args(["drain", "--dry-run", "--node", "node-1"])).toEqual({ kind: "command",
      command: { kind: "drain", node: "node-1", dry_run: true } });
    expect(parse_args(["rebalance"])).toEqual({ kind: "command",
      command: { kind: "rebalance", dry_run: false } });
  }, TEST_TIMEOUT_MS);
});
