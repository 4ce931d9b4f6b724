// bench:cluster's failover run: SIGKILL of a group's primary under a modest loadgen --seeds load,
// then the time until another node leads the group (its /metrics) and until the first committed
// reply of the new primary (cluster_probe.ts); restart, wait until in sync, next kill. loadgen's
// end check at the end says whether an acknowledged order was lost or doubled.

import type { ClusterProcesses } from "../harness/cluster_process.ts";
import { FailoverProbe } from "./cluster_probe.ts";
import { loadgen } from "./cluster_load.ts";

const FAILOVER_SECONDS_PER_KILL = 10;
const FAILOVER_LOAD_ARGS = ["--partners", "16", "--accounts", "10", "--connections", "1",
  "--in-flight", "4", "--batch", "5", "--no-progress", "--json", "--timeout", "60s"];
const LOAD_SET_UP_MS = 2_000;

export interface Failover {
  kills: number;
  /** Per kill: until another node said it leads the group; until its first committed reply. */
  leads_ms: number[];
  reply_ms: number[];
  end_check: string;
  mismatches: number;
  unknown_orders: number;
  resends: number;
  orders: number;
  end_check_note?: string;
  end_check_listed?: string[];
  refusals: Record<string, number>;
  statuses: Record<string, number>;
}

export async function failover(cluster: ClusterProcesses, groups: number, kills: number)
  : Promise<Failover> {
  const token = cluster.node("node-1").internal_token!;
  const probe = await FailoverProbe.open(cluster, groups, token);
  const seeds = cluster.ids().map((id) => `tcp://${cluster.tcp_address(id)}`).join(",");
  const load = loadgen([...FAILOVER_LOAD_ARGS, "--duration", `${kills * FAILOVER_SECONDS_PER_KILL}s`,
    "--seeds", seeds, "--token", token, "--internal-token", token]);
  const leads_ms: number[] = [];
  const reply_ms: number[] = [];
  await Bun.sleep(LOAD_SET_UP_MS);
  for (let kill = 0; kill < kills; kill++) {
    const group = kill % groups;
    const victim = await cluster.leader_of(group);
    const killed_ms = performance.now();
    await cluster.kill(victim);
    const leads = cluster.leader_of(group, victim)
      .then(() => Math.round(performance.now() - killed_ms));
    reply_ms.push(await probe.first_committed_ms(group, killed_ms));
    leads_ms.push(await leads);
    await cluster.start_node(victim);
    for (let g = 0; g < groups; g++) await cluster.wait_in_sync(g);
  }
  const run = await load;
  return { kills, leads_ms, reply_ms, end_check: String(run.end_check),
    mismatches: Number(run.end_check_mismatches ?? 0),
    unknown_orders: Number(run.unknown_orders ?? 0), resends: Number(run.resends ?? 0),
    orders: Number(run.orders), end_check_note: run.end_check_note as string | undefined,
    end_check_listed: run.end_check_listed as string[] | undefined,
    refusals: run.refusals as Record<string, number>,
    statuses: run.statuses as Record<string, number> };
}
