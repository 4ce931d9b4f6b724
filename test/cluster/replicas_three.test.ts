// REPLICAS=3 on three nodes: every group has two standbys. A takeover keeps the other in-sync
// standby in the set (it holds everything committed), so a second primary death right after is
// survived too. A linked chain whose partners live on different nodes is refused whole.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";
import { BalanceClient } from "../../sdk/client.ts";

const PARTNER_GROUPS = new Map([[10, 0], [11, 1], [12, 2]]);

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("three", {
    nodes: 3, groups: 3, replicas: 3, lease_ms: 1_000, group_map: "7:0,8:1,10:0,11:1,12:2",
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

async function client_of(): Promise<BalanceClient> {
  const ids = cluster.ids();
  return BalanceClient.connect({ seeds: ids.map((id) => `tcp://${cluster.tcp_address(id)}`),
    token: cluster.node(ids[0]!).internal_token! });
}

describe("REPLICAS=3", () => {
  test("a linked chain naming partners on different nodes is refused whole", async () => {
    // The first placement spreads the primaries: partners 7 (group 0) and 8 (group 1) live on
    // different nodes.
    const map = await cluster.map();
    expect(map.groups[0]!.primary).not.toBe(map.groups[1]!.primary);
    const [p, q] = [7, 8];
    const client = await client_of();
    const opened = await client.submit([7, 8].map((partner) => ({
      op: "open_account" as const, partner, account: 1001n, kind: "user" as const, currency: 978,
    })));
    expect(opened.map((r) => r.status_name)).toEqual(["ok", "ok"]);
    const balances = async () => [(await client.account(p, 1001n))!.balance,
      (await client.account(q, 1001n))!.balance];
    const before = await balances();
    const results = await client.submit([
      { op: "debit", partner: p, account: 1001n, amount: 1n, currency: 978, linked: true },
      { op: "credit", partner: q, account: 1001n, amount: 1n, currency: 978 },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["cross_partner", "cross_partner"]);
    expect(await balances()).toEqual(before);
    client.close();
  }, 60_000);

  test("two primaries die one after the other: the third member leads, nothing lost", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.wait_in_sync(0);
    const first = await cluster.leader_of(0);
    await cluster.kill(first, "SIGSTOP");
    await cluster.until("batches in flight", () => (load.in_flight.get(0) ?? 0) >= 2);
    const killed_at_ms = performance.now();
    await cluster.kill(first);
    const second = await cluster.leader_of(0, first);
    // The takeover kept the other standby in sync: the group can lose its new primary too.
    const route = (await cluster.map()).groups[0]!;
    const third = route.standbys.find((s) => s.node !== first)!;
    expect(third.in_sync).toBe(true);
    await cluster.until("a batch in flight at the kill answered by the successor",
      () => load.fault_hit_in_flight(0, killed_at_ms, killed_at_ms));
    await cluster.kill(second);
    expect(await cluster.leader_of(0, second)).toBe(third.node);
    await cluster.start_node(first);
    await cluster.start_node(second);
    for (const group of [0, 1, 2]) await cluster.wait_in_sync(group);
    await load.stop();
    await load.check();
    load.close();
  }, 120_000);

});
