// bun run bench:cluster [--json] [--seconds=10] [--kills=10]   (docs/performance.md, "Cluster")
//
// On this machine, side by side: committed orders/s over TCP with loadgen's workload (loadgen run
// as a child process on the same machine), replication OFF (one node, no cluster variables) and
// ON (a two-node cluster, REPLICAS=2: every group has a standby, and each node is primary for
// half the groups and standby for the other half), with p50/p99 and each node's CPU time per
// order (/proc/<pid>/stat utime+stime before and after the run). Then failover: SIGKILL of a
// group's primary under a modest loadgen --seeds load, the time until another node leads the
// group (its /metrics), restart, wait until in sync, next kill; loadgen's end check at the end
// says whether an acknowledged order was lost or doubled (balances against its ledger).

import { LEASE_MS_DEFAULT } from "../common/constants.ts";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ClusterProcesses, open_cluster_plane } from "../harness/cluster_process.ts";
import { ServiceProcess } from "../harness/service_process.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");
const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux
const GROUPS = 4;
const LEASE_MS = LEASE_MS_DEFAULT; // what a cluster node runs with unless told otherwise
const FAILOVER_SECONDS_PER_KILL = 10;
/**
 * The same limits for the single node and the cluster's nodes. The idempotency window outlasts a
 * failover (a resend after it must be answered `replayed`, not applied again) and its entries
 * carry the rate: a group sustains about entries / (W + 5 s) orders/s.
 */
const BENCH_ENV: Record<string, string> = {
  GROUPS: String(GROUPS), RING_SLOTS: "8192", ACCOUNTS_PER_GROUP: "100000",
  IDEMPOTENCY_WINDOW_MS: "30000", IDEMPOTENCY_ENTRIES_PER_GROUP: String(1 << 22),
};
const LOAD_ARGS = ["--partners", "100", "--accounts", "100", "--connections", "4",
  "--in-flight", "64", "--batch", "20", "--no-progress", "--json"];
const FAILOVER_LOAD_ARGS = ["--partners", "16", "--accounts", "10", "--connections", "1",
  "--in-flight", "4", "--batch", "5", "--no-progress", "--json", "--timeout", "60s"];

interface Options { json: boolean; seconds: number; kills: number }

function parse_options(argv: string[]): Options {
  const options: Options = { json: false, seconds: 10, kills: 10 };
  for (const arg of argv) {
    const [name, value] = arg.replace(/^--/, "").split("=");
    if (name === "json") options.json = true;
    else if (name === "seconds") options.seconds = Number(value);
    else if (name === "kills") options.kills = Number(value);
    else throw new Error(`unknown option ${arg} (--json, --seconds=N, --kills=N)`);
  }
  return options;
}

function cpu_s(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S; // utime, stime
}

async function loadgen(args: string[]): Promise<Record<string, unknown>> {
  const child = Bun.spawn([process.execPath, "loadgen/main.ts", ...args],
    { cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(),
    new Response(child.stderr).text(), child.exited]);
  if (code !== 0 && code !== 1) throw new Error(`loadgen exited ${code}: ${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

interface Throughput {
  orders_per_sec: number; p50_ms: number; p99_ms: number; end_check: string;
  cpu_us_per_order: Record<string, number>;
}

async function measured(pids: Record<string, number>, args: string[]): Promise<Throughput> {
  const before = Object.fromEntries(Object.entries(pids).map(([id, pid]) => [id, cpu_s(pid)]));
  const run = await loadgen(args);
  const orders = Number(run.orders);
  const cpu_us_per_order = Object.fromEntries(Object.entries(pids).map(([id, pid]) =>
    [id, Math.round((cpu_s(pid) - before[id]!) / orders * 1e6 * 10) / 10]));
  return { orders_per_sec: Number(run.orders_per_sec), p50_ms: Number(run.p50_ms),
    p99_ms: Number(run.p99_ms), end_check: String(run.end_check), cpu_us_per_order };
}

async function single(options: Options): Promise<Throughput> {
  const node = await ServiceProcess.start({ env: BENCH_ENV });
  try {
    const token = node.internal_token!;
    return await measured({ single: node.pid }, [...LOAD_ARGS, "--duration", `${options.seconds}s`,
      "--tcp-port", node.env.TCP_PORT!, "--token", token, "--internal-token", token]);
  } finally {
    await node.stop();
    node.remove_data();
  }
}

function seeds(cluster: ClusterProcesses): string {
  return cluster.ids().map((id) => `tcp://${cluster.tcp_address(id)}`).join(",");
}

async function replicated(cluster: ClusterProcesses, options: Options): Promise<Throughput> {
  const token = cluster.node("node-1").internal_token!;
  const pids = Object.fromEntries(cluster.ids().map((id) => [id, cluster.node(id).pid]));
  return measured(pids, [...LOAD_ARGS, "--duration", `${options.seconds}s`, "--seeds",
    seeds(cluster), "--token", token, "--internal-token", token]);
}

interface Failover { kills: number; failover_ms: number[]; end_check: string; mismatches: number;
  unknown_orders: number; resends: number; orders: number; end_check_note?: string;
  end_check_listed?: string[]; refusals: Record<string, number>;
  statuses: Record<string, number> }

async function failover(cluster: ClusterProcesses, options: Options): Promise<Failover> {
  const token = cluster.node("node-1").internal_token!;
  const duration_s = options.kills * FAILOVER_SECONDS_PER_KILL;
  const load = loadgen([...FAILOVER_LOAD_ARGS, "--duration", `${duration_s}s`, "--seeds",
    seeds(cluster), "--token", token, "--internal-token", token]);
  const failover_ms: number[] = [];
  await Bun.sleep(2_000); // the load's set-up
  for (let kill = 0; kill < options.kills; kill++) {
    const group = kill % GROUPS;
    const victim = await cluster.leader_of(group);
    const killed_ms = performance.now();
    await cluster.kill(victim);
    await cluster.leader_of(group, victim);
    failover_ms.push(Math.round(performance.now() - killed_ms));
    await cluster.start_node(victim);
    for (let g = 0; g < GROUPS; g++) await cluster.wait_in_sync(g);
  }
  const run = await load;
  return { kills: options.kills, failover_ms, end_check: String(run.end_check),
    mismatches: Number(run.end_check_mismatches ?? 0), unknown_orders: Number(run.unknown_orders ?? 0),
    resends: Number(run.resends ?? 0), orders: Number(run.orders),
    end_check_note: run.end_check_note as string | undefined,
    end_check_listed: run.end_check_listed as string[] | undefined,
    refusals: run.refusals as Record<string, number>,
    statuses: run.statuses as Record<string, number> };
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const options = parse_options(process.argv.slice(2));
  const off = await single(options);
  const cluster = new ClusterProcesses(await open_cluster_plane("bench"), { nodes: 2,
    groups: GROUPS, replicas: 2, lease_ms: LEASE_MS, group_map: "", env: BENCH_ENV }, "bench");
  let on: Throughput;
  let kills: Failover;
  try {
    await cluster.launch();
    on = await replicated(cluster, options);
    kills = await failover(cluster, options);
  } finally {
    await cluster.stop();
  }
  report(options, off, on, kills);
}

function report(options: Options, off: Throughput, on: Throughput, kills: Failover): void {
  const per_node = Object.values(on.cpu_us_per_order);
  const cluster_cpu_us = per_node.reduce((a, b) => a + b, 0);
  const ratio = Math.round(cluster_cpu_us / off.cpu_us_per_order.single! * 100) / 100;
  const failover = { p50_ms: quantile(kills.failover_ms, 0.5),
    max_ms: Math.max(...kills.failover_ms) };
  if (options.json) {
    console.log(JSON.stringify({ seconds: options.seconds, replication_off: off,
      replication_on: on, cpu_ratio_replicated_to_single: ratio,
      failover: { ...kills, ...failover } }));
    return;
  }
  console.log(`committed orders over TCP, loadgen workload, ${options.seconds} s each\n` +
    `  replication off (1 node):  ${off.orders_per_sec} orders/s, p50 ${off.p50_ms} ms, ` +
    `p99 ${off.p99_ms} ms, CPU ${off.cpu_us_per_order.single} us/order, check ${off.end_check}\n` +
    `  replication on (2 nodes):  ${on.orders_per_sec} orders/s, p50 ${on.p50_ms} ms, ` +
    `p99 ${on.p99_ms} ms, check ${on.end_check}\n` +
    `    each node is primary for half the groups and standby for the other half; CPU per ` +
    `order: ${Object.entries(on.cpu_us_per_order).map(([id, us]) => `${id} ${us} us`).join(", ")}` +
    ` (sum ${Math.round(cluster_cpu_us * 10) / 10} us, ${ratio}x the single node)\n` +
    `failover: ${kills.kills} SIGKILLs of a primary, kill -> another node leads the group: ` +
    `p50 ${failover.p50_ms} ms, max ${failover.max_ms} ms\n` +
    `  load's end check ${kills.end_check}: ${kills.mismatches} accounts off (lost or doubled), ` +
    `${kills.unknown_orders} orders of unknown outcome, ${kills.resends} requests resent, ` +
    `${kills.orders} orders answered\n  refusals ${JSON.stringify(kills.refusals)}, statuses ` +
    `${JSON.stringify(kills.statuses)}` +
    (kills.end_check_note ? `\n  ${kills.end_check_note}` : "") +
    (kills.end_check_listed ?? []).map((line) => `\n    ${line}`).join(""));
}

await main();
process.exit(0);
