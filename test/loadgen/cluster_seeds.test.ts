// loadgen --seeds against a real two-node cluster (every group has a standby): it reads the
// routing map, opens the accounts and checks them at the end through each partner's primary,
// builds every load batch from one node's partners, and its own end check passes; both nodes
// committed load orders (their /metrics), and no request was refused.

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
