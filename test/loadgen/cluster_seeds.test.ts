// loadgen --seeds against a real two-node cluster (every group has a standby): it reads the
// routing map, opens the accounts and checks them at the end through each partner's primary,
// builds every load batch from one node's partners, and its own end check passes; both nodes
// committed load orders (their /metrics), and no request was refused. Then a primary killed under
// its load: the requests lost with it are resent to the new primary and the load goes on there
// while the run lasts (not only once it ends), and the end check still passes.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { TestCluster } from "../cluster/cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "../cluster/control_support.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const RUN_TIMEOUT_MS = 120_000;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("seeds", {
    nodes: 2, groups: 4, replicas: 2, lease_ms: 2_000, group_map: "",
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

/** After the kill, the new primary commits this many more orders of the group before the run
 * ends: far more than the requests in flight at the kill (2 connections x 8 x 20 orders). */
const ORDERS_AFTER_TAKEOVER_MIN = 2_000;

async function durable_sequence(id: string, group: number): Promise<number> {
  const text = await (await fetch(`${cluster.node(id).base_url}/metrics`)).text();
  const line = new RegExp(`balance_durable_sequence\\{group="${group}"\\} (\\d+)`).exec(text);
  return line === null ? 0 : Number(line[1]);
}

function run_loadgen(seconds: number): { child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  summary: Promise<{ code: number; stderr: string; summary: Record<string, unknown> | null }> } {
  const ids = cluster.ids();
  const token = cluster.node(ids[0]!).internal_token!;
  const seeds = ids.map((id) => `tcp://${cluster.tcp_address(id)}`).join(",");
  const child = Bun.spawn([process.execPath, "loadgen/main.ts", "--seeds", seeds,
    "--duration", `${seconds}s`, "--partners", "16", "--accounts", "20", "--connections", "2",
    "--in-flight", "8", "--token", token, "--internal-token", token, "--json",
    "--no-progress"], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const summary = Promise.all([new Response(child.stdout).text(),
    new Response(child.stderr).text(), child.exited]).then(([stdout, stderr, code]) => ({
    code, stderr, summary: code === 2 ? null : JSON.parse(stdout.trim().split("\n").at(-1)!),
  }));
  return { child, summary };
}

async function orders_ok(id: string): Promise<number> {
  const text = await (await fetch(`${cluster.node(id).base_url}/metrics`)).text();
  const line = /balance_orders_total\{status="ok"\} (\d+)/.exec(text);
  return line === null ? 0 : Number(line[1]);
}

test("loadgen --seeds: batches routed per node, set-up and end check routed, the check passes",
  async () => {
    const ids = cluster.ids();
    const leaders = await cluster.wait_all_led();
    expect(new Set(leaders).size).toBe(2); // each node leads groups: both must take load
    const token = cluster.node(ids[0]!).internal_token!;
    const before = await Promise.all(ids.map(orders_ok));
    const seeds = ids.map((id) => `tcp://${cluster.tcp_address(id)}`).join(",");
    const child = Bun.spawn([process.execPath, "loadgen/main.ts", "--seeds", seeds,
      "--duration", "3s", "--partners", "16", "--accounts", "20", "--connections", "2",
      "--in-flight", "8", "--token", token, "--internal-token", token, "--json",
      "--no-progress"], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(),
      new Response(child.stderr).text(), child.exited]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(summary.end_check).toBe("pass");
    expect(summary.orders).toBeGreaterThan(0);
    expect(summary.errors).toBe(0);
    expect(summary.resends).toBe(0);
    const after = await Promise.all(ids.map(orders_ok));
    ids.forEach((_, k) => expect(after[k]! - before[k]!).toBeGreaterThan(0));
  }, RUN_TIMEOUT_MS);

test("a primary killed under loadgen --seeds: resent to the new primary, the load goes on there " +
  "while the run lasts, the end check passes", async () => {
  const victim = await cluster.leader_of(0);
  const survivor = cluster.ids().find((id) => id !== victim)!;
  const started_at = await durable_sequence(victim, 0);
  const { child, summary } = run_loadgen(25);
  await cluster.until("the load reached group 0", async () =>
    await durable_sequence(victim, 0) > started_at + 100);
  await cluster.kill(victim);
  expect(await cluster.leader_of(0, victim)).toBe(survivor);
  const taken_at = await durable_sequence(survivor, 0);
  await cluster.until("the new primary commits the group's load", async () =>
    await durable_sequence(survivor, 0) > taken_at + ORDERS_AFTER_TAKEOVER_MIN);
  expect(child.exitCode).toBeNull(); // while the run lasts
  await cluster.start_node(victim);
  const run = await summary;
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  expect(run.summary!.end_check).toBe("pass");
  expect(run.summary!.unknown_orders).toBe(0);
  // The kill hit requests in flight: they were resent (same ids) and answered.
  expect(run.summary!.resends).toBeGreaterThan(0);
  await cluster.wait_in_sync(0);
}, RUN_TIMEOUT_MS);
