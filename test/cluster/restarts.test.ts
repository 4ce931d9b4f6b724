// Both nodes of a group killed together and restarted in either order: whichever comes first
// leads (the old primary at a new epoch of its own, or the old standby by a takeover), the other
// rejoins as a standby, cutting what the cluster never committed. A node restarted on an empty
// disk is never promoted before it has caught up: the in-sync set names its old disk.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const LEASE_MS = 1_000;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("restarts", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: LEASE_MS, group_map: "7:0,8:1",
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

/** Both nodes frozen together (the load's batches in flight stay unanswered), then killed. */
async function kill_both(load: SteadyLoad): Promise<number> {
  for (const id of cluster.ids()) await cluster.kill(id, "SIGSTOP");
  await cluster.until("batches in flight", () => (load.in_flight.get(0) ?? 0) >= 2);
  const killed_at_ms = performance.now();
  await Promise.all(cluster.ids().map((id) => cluster.kill(id)));
  return killed_at_ms;
}

describe("restarts", () => {
  test("both nodes killed, restarted in either order; then an empty disk", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    for (const first_back of ["primary", "standby"] as const) {
      await cluster.wait_in_sync(0);
      await cluster.wait_in_sync(1);
      const route = (await cluster.map()).groups[0]!;
      const primary = route.primary;
      const standby = route.standbys[0]!.node;
      const killed_at_ms = await kill_both(load);
      const [first, second] = first_back === "primary" ? [primary, standby] : [standby, primary];
      await cluster.start_node(first);
      expect(await cluster.leader_of(0)).toBe(first);
      await cluster.start_node(second);
      await cluster.until(`a batch in flight at the kill answered (${first_back} back first)`,
        () => load.fault_hit_in_flight(0, killed_at_ms, killed_at_ms));
      console.log(`both killed, ${first_back} back first: ${first} leads group 0`);
    }
    // An empty disk: killed together, the standby's directory wiped, only it restarted.
    await cluster.wait_in_sync(0);
    const route = (await cluster.map()).groups[0]!;
    const [primary, wiped] = [route.primary, route.standbys[0]!.node];
    await kill_both(load);
    cluster.wipe(wiped);
    await cluster.start_node(wiped);
    await Bun.sleep(4 * LEASE_MS);
    // The set names it in sync, but on its old disk: it may not take the group over.
    const waiting = (await cluster.map()).groups[0]!;
    expect(waiting.primary).toBe(primary);
    expect(waiting.epoch).toBe(route.epoch);
    expect(await cluster.says_it_leads(wiped, 0)).toBe(false);
    await cluster.start_node(primary);
    expect(await cluster.leader_of(0)).toBe(primary);
    await cluster.wait_in_sync(0); // caught up from nothing, recorded on its new disk
    await cluster.wait_in_sync(1);
    await load.stop();
    await load.check();
    // Caught up, it holds everything: it may now lead.
    await cluster.kill(primary);
    expect(await cluster.leader_of(0, primary)).toBe(wiped);
    await load.check();
    load.close();
  }, 180_000);
});
