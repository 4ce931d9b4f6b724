// The event stream across a takeover (docs/cluster.md "The event stream across takeovers"): a
// 2-node cluster with a publisher on each node (KAFKA_BROKERS, a topic of this test's own), the
// projector (in-process) writing a fresh PostgreSQL schema, the SDK's steady load on both groups.
// The primary of group 0 is SIGKILLed; the standby takes over and its publisher resumes from what
// Kafka holds for the partition. After the load stops and everything is published: the
// projection equals the balances per (group, partner, account), the projector never stopped (no
// fence breach), and `bun run reconcile` against the cluster exits 0 (it asks each group's
// primary). reconcile_faults.test.ts does the same after each of the other faults.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { applied_row } from "../projector/support.ts";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { EventStream } from "./event_stream_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const LOAD_BEFORE_KILL_MS = 1_500;
const LOAD_AFTER_KILL_MS = 1_500;

let stream: EventStream;
let cluster: TestCluster;

beforeAll(async () => {
  stream = await EventStream.start("cluster-stream", PARTNER_GROUPS.size);
  cluster = await TestCluster.start("stream", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:1", env: stream.env(),
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
  await stream?.stop();
});

describe("the event stream across a takeover", () => {
  test("SIGKILL of a primary: the successor publishes from what Kafka holds; projection and " +
    "reconcile agree with the balances", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.wait_in_sync(0);
    await Bun.sleep(LOAD_BEFORE_KILL_MS);
    const primary = await cluster.leader_of(0);
    await cluster.kill(primary);
    const successor = await cluster.leader_of(0, primary);
    expect(successor).not.toBe(primary);
    const killed_at_ms = performance.now();
    await cluster.until("group 0 answers after the kill",
      () => load.first_answer_after(0, killed_at_ms) !== null);
    await Bun.sleep(LOAD_AFTER_KILL_MS);
    await cluster.start_node(primary); // it rejoins as a standby
    await load.stop();
    await load.check();
    const token = cluster.node(successor).internal_token!;
    load.close();
    await stream.wait_projected(load.answered_sums(), PARTNER_GROUPS, cluster);
    // Events of both epochs of group 0 reached the projection, in order, with no fence breach.
    const applied = await applied_row(stream.db.sql, 0);
    expect(applied!.epoch).toBeGreaterThan(1);
    expect(stream.failure()).toBeNull();
    // Reconcile asks the restarted node (it leads no group now: 421) and follows the map.
    const reconciled = await stream.reconcile(cluster.node(primary).base_url, token);
    expect(reconciled.out).toContain('"ok":true');
    expect(reconciled.code).toBe(0);
  }, 300_000);
});
