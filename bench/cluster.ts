// bun run bench:cluster [--json] [--seconds=10] [--rounds=3] [--kills=10]
//   (docs/performance.md, "Cluster")
//
// On this machine, side by side: committed orders/s over TCP with loadgen's workload (loadgen run
// as a child process on the same machine, cluster_load.ts), with p50/p99 and each node's CPU time
// per order. The single node and the cluster both run throughout, and their measurements take
// turns, `--rounds` times (each round on partners of its own): the figures are the rounds'
// medians, so a noisy moment on this shared machine moves one round, not the comparison.
// - replication OFF: one node, no cluster variables;
// - replication ON, spread: a two-node cluster, REPLICAS=2 (every group has a standby), each node
//   primary for half the groups and standby for the other half;
// - replication ON, one primary: every group moved to node-1, so node-1's CPU is the primary's
//   work and node-2's the standby's (the standby's cost relative to the primary's).
// Then failover (cluster_failover.ts; skipped with --kills=0): SIGKILLs of a group's primary under
// a modest load, the time until another node leads it and until its first committed reply, and
// loadgen's end check.

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
const PARTNERS_PER_ROUND = 100;
const LOAD_ARGS = ["--partners", String(PARTNERS_PER_ROUND), "--accounts", "100",
  "--connections", "4", "--in-flight", "64", "--batch", "20", "--no-progress", "--json"];
const ONE_PRIMARY = "node-1";
const HTTP_OK = 200;

interface Options { json: boolean; seconds: number; rounds: number; kills: number }

function parse_options(argv: string[]): Options {
  const options: Options = { json: false, seconds: 10, rounds: 3, kills: 10 };
  for (const arg of argv) {
    const [name, value] = arg.replace(/^--/, "").split("=");
    if (name === "json") options.json = true;
    else if (name === "seconds") options.seconds = Number(value);
    else if (name === "rounds") options.rounds = Number(value);
    else if (name === "kills") options.kills = Number(value);
    else throw new Error(`unknown option ${arg} (--json, --seconds=N, --rounds=N, --kills=N)`);
  }
  const counts_ok = Number.isInteger(options.rounds) && options.rounds >= 1 &&
    Number.isInteger(options.kills) && options.kills >= 0 && options.seconds > 0;
  if (!counts_ok) throw new Error("--seconds > 0, --rounds >= 1 and --kills >= 0, whole numbers");
  return options;
}

/** loadgen's arguments for `round`: its own partners, so each round's end check is its own. */
function round_args(options: Options, round: number): string[] {
  return [...LOAD_ARGS, "--duration", `${options.seconds}s`,
    "--first-partner", String(1 + round * PARTNERS_PER_ROUND)];
}

async function single(node: ServiceProcess, options: Options, round: number): Promise<Throughput> {
  const token = node.internal_token!;
  return measured({ single: node.pid }, [...round_args(options, round),
    "--tcp-port", node.env.TCP_PORT!, "--token", token, "--internal-token", token]);
}

function seeds(cluster: ClusterProcesses): string {
  return cluster.ids().map((id) => `tcp://${cluster.tcp_address(id)}`).join(",");
}

async function replicated(cluster: ClusterProcesses, options: Options, round: number)
  : Promise<Throughput> {
  const token = cluster.node("node-1").internal_token!;
  const pids = Object.fromEntries(cluster.ids().map((id) => [id, cluster.node(id).pid]));
  return measured(pids, [...round_args(options, round), "--seeds", seeds(cluster),
    "--token", token, "--internal-token", token]);
}

/** Moves every group to ONE_PRIMARY (a planned handover each). */
async function move_all_to_one_primary(cluster: ClusterProcesses): Promise<void> {
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
}

/** Per round: off, spread and their ratio. */
interface Round { off: Throughput; spread: Throughput; share: number }

interface Figures {
  rounds: Round[]; off: Throughput; spread: Throughput; one: Throughput; kills: Failover | null;
}

async function main(): Promise<void> {
  const options = parse_options(process.argv.slice(2));
  const node = await ServiceProcess.start({ env: BENCH_ENV });
  const cluster = new ClusterProcesses(await open_cluster_plane("bench"), { nodes: 2,
    groups: GROUPS, replicas: 2, lease_ms: LEASE_MS, group_map: "", env: BENCH_ENV }, "bench");
  let figures: Figures;
  try {
    await cluster.launch();
    const rounds: Round[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const off = await single(node, options, round);
      const spread = await replicated(cluster, options, round);
      rounds.push({ off, spread, share: spread.orders_per_sec / off.orders_per_sec });
    }
    await node.stop();
    await move_all_to_one_primary(cluster);
    const one = await replicated(cluster, options, options.rounds);
    const kills = options.kills > 0 ? await failover(cluster, GROUPS, options.kills) : null;
    figures = { rounds, off: median_run(rounds.map((r) => r.off)),
      spread: median_run(rounds.map((r) => r.spread)), one, kills };
  } finally {
    if (node.running) await node.stop();
    node.remove_data();
    await cluster.stop();
  }
  report(options, figures);
}

/** The run of median throughput (its latencies and CPU come with it). */
function median_run(runs: Throughput[]): Throughput {
  const sorted = [...runs].sort((a, b) => a.orders_per_sec - b.orders_per_sec);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The middle value; with an even count, the mean of the two middle ones. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const upper = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[upper]! : (sorted[upper - 1]! + sorted[upper]!) / 2;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function spread_of(values: number[]): { p50_ms: number; max_ms: number } {
  return { p50_ms: quantile(values, 0.5), max_ms: Math.max(...values) };
}

function report(options: Options, { rounds, off, spread, one, kills }: Figures): void {
  const single_us = off.cpu_us_per_order.single!;
  const spread_us = Object.values(spread.cpu_us_per_order).reduce((a, b) => a + b, 0);
  const primary_us = one.cpu_us_per_order[ONE_PRIMARY]!;
  const standby_us = one.cpu_us_per_order["node-2"]!;
  const shares = rounds.map((r) => round2(r.share));
  const summary = {
    seconds: options.seconds, rounds: options.rounds, replication_off: off, replication_on: spread,
    one_primary: one, replicated_share_by_round: shares,
    // quantile(…, 0.5) would take the higher of two rounds' shares
    replicated_share_of_single: round2(median(shares)),
    cpu_ratio_replicated_to_single: round2(spread_us / single_us),
    standby_cpu_share_of_primary: round2(standby_us / primary_us),
    failover: kills === null ? null : { ...kills, leads: spread_of(kills.leads_ms),
      first_reply: spread_of(kills.reply_ms) },
  };
  if (options.json) return console.log(JSON.stringify(summary));
  const cpu = (t: Throughput) => Object.entries(t.cpu_us_per_order)
    .map(([id, us]) => `${id} ${us} us`).join(", ");
  const by_round = rounds.map((r, i) => `\n    round ${i + 1}: off ${r.off.orders_per_sec}, ` +
    `spread ${r.spread.orders_per_sec} orders/s (${pct(r.share)})`).join("");
  console.log(`committed orders over TCP, loadgen workload, ${options.seconds} s each, ` +
    `median of ${options.rounds} rounds taking turns${by_round}\n` +
    `  replication off (1 node):      ${line(off)}, CPU ${single_us} us/order\n` +
    `  replication on, spread:        ${line(spread)} (median share ` +
    `${pct(summary.replicated_share_of_single)} of off), CPU per order ${cpu(spread)} (sum ` +
    `${summary.cpu_ratio_replicated_to_single}x off)\n` +
    `  replication on, one primary:   ${line(one)}, CPU per order primary ${primary_us} us, ` +
    `standby ${standby_us} us (${pct(summary.standby_cpu_share_of_primary)} of the primary's)` +
    (kills === null ? "\nfailover: not measured (--kills=0)" : failover_lines(summary.failover!)));
}

function failover_lines(kills: Failover & { leads: { p50_ms: number; max_ms: number };
  first_reply: { p50_ms: number; max_ms: number } }): string {
  return `\nfailover: ${kills.kills} SIGKILLs of a primary (lease ${LEASE_MS} ms)\n` +
    `  kill -> another node leads:     p50 ${kills.leads.p50_ms} ms, max ${kills.leads.max_ms} ms\n` +
    `  kill -> first committed reply:  p50 ${kills.first_reply.p50_ms} ms, max ` +
    `${kills.first_reply.max_ms} ms\n` +
    `  load's end check ${kills.end_check}: ${kills.mismatches} accounts off (lost or doubled), ` +
    `${kills.unknown_orders} orders of unknown outcome, ${kills.resends} requests resent, ` +
    `${kills.orders} orders answered\n  refusals ${JSON.stringify(kills.refusals)}, statuses ` +
    `${JSON.stringify(kills.statuses)}` +
    (kills.end_check_note ? `\n  ${kills.end_check_note}` : "") +
    (kills.end_check_listed ?? []).map((text) => `\n    ${text}`).join("");
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
