// How a cluster grows: a fourth node joins a three-node cluster, and groups are moved onto it under
// load with `bun run cluster -- move`: the new node is added to the group's members, catches up as
// a standby, is recorded in sync, then takes the lease while the old primary leaves the members
// (REPLICAS stays). Nothing is lost or doubled.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1], [9, 2]]);

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("grow", {
    nodes: 3, groups: 3, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:1,9:2",
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

describe("growing the cluster", () => {
  test("a fourth node joins; groups move onto it under load, nothing lost", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.add_node("node-4");
    for (const group of [0, 1]) {
      const before = (await cluster.map()).groups[group]!;
      expect([before.primary, ...before.standbys.map((s) => s.node)]).not.toContain("node-4");
      await cluster.until("batches in flight", () => (load.in_flight.get(group) ?? 0) >= 2);
      const moved_at_ms = performance.now();
      const moved = await cluster.run_cli(["move", "--group", String(group), "--to", "node-4"]);
      expect(moved.err).toBe("");
      expect(moved.code).toBe(0);
      expect(await cluster.leader_of(group)).toBe("node-4");
      const after = (await cluster.map()).groups[group]!;
      // The old primary left; REPLICAS members remain, the other standby among them.
      expect(after.standbys.map((s) => s.node)).toEqual(
        before.standbys.map((s) => s.node).filter((node) => node !== "node-4"));
      expect(after.standbys.map((s) => s.node)).not.toContain(before.primary);
      expect(after.epoch).toBeGreaterThan(before.epoch);
      await cluster.until(`a batch of group ${group} in flight at the move answered after it`,
        () => load.fault_hit_in_flight(group, moved_at_ms, moved_at_ms));
      await cluster.wait_in_sync(group);
    }
    await load.stop();
    await load.check();
    load.close();
  }, 180_000);
});
