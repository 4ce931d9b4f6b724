// `bun run reconcile` exits 0 after each fault of the cluster, not only after a SIGKILL
// (event_stream.test.ts): one 2-node cluster with publishers, the projector and the SDK's steady
// load goes through a frozen primary (SIGSTOP past its lease, SIGCONT: deposed, restarted), a cut
// replication link, the control plane's PostgreSQL out, and a planned move. After each one the load
// stops with every order answered, nothing is lost or doubled (check), the projection holds the
// answered balances, the projector has met no fence breach, and reconcile agrees; then the load
// goes on into the next fault. Each fault is shown to have met work in flight.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DEPOSED_EXIT_CODE } from "../../node/cluster_controller.ts";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { EventStream } from "./event_stream_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const LEASE_MS = 1_000;
/** The control plane's outage: several leases, so a takeover would have had time to happen. */
const DATABASE_OUT_MS = 4_000;

let stream: EventStream;
let cluster: TestCluster;
let load: SteadyLoad;

beforeAll(async () => {
  stream = await EventStream.start("cluster-faults", PARTNER_GROUPS.size);
  cluster = await TestCluster.start("recfaults", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: LEASE_MS, group_map: "7:0,8:1", proxies: true,
    env: stream.env(),
  });
  load = new SteadyLoad(cluster, PARTNER_GROUPS);
  await load.start();
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  load?.close();
  await cluster?.stop();
  await stream?.stop();
});

/** Stops the load, checks it, waits for the projection, runs reconcile; then the load goes on. */
async function reconciled_after(fault: string): Promise<void> {
  await cluster.wait_in_sync(0);
  await cluster.wait_in_sync(1);
  await load.stop();
  await load.check();
  await stream.wait_projected(load.answered_sums(), PARTNER_GROUPS, cluster);
  expect(stream.failure()).toBeNull();
  const via = await cluster.leader_of(1);
  const result = await stream.reconcile(cluster.node(via).base_url, cluster.node(via).internal_token!);
  expect(result.out, `reconcile after ${fault}`).toContain('"ok":true');
  expect(result.code, `reconcile after ${fault}`).toBe(0);
  console.log(`${fault}: ${load.answered_count()} orders answered, reconcile exit 0`);
  load.resume();
}

describe("reconcile after each fault", () => {
  test("a frozen primary, deposed and restarted", async () => {
    await cluster.wait_in_sync(0);
    const frozen = await cluster.leader_of(0);
    const frozen_process = cluster.node(frozen);
    await cluster.until("a batch of group 0 in flight", () => (load.in_flight.get(0) ?? 0) >= 1);
    const frozen_at_ms = performance.now();
    await cluster.kill(frozen, "SIGSTOP");
    const successor = await cluster.leader_of(0, frozen);
    expect(successor).not.toBe(frozen);
    await cluster.kill(frozen, "SIGCONT");
    expect(await frozen_process.exited).toBe(DEPOSED_EXIT_CODE);
    await cluster.until("a batch in flight at the freeze answered by the successor",
      () => load.fault_hit_in_flight(0, frozen_at_ms, frozen_at_ms));
    cluster.processes.delete(frozen);
    await cluster.start_node(frozen); // its supervisor restarts it: a standby again
    await reconciled_after("frozen primary");
  }, 120_000);

  test("a cut replication link, healed", async () => {
    await cluster.wait_in_sync(0);
    const standby = (await cluster.standby_of(0)).node;
    const proxy = cluster.proxies(standby).replication;
    const cut_at_ms = performance.now();
    proxy.cut("forward");
    await cluster.until("a batch sent after the cut in flight",
      () => load.in_flight_sent_since(0, cut_at_ms) >= 1);
    const held_at_ms = performance.now();
    await cluster.until(`${standby} recorded out of sync`,
      async () => !(await cluster.standby_of(0)).in_sync);
    await cluster.until("a batch sent during the cut answered after the record",
      () => load.fault_hit_in_flight(0, held_at_ms, cut_at_ms, cut_at_ms));
    expect(proxy.dropped_bytes.forward).toBeGreaterThan(0);
    proxy.up();
    await reconciled_after("cut link");
  }, 120_000);

  test("the control plane's PostgreSQL out", async () => {
    const before = await cluster.map();
    const down_at_ms = performance.now();
    for (const id of cluster.ids()) cluster.proxies(id).database.go_down();
    await Bun.sleep(DATABASE_OUT_MS);
    const up_at_ms = performance.now();
    for (const id of cluster.ids()) cluster.proxies(id).database.up();
    // Commits went on while it was out (both groups answered batches sent during the outage).
    for (const group of [0, 1]) {
      expect(load.timings.some((t) => t.group === group && t.sent_ms > down_at_ms &&
        t.answered_ms < up_at_ms)).toBe(true);
    }
    const after = await cluster.map();
    expect(after.groups.map((g) => [g.primary, g.epoch]))
      .toEqual(before.groups.map((g) => [g.primary, g.epoch]));
    await reconciled_after("control plane out");
  }, 120_000);

  test("a planned move under load", async () => {
    await cluster.wait_in_sync(1);
    const target = (await cluster.standby_of(1)).node;
    await cluster.until("batches of group 1 in flight", () => (load.in_flight.get(1) ?? 0) >= 2);
    const moved_at_ms = performance.now();
    const moved = await cluster.run_cli(["move", "--group", "1", "--to", target]);
    expect(moved.code, `${moved.out}${moved.err}\n${cluster.outputs()}`).toBe(0);
    expect(JSON.parse(moved.out)).toMatchObject({ kind: "handed_over", group: 1, target });
    await cluster.until("a batch in flight at the move answered after it",
      () => load.fault_hit_in_flight(1, moved_at_ms, moved_at_ms));
    expect(await cluster.leader_of(1), cluster.outputs()).toBe(target);
    await reconciled_after("move");
  }, 120_000);
});
