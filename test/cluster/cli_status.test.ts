// `bun run cluster -- status` as a process against the real PostgreSQL: a control plane with
// settings adopted, three nodes registered and the groups placed (control_support.ts), node-0's
// /metrics served by this test (the lag gauge among other lines), node-1's address a closed port,
// node-2's a server that never answers. The table and the JSON must show each node and group as
// the control plane holds them; an unreachable or uninitialised control plane exits 2; a usage
// error exits 64 with the usage text.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CLUSTER_STATUS_METRICS_BYTES_MAX } from "../../common/constants.ts";
import { parse_args } from "../../cluster/cli/args.ts";
import { EXIT_CONTROL_PLANE, EXIT_USAGE } from "../../cluster/cli/main.ts";
import { fetch_node_metrics, lag_key, parse_replication_lag } from "../../cluster/cli/metrics.ts";
import type { ClusterStatus } from "../../cluster/cli/status.ts";
import { register_node } from "../../cluster/control_plane/nodes.ts";
import { place_groups } from "../../cluster/control_plane/placement.ts";
import { adopt_settings } from "../../cluster/control_plane/settings.ts";
import {
  fresh_plane, LEASE_LONG_MS, node_registration, SERVICES_TIMEOUT_MS, TEST_TIMEOUT_MS,
  type TestPlane,
} from "./control_support.ts";

const REPO_ROOT = new URL("../..", import.meta.url).pathname;
const GROUPS = 3;

const METRICS_TEXT = [
  "# HELP balance_replication_lag_entries Entries the standby lacks of the primary's journal.",
  "# TYPE balance_replication_lag_entries gauge",
  'balance_replication_lag_entries{group="0",standby="node-1"} 17',
  'balance_replication_lag_entries{standby="node-2",group="0"} 0 1700000000000',
  'balance_replication_lag_entries{group="1",standby="node-2"} 99', // node-0 does not lead 1
  'balance_replication_lag_entries_total{group="0",standby="node-2"} 5',
  'balance_orders_total{group="0"} 12345',
  "",
].join("\n");

let test_plane: TestPlane;
let metrics_server: ReturnType<typeof Bun.serve>;
let silent_server: ReturnType<typeof Bun.serve>;
let closed_port: number;

async function free_closed_port(): Promise<number> {
  const server = Bun.serve({ port: 0, fetch: () => new Response("") });
  const port = server.port!;
  await server.stop(true);
  return port;
}

beforeAll(async () => {
  metrics_server = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    fetch: (request) => new URL(request.url).pathname === "/metrics"
      ? new Response(METRICS_TEXT) : new Response("no", { status: 404 }),
  });
  // Answers nothing, ever: the tool must give up on it after its timeout.
  silent_server = Bun.serve({
    port: 0, hostname: "127.0.0.1", fetch: () => new Promise<Response>(() => {}),
  });
  closed_port = await free_closed_port();
  test_plane = await fresh_plane("cli_status");
  const plane = test_plane.plane;
  const adopted = await adopt_settings(plane,
    { groups: GROUPS, replicas: 3, partner_map: new Map() });
  expect(adopted.kind).toBe("adopted");
  const http_ports = [metrics_server.port!, closed_port, silent_server.port!];
  for (let i = 0; i < 3; i++) {
    const node = { ...node_registration(i), http_address: `127.0.0.1:${http_ports[i]}` };
    expect((await register_node(plane, node)).kind).toBe("registered");
  }
  expect((await place_groups(plane, LEASE_LONG_MS)).kind).toBe("placed");
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await metrics_server.stop(true);
  await silent_server.stop(true);
  await test_plane.drop();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `bun run cluster -- ...args` with only the control plane's variables set. */
async function cluster_tool(args: string[], database_url = test_plane.database_url,
  schema = test_plane.schema): Promise<Run> {
  const child = Bun.spawn([process.execPath, "run", "--silent", "cluster", "--", ...args], {
    cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", CLUSTER_DATABASE_URL: database_url,
      CLUSTER_DATABASE_SCHEMA: schema },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited,
  ]);
  return { code, stdout, stderr };
}

describe("bun run cluster -- status", () => {
  test("--json: every node and group as the control plane holds them, lag from the primary",
    async () => {
    const run = await cluster_tool(["status", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const status = JSON.parse(run.stdout) as ClusterStatus;
    expect(status.schema).toBe(test_plane.schema);
    expect({ groups: status.groups_count, replicas: status.replicas })
      .toEqual({ groups: 3, replicas: 3 });
    expect(status.nodes.map((node) =>
      [node.node_id, node.http_address, node.disk_id, node.metrics]))
      .toEqual([
        ["node-0", `127.0.0.1:${metrics_server.port}`, "disk-0-a", "ok"],
        ["node-1", `127.0.0.1:${closed_port}`, "disk-1-a", "unreachable"],
        ["node-2", `127.0.0.1:${silent_server.port}`, "disk-2-a", "unreachable"],
      ]);
    for (const node of status.nodes) {
      expect(node.tcp_address).toBe(node_registration(Number(node.node_id.slice(5))).tcp_address);
      expect(node.heartbeat_age_ms).toBeGreaterThanOrEqual(0);
      expect(node.heartbeat_age_ms).toBeLessThan(TEST_TIMEOUT_MS * 10);
    }
    // Placement: members (g + i) mod 3, the first the primary at epoch 1, only it in sync.
    expect(status.groups.map((group) => ({
      group: group.group, epoch: group.epoch, primary: group.primary, standbys: group.standbys,
    }))).toEqual([
      { group: 0, epoch: 1, primary: "node-0", standbys: [
        { node: "node-1", in_sync: false, lag_entries: 17 },
        { node: "node-2", in_sync: false, lag_entries: 0 }] },
      { group: 1, epoch: 1, primary: "node-1", standbys: [
        { node: "node-2", in_sync: false, lag_entries: "unreachable" },
        { node: "node-0", in_sync: false, lag_entries: "unreachable" }] },
      { group: 2, epoch: 1, primary: "node-2", standbys: [
        { node: "node-0", in_sync: false, lag_entries: "unreachable" },
        { node: "node-1", in_sync: false, lag_entries: "unreachable" }] },
    ]);
    for (const group of status.groups) {
      expect(group.lease_expires_in_ms).toBeGreaterThan(0);
      expect(group.lease_expires_in_ms).toBeLessThanOrEqual(LEASE_LONG_MS);
    }
  }, TEST_TIMEOUT_MS);

  test("the table: one line per node and per group", async () => {
    const run = await cluster_tool(["status"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines[0])
      .toStartWith(`control plane: schema ${test_plane.schema}, 3 groups, 3 replicas`);
    const row = (first: string) => lines.find((line) => line.startsWith(`${first} `)) ?? "";
    expect(row("NODE").split(/\s+/)).toEqual(
      ["NODE", "HTTP", "TCP", "REPLICATION", "HEARTBEAT", "DISK", "METRICS"]);
    expect(row("node-0")).toMatch(new RegExp(`^node-0 +127\\.0\\.0\\.1:${metrics_server.port} +` +
      `127\\.0\\.0\\.1:19000 +127\\.0\\.0\\.1:20000 +\\d+\\.\\d s ago +disk-0-a +ok$`));
    expect(row("node-1")).toEndWith("disk-1-a  unreachable");
    expect(row("0")).toMatch(new RegExp("^0 +1 +node-0 +expires in \\d+\\.\\d s +" +
      "node-1 \\(NOT in sync, lag 17\\)  node-2 \\(NOT in sync, lag 0\\)$"));
    expect(row("1"))
      .toMatch(/^1 +1 +node-1 +expires in .* node-2 \(NOT in sync, lag unreachable\)/);
  }, TEST_TIMEOUT_MS);

  test("an unreachable control plane exits 2 and says so", async () => {
    const closed = `postgres://postgres@127.0.0.1:${closed_port}/balance`;
    const run = await cluster_tool(["status"], closed);
    expect(run.code).toBe(EXIT_CONTROL_PLANE);
    expect(run.stdout).toBe("");
    expect(run.stderr).toStartWith("cluster: control plane unreachable:");
  }, TEST_TIMEOUT_MS);

  test("a control plane not initialised exits 2: no tables, or no settings", async () => {
    const bare = await fresh_plane("cli_bare", false);
    const empty = await fresh_plane("cli_empty");
    try {
      const no_tables = await cluster_tool(["status"], bare.database_url, bare.schema);
      expect(no_tables.code).toBe(EXIT_CONTROL_PLANE);
      expect(no_tables.stderr).toBe(`cluster: control plane not initialised: no control plane ` +
        `tables in schema ${bare.schema}\n`);
      const no_settings =
        await cluster_tool(["status", "--json"], empty.database_url, empty.schema);
      expect(no_settings.code).toBe(EXIT_CONTROL_PLANE);
      expect(no_settings.stderr).toBe(
        "cluster: control plane not initialised: no cluster settings adopted yet\n");
    } finally {
      await bare.drop();
      await empty.drop();
    }
  }, TEST_TIMEOUT_MS);

  test("usage errors exit 64 with the usage; help exits 0; bad settings exit 2", async () => {
    for (const args of [[], ["status", "--jsn"], ["status", "--json", "--json"], ["stat"],
      ["move", "--group", "1"], ["help", "x"]]) {
      const run = await cluster_tool(args);
      expect({ args, code: run.code }).toEqual({ args, code: EXIT_USAGE });
      expect(run.stderr).toContain("usage: bun run cluster -- <command> [flags]");
      expect(run.stdout).toBe("");
    }
    const help = await cluster_tool(["help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("status [--json]");
    const bad_url = await cluster_tool(["status"], "mysql://x");
    expect(bad_url.code).toBe(EXIT_CONTROL_PLANE);
    expect(bad_url.stderr).toContain("cluster: configuration: CLUSTER_DATABASE_URL");
    const bad_schema = await cluster_tool(["status"], test_plane.database_url, "Bad-Schema");
    expect(bad_schema.code).toBe(EXIT_CONTROL_PLANE);
    expect(bad_schema.stderr).toContain("cluster: configuration: CLUSTER_DATABASE_SCHEMA");
  }, TEST_TIMEOUT_MS);
});

describe("the cluster tool's parts", () => {
  test("parse_args names what is wrong", () => {
    expect(parse_args(["status"]))
      .toEqual({ kind: "command", command: { kind: "status", json: false } });
    expect(parse_args(["status", "--json"]))
      .toEqual({ kind: "command", command: { kind: "status", json: true } });
    expect(parse_args(["status", "-j"]))
      .toEqual({ kind: "usage_error", message: 'status: unknown flag "-j"' });
    expect(parse_args(["scale"]))
      .toEqual({ kind: "usage_error", message: 'unknown command "scale"' });
  });

  test("only the lag gauge is read; malformed lines of it are ignored", () => {
    const lag = parse_replication_lag([
      METRICS_TEXT,
      'balance_replication_lag_entries{group="2",standby="a\\"b\\\\c"} 3',
      'balance_replication_lag_entries{group="3",standby="x"} -1',
      'balance_replication_lag_entries{group="4",standby="x"} 1.5',
      'balance_replication_lag_entries{group="5",standby="x"',
      'balance_replication_lag_entries{group="x",standby="x"} 1',
      'balance_replication_lag_entries{group="6"} 1',
      'balance_replication_lag_entries{group="7",standby="x"} 1 2 3',
    ].join("\n"));
    expect([...lag.entries()]).toEqual([
      [lag_key(0, "node-1"), 17], [lag_key(0, "node-2"), 0], [lag_key(1, "node-2"), 99],
      [lag_key(2, 'a"b\\c'), 3],
    ]);
  });

  test("a /metrics answer over the size limit is not read", async () => {
    const body = "x".repeat(CLUSTER_STATUS_METRICS_BYTES_MAX + 1);
    const at_limit = `${METRICS_TEXT}${"#".repeat(CLUSTER_STATUS_METRICS_BYTES_MAX -
      METRICS_TEXT.length - 1)}\n`;
    expect(at_limit.length).toBe(CLUSTER_STATUS_METRICS_BYTES_MAX);
    let answer = body;
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(answer) });
    try {
      const over = await fetch_node_metrics(`127.0.0.1:${server.port}`);
      expect(over).toEqual({ kind: "unreachable",
        why: `answer over ${CLUSTER_STATUS_METRICS_BYTES_MAX} bytes` });
      answer = at_limit;
      const within = await fetch_node_metrics(`127.0.0.1:${server.port}`);
      expect(within.kind).toBe("ok");
    } finally {
      await server.stop(true);
    }
  }, TEST_TIMEOUT_MS);
});
