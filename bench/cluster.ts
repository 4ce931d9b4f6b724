// bun run bench:cluster [--json] [--seconds=10] [--kills=10]   (docs/performance.md, "Cluster")
//
// On this machine, side by side: committed orders/s over TCP with loadgen's workload (loadgen run
// as a child process on the same machine, cluster_load.ts), with p50/p99 and each node's CPU time
// per order:
// - replication OFF: one node, no cluster variables;
// - replication ON, spread: a two-node cluster, REPLICAS=2 (every group has a standby), each node
//   primary for half the groups and standby for the other half;
// - replication ON, one primary: every group moved to node-1, so node-1's CPU is the primary's
//   work and node-2's the standby's (the standby's cost relative to the primary's).
// Then failover (cluster_failover.ts): SIGKILLs of a group's primary under a modest load, the time
// until another node leads it and until its first committed reply, and loadgen's end check.

import { LEASE_MS_DEFAULT } from "../common/constants.ts";
import { ClusterProcesses, open_cluster_plane } from "../harness/cluster_process.ts";
import { post, use_token } from "../harness/http_client.ts";
import { ServiceProcess } from "../harness/service_process.ts";
import { failover, type Failover } from "./cluster_failover.ts";
import { measured, type Throughput } from "./cluster_load.ts";

const GROUPS = 4;
const LEASE_MS = LEASE_MS_DEFAULT; // what a cluster node runs with unless told otherwise
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
const ONE_PRIMARY = "node-1";
const HTTP_OK = 200;

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

/** Moves every group to ONE_PRIMARY (a planned handover each), then measures. */
async function one_primary(cluster: ClusterProcesses, options: Options): Promise<Throughput> {
  for (let group = 0; group < GROUPS; group++) {
    const leader = await cluster.leader_of(group);
    if (leader === ONE_PRIMARY) continue;
    await cluster.wait_in_sync(group);
    const node = cluster.node(leader);
    use_token(node.base_url, node.internal_token!);
    const reply = await post(node.base_url, `/admin/groups/${group}/move`,
      JSON.stringify({ to: ONE_PRIMARY }), { "content-type": "application/json" });
    if (reply.http_status !== HTTP_OK) {
      throw new Error(`move of group ${group} to ${ONE_PRIMARY}: ${JSON.stringify(reply)}`);
    }
    await cluster.leader_of(group, leader);
  }
  for (let group = 0; group < GROUPS; group++) await cluster.wait_in_sync(group);
  return replicated(cluster, options);
}

interface Figures { off: Throughput; spread: Throughput; one: Throughput; kills: Failover }

async function main(): Promise<void> {
  const options = parse_options(process.argv.slice(2));
  const off = await single(options);
  const cluster = new ClusterProcesses(await open_cluster_plane("bench"), { nodes: 2,
    groups: GROUPS, replicas: 2, lease_ms: LEASE_MS, group_map: "", env: BENCH_ENV }, "bench");
  let figures: Figures;
  try {
    await cluster.launch();
    const spread = await replicated(cluster, options);
    const one = await one_primary(cluster, options);
    const kills = await failover(cluster, GROUPS, options.kills);
    figures = { off, spread, one, kills };
  } finally {
    await cluster.stop();
  }
  report(options, figures);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function spread_of(values: number[]): { p50_ms: number; max_ms: number } {
  return { p50_ms: quantile(values, 0.5), max_ms: Math.max(...values) };
}

function report(options: Options, { off, spread, one, kills }: Figures): void {
  const single_us = off.cpu_us_per_order.single!;
  const spread_us = Object.values(spread.cpu_us_per_order).reduce((a, b) => a + b, 0);
  const primary_us = one.cpu_us_per_order[ONE_PRIMARY]!;
  const standby_us = one.cpu_us_per_order["node-2"]!;
  const summary = {
    seconds: options.seconds, replication_off: off, replication_on: spread, one_primary: one,
    replicated_share_of_single: round2(spread.orders_per_sec / off.orders_per_sec),
    cpu_ratio_replicated_to_single: round2(spread_us / single_us),
    standby_cpu_share_of_primary: round2(standby_us / primary_us),
    failover: { ...kills, leads: spread_of(kills.leads_ms), first_reply: spread_of(kills.reply_ms) },
  };
  if (options.json) return console.log(JSON.stringify(summary));
  const cpu = (t: Throughput) => Object.entries(t.cpu_us_per_order)
    .map(([id, us]) => `${id} ${us} us`).join(", ");
  console.log(`committed orders over TCP, loadgen workload, ${options.seconds} s each\n` +
    `  replication off (1 node):      ${line(off)}, CPU ${single_us} us/order\n` +
    `  replication on, spread:        ${line(spread)} (${pct(summary.replicated_share_of_single)} ` +
    `of off), CPU per order ${cpu(spread)} (sum ${summary.cpu_ratio_replicated_to_single}x off)\n` +
    `  replication on, one primary:   ${line(one)}, CPU per order primary ${primary_us} us, ` +
    `standby ${standby_us} us (${pct(summary.standby_cpu_share_of_primary)} of the primary's)\n` +
    `failover: ${kills.kills} SIGKILLs of a primary (lease ${LEASE_MS} ms)\n` +
    `  kill -> another node leads:     p50 ${summary.failover.leads.p50_ms} ms, max ` +
    `${summary.failover.leads.max_ms} ms\n` +
    `  kill -> first committed reply:  p50 ${summary.failover.first_reply.p50_ms} ms, max ` +
    `${summary.failover.first_reply.max_ms} ms\n` +
    `  load's end check ${kills.end_check}: ${kills.mismatches} accounts off (lost or doubled), ` +
    `${kills.unknown_orders} orders of unknown outcome, ${kills.resends} requests resent, ` +
    `${kills.orders} orders answered\n  refusals ${JSON.stringify(kills.refusals)}, statuses ` +
    `${JSON.stringify(kills.statuses)}` +
    (kills.end_check_note ? `\n  ${kills.end_check_note}` : "") +
    (kills.end_check_listed ?? []).map((text) => `\n    ${text}`).join(""));
}

function line(t: Throughput): string {
  return `${t.orders_per_sec} orders/s, p50 ${t.p50_ms} ms, p99 ${t.p99_ms} ms, check ${t.end_check}`;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function pct(share: number): string {
  return `${Math.round(share * 100)}%`;
}

await main();
process.exit(0);
