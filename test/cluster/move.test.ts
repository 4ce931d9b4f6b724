// Planned handovers under load: `bun run cluster -- move --group G --to NODE` gives a group to its
// in-sync standby (the old primary follows it, at epoch + 1), and SIGTERM hands every group of the
// node over before it exits. Clients follow by the routing map; nothing is lost or doubled, and no
// lease has to run out.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const LEASE_MS = 3_000; // long: a handover that waited for the lease to run out would show

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("move", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: LEASE_MS, group_map: "7:0,8:1",
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

describe("planned handovers", () => {
  test("move a group under load, then SIGTERM a node: nothing lost, no lease waited for", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.wait_in_sync(0);
    const before = (await cluster.map()).groups[0]!;
    const target = before.standbys[0]!.node;
    await cluster.until("batches in flight", () => (load.in_flight.get(0) ?? 0) >= 2);
    const moved_at_ms = performance.now();
    const moved = await cluster.run_cli(["move", "--group", "0", "--to", target]);
    expect(moved.err).toBe("");
    expect(moved.code).toBe(0);
    expect(JSON.parse(moved.out)).toMatchObject({ kind: "handed_over", group: 0, target });
    expect(await cluster.leader_of(0)).toBe(target);
    const led_at_ms = performance.now();
    console.log(`move: group 0 led by ${target} ${(led_at_ms - moved_at_ms).toFixed(0)} ms ` +
      "after the move began");
    // A handover, not a takeover after a lapsed lease: the target took nothing over.
    const metrics = await (await fetch(`${cluster.node(target).base_url}/metrics`)).text();
    expect(metrics).toContain("balance_takeovers_total 0");
    expect((await cluster.map()).groups[0]!.epoch).toBeGreaterThan(before.epoch);
    // The move met work in flight: batches sent before it were answered by the target.
    await cluster.until("a batch in flight at the move answered after it",
      () => load.fault_hit_in_flight(0, moved_at_ms, moved_at_ms));
    // A move to a node that is not an in-sync member is refused, and changes nothing.
    const refused = await cluster.run_cli(["move", "--group", "0", "--to", "nobody"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("not_in_sync");
    // SIGTERM: the node hands its groups over, then exits cleanly.
    await cluster.wait_in_sync(0);
    await cluster.wait_in_sync(1);
    const leaving = target;
    const leaving_process = cluster.node(leaving);
    const other = cluster.ids().find((id) => id !== leaving)!;
    leaving_process.proc.kill("SIGTERM");
    expect(await leaving_process.exited).toBe(0);
    cluster.processes.delete(leaving);
    expect(leaving_process.stdout()).toContain("handed over to");
    for (const group of [0, 1]) expect(await cluster.leader_of(group)).toBe(other);
    await cluster.start_node(leaving);
    await cluster.wait_in_sync(0);
    await cluster.wait_in_sync(1);
    await load.stop();
    await load.check();
    load.close();
  }, 180_000);
});
