// SIGKILL a primary under load, five times in a row, on different nodes: an in-sync standby takes
// over by itself, the load follows it, nothing committed is lost and nothing is applied twice.
// The time from each kill to the first committed answer of the new primary is printed (a figure,
// not a pass/fail: the machine is shared; bench:cluster measures it).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1], [9, 2]]);
const KILLS = 5;
const LOAD_BEFORE_KILL_MS = 400;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("kill", {
    nodes: 3, groups: 3, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:1,9:2",
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

describe("failover after SIGKILL", () => {
  test("five kills of a primary under load, on different nodes: nothing lost or doubled", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    const killed: string[] = [];
    for (let round = 0; round < KILLS; round++) {
      const group = round % 3;
      await cluster.wait_in_sync(group);
      const primary = await cluster.leader_of(group);
      await Bun.sleep(LOAD_BEFORE_KILL_MS);
      const answered_before = load.answered_count();
      const failed_before = load.failures.get(primary) ?? 0;
      await cluster.until("requests in flight", () => (load.in_flight.get(primary) ?? 0) >= 2);
      const killed_at_ms = performance.now();
      await cluster.kill(primary);
      killed.push(primary);
      const successor = await cluster.leader_of(group, primary);
      await cluster.until(`group ${group} answers`,
        () => load.first_answer_after(group, killed_at_ms, successor) !== null);
      const failover_ms = load.first_answer_after(group, killed_at_ms, successor)! - killed_at_ms;
      console.log(`kill ${round + 1}: ${primary} (group ${group}) -> ${successor}, first ` +
        `committed answer after ${failover_ms.toFixed(0)} ms`);
      // The fault hit work in flight: a request to the killed node got no answer.
      expect(load.failures.get(primary) ?? 0).toBeGreaterThan(failed_before);
      expect(answered_before).toBeGreaterThan(0);
      expect(successor).not.toBe(primary);
      await cluster.start_node(primary); // it rejoins as a standby
    }
    expect(new Set(killed).size).toBeGreaterThanOrEqual(3);
    await load.stop();
    await load.check();
    expect(load.answered_count()).toBe(load.orders.size);
  }, 300_000);
});
