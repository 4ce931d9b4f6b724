// The primary-standby replication link cut under load, one direction at a time, through a proxy
// the test controls: the primary records the standby out of sync and goes on committing alone; no
// takeover happens (the primary still renews its lease). Healed, the standby catches up and is in
// sync again, and nothing is lost or doubled.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import type { Direction } from "./link_proxy.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const LEASE_MS = 1_000;
/** Longer than a lease: a standby that could take over would have by then. */
const CUT_HELD_MS = 3 * LEASE_MS;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("link", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: LEASE_MS, group_map: "7:0,8:1", proxies: true,
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

async function route_of(group: number) {
  return (await cluster.map()).groups.find((g) => g.group === group)!;
}

describe("a cut replication link", () => {
  test("each direction: recorded out of sync, commits go on, no takeover; healed: in sync", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    for (const direction of ["forward", "backward"] as Direction[]) {
      await cluster.wait_in_sync(0);
      const before = await route_of(0);
      const standby = before.standbys[0]!.node;
      const proxy = cluster.proxies(standby).replication;
      const cut_at_ms = performance.now();
      proxy.cut(direction);
      // Orders sent from now on cannot be acknowledged by the standby (their entries or its acks
      // are dropped): they are answered only once it is recorded out of sync.
      await cluster.until("a batch sent after the cut in flight",
        () => load.in_flight_sent_since(0, cut_at_ms) >= 1);
      const held_at_ms = performance.now();
      await cluster.until(`${standby} recorded out of sync (${direction} cut)`,
        async () => !(await route_of(0)).standbys[0]!.in_sync);
      const out_at_ms = performance.now();
      await cluster.until("group 0 answers alone", () => load.first_answer_after(0, out_at_ms)
        !== null);
      // The cut met replication traffic, and a batch sent after it was answered (so committed
      // once the standby was recorded out of sync).
      expect(proxy.dropped_bytes[direction]).toBeGreaterThan(0);
      await cluster.until("a batch sent during the cut answered after the record",
        () => load.fault_hit_in_flight(0, held_at_ms, cut_at_ms, cut_at_ms));
      await Bun.sleep(CUT_HELD_MS);
      const during = await route_of(0);
      expect(during.primary).toBe(before.primary);
      expect(during.epoch).toBe(before.epoch);
      proxy.up();
      await cluster.wait_in_sync(0);
      console.log(`${direction} cut: ${standby} out of sync after ` +
        `${(out_at_ms - cut_at_ms).toFixed(0)} ms, in sync again after healing`);
    }
    await load.stop();
    await load.check();
    load.close();
  }, 120_000);
});
