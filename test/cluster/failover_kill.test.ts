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
/** Slack for the kill's delivery: an answer later than this after it is the new primary's. */
const KILL_SETTLE_MS = 50;

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
      // Frozen first, so the batches in flight when it dies are surely unanswered by it.
      const stopped_at_ms = performance.now(); // the failover is timed from here (its death)
      await cluster.kill(primary, "SIGSTOP");
      await cluster.until("batches in flight", () => (load.in_flight.get(group) ?? 0) >= 2);
      const killed_at_ms = performance.now();
      await cluster.kill(primary);
      killed.push(primary);
      const successor = await cluster.leader_of(group, primary);
      const after_ms = killed_at_ms + KILL_SETTLE_MS;
      await cluster.until(`group ${group} answers`,
        () => load.first_answer_after(group, after_ms) !== null);
      const failover_ms = load.first_answer_after(group, after_ms)! - stopped_at_ms;
      console.log(`kill ${round + 1}: ${primary} (group ${group}) -> ${successor}, first ` +
        `committed answer after ${failover_ms.toFixed(0)} ms`);
      // The fault hit work in flight: a batch sent before the kill was answered only by the
      // successor (the SDK resent it there with the same ids).
      await cluster.until("a batch in flight at the kill answered by the successor",
        () => load.fault_hit_in_flight(group, killed_at_ms, killed_at_ms));
      expect(answered_before).toBeGreaterThan(0);
      expect(successor).not.toBe(primary);
      await cluster.start_node(primary); // it rejoins as a standby
    }
    expect(new Set(killed).size).toBeGreaterThanOrEqual(3);
    await load.stop();
    await load.check();
    load.close();
    expect(load.answered_count()).toBe(load.orders.size);
  }, 300_000);
});
