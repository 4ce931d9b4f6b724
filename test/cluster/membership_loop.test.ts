// The membership loop on the real PostgreSQL (cluster/membership/membership.ts, docs/cluster.md
// "Membership loop"): nodes start and settle on one placement, the loop keeps the leases renewed,
// a frozen holder's lease expires and a standby takes it over (epoch + 1), the old holder learns
// `deposed` once and never leads again, and an unreachable database keeps a primary primary and
// refuses takeovers. Ticks are fired by the test; expiry is judged by the database.

import { afterEach, describe, expect, test } from "bun:test";
import { add_in_sync } from "../../cluster/control_plane/in_sync.ts";
import { timer_scheduler, type Scheduler } from "../../cluster/membership/scheduler.ts";
import { MEMBERSHIP_TICKS_PER_LEASE } from "../../common/constants.ts";
import {
  fresh_plane, LEASE_LONG_MS, LEASE_SHORT_MS, lease_snapshot, TEST_TIMEOUT_MS, until_expired,
  type TestPlane,
} from "./control_support.ts";
import {
  database_proxy, test_node, type DatabaseProxy, type NodeShape, type TestNode,
} from "./membership_support.ts";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function plane_for(label: string): Promise<TestPlane> {
  const db = await fresh_plane(label);
  cleanups.push(() => db.drop());
  return db;
}

function node(index: number, db: TestPlane, shape: NodeShape,
  scheduler?: Scheduler): TestNode {
  const made = test_node(index, db, shape, scheduler);
  cleanups.push(() => made.membership.close());
  return made;
}

async function started(...nodes: TestNode[]): Promise<void> {
  const outcomes = await Promise.all(nodes.map((n) => n.membership.start()));
  for (const outcome of outcomes) expect(outcome).toEqual({ kind: "started" });
}

async function proxy(db: TestPlane): Promise<DatabaseProxy> {
  const made = await database_proxy(db.database_url);
  cleanups.push(() => made.cut());
  return made;
}

/** node-0 (holder of group 0 at epoch 1) records node-1 in sync on its disk. */
async function node_1_in_sync(db: TestPlane): Promise<void> {
  const added = await add_in_sync(db.plane,
    { group: 0, node: "node-0", epoch: 1, member: "node-1" }, "disk-1-a");
  expect(added.kind).toBe("in_sync_set");
}

describe("start", () => {
  test("three nodes settle on the same settings and a spread placement", async () => {
    const db = await plane_for("member_start");
    const shape = { groups: 3, replicas: 3, lease_ms: LEASE_LONG_MS };
    const nodes = [0, 1, 2].map((i) => node(i, db, shape));
    await started(...nodes);
    // A node that started before all three registered learns the placement at its next tick.
    for (const n of nodes) await n.scheduler.fire();
    for (let group = 0; group < shape.groups; group++) {
      const roles = nodes.map((n) => n.membership.role(group));
      const primaries = nodes.filter((n) => n.membership.role(group).kind === "primary");
      expect(primaries.map((n) => n.membership.node_id)).toEqual([`node-${group}`]);
      for (const role of roles) {
        if (role.kind === "primary") expect(role.epoch).toBe(1);
        else expect(role).toMatchObject({ kind: "standby", epoch: 1, holder: `node-${group}` });
      }
    }
    expect(nodes[0]!.scheduler.delays_ms[0]).toBe(
      Math.floor(LEASE_LONG_MS / MEMBERSHIP_TICKS_PER_LEASE));
    expect(nodes[0]!.membership.in_sync(0)).toEqual([{ node: "node-0", disk: "disk-0-a" }]);
    expect(nodes[1]!.membership.in_sync(0)).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("a node whose settings disagree is refused and registers nothing", async () => {
    const db = await plane_for("member_differ");
    const shape = { groups: 2, replicas: 1, lease_ms: LEASE_LONG_MS };
    await started(node(0, db, shape));
    const other = node(1, db, { ...shape, groups: 3 });
    expect(await other.membership.start()).toEqual({
      kind: "settings_differ", differences: ["GROUPS is 3 here, 2 in the cluster"],
    });
    expect(other.scheduler.has_pending).toBe(false);
    const rows = await db.plane.sql`select node_id from nodes`;
    expect(rows.map((row) => row.node_id)).toEqual(["node-0"]);
  }, TEST_TIMEOUT_MS);
});

describe("the loop", () => {
  test("every tick heartbeats and renews the leases held, from the database's now()", async () => {
    const db = await plane_for("member_renew");
    const shape = { groups: 2, replicas: 2, lease_ms: LEASE_LONG_MS };
    const [a, b] = [node(0, db, shape), node(1, db, shape)];
    await started(a, b);
    await a.scheduler.fire();
    let last_ms = 0;
    let heard_ms = 0;
    for (let round = 0; round < 3; round++) {
      await a.scheduler.fire();
      const nodes = await db.plane.sql`select heartbeat_at from nodes where node_id = 'node-0'`;
      expect((nodes[0]!.heartbeat_at as Date).getTime()).toBeGreaterThan(heard_ms);
      heard_ms = (nodes[0]!.heartbeat_at as Date).getTime();
      const row = await lease_snapshot(db.plane, 0) as { expires_at: Date; epoch: number };
      const role = a.membership.role(0);
      if (role.kind !== "primary") throw new Error(`role ${role.kind}`);
      expect(role.expires_at).toEqual(row.expires_at);
      expect(row.expires_at.getTime()).toBeGreaterThan(last_ms);
      expect(row.epoch).toBe(1);
      last_ms = row.expires_at.getTime();
    }
    // The lease is live: a standby may not take it over, however long it has heard nothing.
    await b.scheduler.fire();
    const check = await b.membership.may_take_over(0, LEASE_LONG_MS);
    expect(check.kind).toBe("not_expired");
  }, TEST_TIMEOUT_MS);

  test("on the event loop's timers, the loop renews a short lease again and again", async () => {
    const db = await plane_for("member_timers");
    const shape = { groups: 1, replicas: 1, lease_ms: LEASE_SHORT_MS };
    const a = node(0, db, shape, timer_scheduler);
    await started(a);
    const seen = new Set<number>();
    const deadline_ms = Date.now() + TEST_TIMEOUT_MS / 2;
    while (seen.size < 5 && Date.now() < deadline_ms) {
      const role = a.membership.role(0);
      if (role.kind === "primary") seen.add(role.expires_at.getTime());
      await Bun.sleep(LEASE_SHORT_MS / MEMBERSHIP_TICKS_PER_LEASE);
    }
    expect(seen.size).toBe(5);
    await a.membership.pause();
    const row = await lease_snapshot(db.plane, 0) as { holder: string; epoch: number };
    expect(row).toMatchObject({ holder: "node-0", epoch: 1 });
  }, TEST_TIMEOUT_MS);
});

/** Two started nodes on a short lease: node-0 holds group 0, node-1 follows it in sync. */
async function holder_and_standby(db: TestPlane): Promise<[TestNode, TestNode]> {
  const shape = { groups: 1, replicas: 2, lease_ms: LEASE_SHORT_MS };
  const [a, b] = [node(0, db, shape), node(1, db, shape)];
  await started(a, b);
  await node_1_in_sync(db);
  await a.scheduler.fire();
  await b.scheduler.fire();
  return [a, b];
}

describe("failover", () => {
  test("a stopped holder's lease expires, a standby takes it, the old holder steps down once",
    async () => {
      const db = await plane_for("member_failover");
      const [a, b] = await holder_and_standby(db);
      expect(a.membership.role(0)).toMatchObject({ kind: "primary", epoch: 1 });
      expect(b.membership.role(0)).toMatchObject({ kind: "standby", epoch: 1, in_sync: true });
      expect(await a.membership.may_take_over(0, LEASE_SHORT_MS)).toEqual({ kind: "not_standby" });
      // node-0's loop is stopped (a frozen process): nothing renews its lease.
      await until_expired(db.plane, 0);
      expect(await b.membership.may_take_over(0, LEASE_SHORT_MS - 1))
        .toEqual({ kind: "heard_recently" });
      expect(await b.membership.may_take_over(0, LEASE_SHORT_MS))
        .toEqual({ kind: "may_take_over", epoch: 1 });
      const taken = await b.membership.take_over(0, 41, []);
      expect(taken).toMatchObject({ kind: "taken", epoch: 2 });
      expect(b.membership.role(0)).toMatchObject({ kind: "primary", epoch: 2 });
      expect(b.membership.may_commit(0)).toBe(true);
      expect(await lease_snapshot(db.plane, 0))
        .toMatchObject({ holder: "node-1", epoch: 2, first_sequence: 42 });
      // Resumed, node-0 learns `deposed` from its renewal, tells its owner once, never leads again.
      expect(a.membership.may_commit(0)).toBe(true);
      for (let round = 0; round < 3; round++) {
        await a.scheduler.fire();
        expect(a.membership.role(0)).toMatchObject({ kind: "standby", epoch: 2, holder: "node-1" });
        expect(a.membership.may_commit(0)).toBe(false);
      }
      expect(a.deposed).toEqual([{ group: 0, epoch: 2, holder: "node-1" }]);
      expect(b.deposed).toEqual([]);
    }, TEST_TIMEOUT_MS);
});

describe("a planned handover racing a takeover", () => {
  // Seen in a cluster test: the standby decided to take over (the lease had expired while the
  // primary drained), the primary then handed the group to it, and its takeover at the old epoch
  // was refused `stale_epoch`. The refusal recorded the newer epoch in its standby role, so no
  // later read saw the handover as newer: nobody renewed the lease, and the old primary took
  // the group back at the next epoch.
  test("a standby refused `stale_epoch` because the group was handed to it leads at that epoch",
    async () => {
      const db = await plane_for("member_handover_race");
      const [a, b] = await holder_and_standby(db);
      await until_expired(db.plane, 0);
      expect(await b.membership.may_take_over(0, LEASE_SHORT_MS))
        .toEqual({ kind: "may_take_over", epoch: 1 });
      const handed = await a.membership.hand_over(0, "node-1", "disk-1-a", 42);
      expect(handed).toMatchObject({ kind: "handed_over", epoch: 2 });
      const taken = await b.membership.take_over(0, 41, []);
      expect(taken).toMatchObject({ kind: "stale_epoch", epoch: 2, holder: "node-1" });
      await b.scheduler.fire();
      expect(b.membership.role(0)).toMatchObject({ kind: "primary", epoch: 2 });
      expect(await lease_snapshot(db.plane, 0))
        .toMatchObject({ holder: "node-1", epoch: 2, first_sequence: 42 });
    }, TEST_TIMEOUT_MS);

  test("a standby that reads the handover while it checks for a takeover leads at that epoch",
    async () => {
      const db = await plane_for("member_handover_check");
      const [a, b] = await holder_and_standby(db);
      const handed = await a.membership.hand_over(0, "node-1", "disk-1-a", 42);
      expect(handed).toMatchObject({ kind: "handed_over", epoch: 2 });
      expect(await b.membership.may_take_over(0, LEASE_SHORT_MS)).toEqual({ kind: "not_standby" });
      expect(b.membership.role(0)).toMatchObject({ kind: "primary", epoch: 2 });
    }, TEST_TIMEOUT_MS);
});

describe("an unreachable database", () => {
  test("keeps a primary primary and refuses takeovers", async () => {
    const db = await plane_for("member_unreachable");
    const shape = { groups: 1, replicas: 2, lease_ms: LEASE_SHORT_MS };
    const [proxy_a, proxy_b] = [await proxy(db), await proxy(db)];
    const a = node(0, db, { ...shape, database_url: proxy_a.database_url });
    const b = node(1, db, { ...shape, database_url: proxy_b.database_url });
    await started(a, b);
    await node_1_in_sync(db);
    await a.scheduler.fire();
    await b.scheduler.fire();
    expect(a.membership.role(0)).toMatchObject({ kind: "primary", epoch: 1 });
    expect(b.membership.role(0)).toMatchObject({ kind: "standby", epoch: 1, in_sync: true });
    await proxy_a.cut();
    await proxy_b.cut();
    for (let round = 0; round < 3; round++) await a.scheduler.fire();
    expect(a.membership.role(0)).toMatchObject({ kind: "primary", epoch: 1 });
    expect(a.membership.may_commit(0)).toBe(true);
    expect(a.deposed).toEqual([]);
    // Expired by the database's clock, yet the standby cannot ask it: no takeover.
    await until_expired(db.plane, 0);
    expect((await b.membership.may_take_over(0, LEASE_SHORT_MS)).kind).toBe("unreachable");
    expect((await b.membership.take_over(0, 1, [])).kind).toBe("unreachable");
    await b.scheduler.fire();
    expect(b.membership.role(0)).toMatchObject({ kind: "standby", epoch: 1 });
    expect(await lease_snapshot(db.plane, 0)).toMatchObject({ holder: "node-0", epoch: 1 });
  }, TEST_TIMEOUT_MS);
});
