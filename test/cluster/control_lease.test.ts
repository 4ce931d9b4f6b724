// The lease, the in-sync set and the handover on the real PostgreSQL (docs/cluster.md): every
// operation's success and each of its refusals (which change nothing), expiry judged by the
// database's clock (short leases, waited for by asking PostgreSQL), a deposed primary unable to
// write anything, concurrent takeovers with exactly one winner, the routing map following every
// change, and an unreachable database told apart from a lost lease.

import { afterEach, describe, expect, test } from "bun:test";
import { open_control_plane, type ControlPlane } from "../../cluster/control_plane/connection.ts";
import { hand_over_lease, type HandOver } from "../../cluster/control_plane/handover.ts";
import { add_in_sync, remove_in_sync } from "../../cluster/control_plane/in_sync.ts";
import { renew_lease, take_over_lease, type TakeOver } from "../../cluster/control_plane/lease.ts";
import { read_routing_map, type GroupRoute } from "../../cluster/control_plane/routing_map.ts";
import {
  fresh_plane, LEASE_LONG_MS, LEASE_SHORT_MS, lease_snapshot, small_cluster, TEST_TIMEOUT_MS,
  until_expired, type TestPlane,
} from "./control_support.ts";

const dropped: TestPlane[] = [];

afterEach(async () => {
  while (dropped.length > 0) await dropped.pop()!.drop();
});

/** Three nodes, REPLICAS = 3: group 0 is node-0's, with node-1 and node-2 as its standbys. */
async function cluster(label: string, lease_ms: number): Promise<TestPlane> {
  const db = await fresh_plane(label);
  dropped.push(db);
  await small_cluster(db, { groups: 3, replicas: 3, node_count: 3, lease_ms });
  return db;
}

/** node-0 (holder of group 0 at `epoch`) records `members` in sync with their first disks. */
async function in_sync_all(plane: ControlPlane, members: string[], holder = "node-0",
  epoch = 1): Promise<void> {
  for (const member of members) {
    const disk = `disk-${member.slice("node-".length)}-a`;
    const outcome = await add_in_sync(plane, { group: 0, node: holder, epoch, member }, disk);
    expect(outcome.kind).toBe("in_sync_set");
  }
}

function take_over(node: string, fields: Partial<TakeOver> = {}): TakeOver {
  const disk = `disk-${node.slice("node-".length)}-a`;
  return {
    group: 0, node, disk, epoch: 1, first_sequence: 1, keep: [], lease_ms: LEASE_SHORT_MS,
    ...fields,
  };
}

async function route(plane: ControlPlane, group = 0): Promise<GroupRoute> {
  const outcome = await read_routing_map(plane);
  if (outcome.kind !== "map") throw new Error(`routing map: ${outcome.kind}`);
  return outcome.map.groups[group]!;
}

describe("renew", () => {
  test("the holder at its epoch, from the database's now(); anyone else refused", async () => {
    const db = await cluster("renew", LEASE_LONG_MS);
    const renewed = await renew_lease(db.plane, 0, "node-0", 1, LEASE_LONG_MS);
    expect(renewed.kind).toBe("renewed");
    if (renewed.kind !== "renewed") return;
    expect(renewed.epoch).toBe(1);
    expect(renewed.expires_at.getTime() - renewed.db_now.getTime()).toBe(LEASE_LONG_MS);
    const before = await lease_snapshot(db.plane, 0);
    expect(await renew_lease(db.plane, 0, "node-1", 1, LEASE_LONG_MS))
      .toEqual({ kind: "not_holder", epoch: 1, holder: "node-0" });
    expect(await renew_lease(db.plane, 0, "node-0", 2, LEASE_LONG_MS))
      .toEqual({ kind: "not_holder", epoch: 1, holder: "node-0" });
    expect(await renew_lease(db.plane, 7, "node-0", 1, LEASE_LONG_MS))
      .toEqual({ kind: "unknown_group" });
    expect(await lease_snapshot(db.plane, 0)).toEqual(before);
  }, TEST_TIMEOUT_MS);
});

describe("take over", () => {
  test("each refusal changes nothing: not expired, not in sync, wrong disk, stale epoch, " +
    "member out of sync, behind the epoch's first sequence", async () => {
    const db = await cluster("take_refusals", LEASE_SHORT_MS);
    const plane = db.plane;
    expect((await renew_lease(plane, 0, "node-0", 1, LEASE_LONG_MS)).kind).toBe("renewed");
    await in_sync_all(plane, ["node-1"]);
    const before = await lease_snapshot(plane, 0);
    const not_expired = await take_over_lease(plane, take_over("node-1"));
    expect(not_expired.kind).toBe("not_expired");
    expect((await renew_lease(plane, 0, "node-0", 1, LEASE_SHORT_MS)).kind).toBe("renewed");
    await until_expired(plane, 0);
    const expired = await lease_snapshot(plane, 0);
    expect(await take_over_lease(plane, take_over("node-2"))).toEqual({ kind: "not_in_sync" });
    expect(await take_over_lease(plane, take_over("node-1", { disk: "disk-1-b" })))
      .toEqual({ kind: "wrong_disk", recorded_disk: "disk-1-a" });
    expect(await take_over_lease(plane, take_over("node-1", { epoch: 2 })))
      .toEqual({ kind: "stale_epoch", epoch: 1, holder: "node-0" });
    expect(await take_over_lease(plane, take_over("node-1", { keep: ["node-2"] })))
      .toEqual({ kind: "member_not_in_sync", member: "node-2" });
    expect(await take_over_lease(plane, take_over("node-1", { group: 9 })))
      .toEqual({ kind: "unknown_group" });
    expect(await lease_snapshot(plane, 0)).toEqual(expired);
    expect((before as { expires_at: Date }).expires_at.getTime())
      .toBeGreaterThan((expired as { expires_at: Date }).expires_at.getTime());
    const taken = await take_over_lease(plane, take_over("node-1", { first_sequence: 100 }));
    expect(taken.kind).toBe("taken");
    await in_sync_all(plane, ["node-0"], "node-1", 2);
    await until_expired(plane, 0);
    expect(await take_over_lease(plane, take_over("node-0", { epoch: 2, first_sequence: 99 })))
      .toEqual({ kind: "sequence_behind", first_sequence: 100 });
  }, TEST_TIMEOUT_MS);

  test("an expired lease is taken: epoch + 1, first sequence and the cut in-sync set recorded",
    async () => {
      const db = await cluster("take", LEASE_SHORT_MS);
      await in_sync_all(db.plane, ["node-1", "node-2"]);
      await until_expired(db.plane, 0);
      const taken = await take_over_lease(db.plane,
        take_over("node-2", { first_sequence: 41, keep: ["node-1"] }));
      expect(taken.kind).toBe("taken");
      if (taken.kind !== "taken") return;
      expect(taken.epoch).toBe(2);
      expect(taken.expires_at.getTime() - taken.db_now.getTime()).toBe(LEASE_SHORT_MS);
      expect(taken.in_sync).toEqual([
        { node: "node-1", disk: "disk-1-a" }, { node: "node-2", disk: "disk-2-a" },
      ]);
      const after = await route(db.plane);
      expect(after.primary).toBe("node-2");
      expect(after.epoch).toBe(2);
      expect(after.first_sequence).toBe(41);
      expect(after.standbys).toEqual([
        { node: "node-0", in_sync: false }, { node: "node-1", in_sync: true },
      ]);
    }, TEST_TIMEOUT_MS);

  test("expiry is the database's: a lease renewed in time is not taken, one let lapse is",
    async () => {
      const db = await cluster("expiry", LEASE_SHORT_MS);
      await in_sync_all(db.plane, ["node-1"]);
      await until_expired(db.plane, 0);
      // Nobody took it, so the holder may still renew; from then on it is live again.
      expect((await renew_lease(db.plane, 0, "node-0", 1, LEASE_LONG_MS)).kind).toBe("renewed");
      expect((await take_over_lease(db.plane, take_over("node-1"))).kind).toBe("not_expired");
      expect((await renew_lease(db.plane, 0, "node-0", 1, LEASE_SHORT_MS)).kind).toBe("renewed");
      await until_expired(db.plane, 0);
      expect((await take_over_lease(db.plane, take_over("node-1"))).kind).toBe("taken");
    }, TEST_TIMEOUT_MS);

  test("takeovers from several connections at once: exactly one winner, epoch + 1 once",
    async () => {
      const db = await cluster("race", LEASE_SHORT_MS);
      const planes = [0, 1, 2, 3, 4, 5].map(() => db.another());
      await in_sync_all(db.plane, ["node-1", "node-2"]);
      let holder = "node-0";
      for (let epoch = 1; epoch <= 5; epoch++) {
        await until_expired(db.plane, 0);
        const attempts = planes.map((plane, index) => {
          const node = ["node-0", "node-1", "node-2"].filter((name) => name !== holder)[index % 2]!;
          const keep = ["node-0", "node-1", "node-2"].filter((name) => name !== node);
          return take_over_lease(plane, take_over(node, { epoch, keep }));
        });
        const outcomes = await Promise.all(attempts);
        const winners = outcomes.filter((outcome) => outcome.kind === "taken");
        expect(winners.length).toBe(1);
        for (const outcome of outcomes) {
          expect(["taken", "stale_epoch", "raced"]).toContain(outcome.kind);
        }
        const after = await route(db.plane);
        expect(after.epoch).toBe(epoch + 1);
        expect(after.primary).not.toBe(holder);
        holder = after.primary;
      }
    }, TEST_TIMEOUT_MS);
});

describe("a deposed primary", () => {
  test("cannot renew, change the in-sync set or hand over: each answers deposed", async () => {
    const db = await cluster("deposed", LEASE_SHORT_MS);
    await in_sync_all(db.plane, ["node-1", "node-2"]);
    await until_expired(db.plane, 0);
    expect((await take_over_lease(db.plane, take_over("node-1", { keep: ["node-2"] }))).kind)
      .toBe("taken");
    const before = await lease_snapshot(db.plane, 0);
    const deposed = { kind: "deposed", epoch: 2, holder: "node-1" } as const;
    expect(await renew_lease(db.plane, 0, "node-0", 1, LEASE_LONG_MS)).toEqual(deposed);
    const change = { group: 0, node: "node-0", epoch: 1, member: "node-2" };
    expect(await remove_in_sync(db.plane, change)).toEqual(deposed);
    expect(await add_in_sync(db.plane, { ...change, member: "node-0" }, "disk-0-a"))
      .toEqual(deposed);
    const hand: HandOver = {
      group: 0, node: "node-0", epoch: 1, target: "node-2", target_disk: "disk-2-a",
      first_sequence: 5, lease_ms: LEASE_LONG_MS,
    };
    expect(await hand_over_lease(db.plane, hand)).toEqual(deposed);
    expect(await lease_snapshot(db.plane, 0)).toEqual(before);
  }, TEST_TIMEOUT_MS);
});

describe("handover", () => {
  test("to an in-sync member at epoch + 1; refused out of sync, on a wrong disk, behind",
    async () => {
      const db = await cluster("handover", LEASE_LONG_MS);
      const hand: HandOver = {
        group: 0, node: "node-0", epoch: 1, target: "node-2", target_disk: "disk-2-a",
        first_sequence: 10, lease_ms: LEASE_LONG_MS,
      };
      const before = await lease_snapshot(db.plane, 0);
      expect(await hand_over_lease(db.plane, hand)).toEqual({ kind: "target_not_in_sync" });
      expect(await lease_snapshot(db.plane, 0)).toEqual(before);
      await in_sync_all(db.plane, ["node-2"]);
      expect(await hand_over_lease(db.plane, { ...hand, target_disk: "disk-2-b" }))
        .toEqual({ kind: "wrong_disk", recorded_disk: "disk-2-a" });
      expect(await hand_over_lease(db.plane, { ...hand, node: "node-1" }))
        .toEqual({ kind: "not_holder", epoch: 1, holder: "node-0" });
      const handed = await hand_over_lease(db.plane, hand);
      expect(handed.kind).toBe("handed_over");
      if (handed.kind === "handed_over") expect(handed.epoch).toBe(2);
      const after = await route(db.plane);
      expect([after.primary, after.epoch, after.first_sequence]).toEqual(["node-2", 2, 10]);
      expect(after.standbys).toEqual([
        { node: "node-0", in_sync: true }, { node: "node-1", in_sync: false },
      ]);
      const back = { ...hand, node: "node-2", epoch: 2, target: "node-0", target_disk: "disk-0-a" };
      expect(await hand_over_lease(db.plane, { ...back, first_sequence: 9 }))
        .toEqual({ kind: "sequence_behind", first_sequence: 10 });
      expect((await hand_over_lease(db.plane, back)).kind).toBe("handed_over");
      expect((await route(db.plane)).primary).toBe("node-0");
    }, TEST_TIMEOUT_MS);
});

describe("in-sync set", () => {
  test("only the holder at its epoch changes it; the holder stays; members only", async () => {
    const db = await cluster("in_sync", LEASE_LONG_MS);
    const change = { group: 0, node: "node-0", epoch: 1, member: "node-1" };
    const before = await lease_snapshot(db.plane, 0);
    expect(await add_in_sync(db.plane, { ...change, node: "node-1" }, "disk-1-a"))
      .toEqual({ kind: "not_holder", epoch: 1, holder: "node-0" });
    expect(await remove_in_sync(db.plane, { ...change, member: "node-0" }))
      .toEqual({ kind: "member_is_holder" });
    expect(await add_in_sync(db.plane, { ...change, member: "node-9" }, "disk-9-a"))
      .toEqual({ kind: "not_member" });
    expect(await lease_snapshot(db.plane, 0)).toEqual(before);
    expect(await add_in_sync(db.plane, change, "disk-1-a")).toEqual({
      kind: "in_sync_set",
      in_sync: [{ node: "node-0", disk: "disk-0-a" }, { node: "node-1", disk: "disk-1-a" }],
    });
    expect((await route(db.plane)).standbys[0]).toEqual({ node: "node-1", in_sync: true });
    expect(await add_in_sync(db.plane, change, "disk-1-b")).toEqual({
      kind: "in_sync_set",
      in_sync: [{ node: "node-0", disk: "disk-0-a" }, { node: "node-1", disk: "disk-1-b" }],
    });
    expect(await remove_in_sync(db.plane, change))
      .toEqual({ kind: "in_sync_set", in_sync: [{ node: "node-0", disk: "disk-0-a" }] });
    expect((await route(db.plane)).standbys[0]).toEqual({ node: "node-1", in_sync: false });
  }, TEST_TIMEOUT_MS);
});

describe("an unreachable database", () => {
  test("every operation answers unreachable (never deposed) when PostgreSQL is not there",
    async () => {
      const db = await cluster("unreachable", LEASE_LONG_MS);
      const away = open_control_plane({ database_url: "postgres://postgres@127.0.0.1:1/balance" });
      try {
        const change = { group: 0, node: "node-0", epoch: 1, member: "node-1" };
        const outcomes = await Promise.all([
          renew_lease(away, 0, "node-0", 1, LEASE_LONG_MS),
          take_over_lease(away, take_over("node-1")),
          add_in_sync(away, change, "disk-1-a"),
          remove_in_sync(away, change),
          read_routing_map(away),
        ]);
        for (const outcome of outcomes) expect(outcome.kind).toBe("unreachable");
      } finally {
        await away.close();
      }
      expect((await route(db.plane)).epoch).toBe(1);
    }, TEST_TIMEOUT_MS);

  test("a database that does not answer in time (row locked) is unreachable too", async () => {
    const db = await cluster("slow", LEASE_LONG_MS);
    const blocker = db.another();
    let release = () => {};
    let locked = () => {};
    const released = new Promise<void>((resolve) => { release = resolve; });
    const is_locked = new Promise<void>((resolve) => { locked = resolve; });
    const held = blocker.sql.begin(async (tx) => {
      await tx`select 1 from group_leases where group_id = 0 for update`;
      locked();
      await released;
    });
    await is_locked;
    try {
      const outcome = await renew_lease(db.plane, 0, "node-0", 1, LEASE_LONG_MS);
      expect(outcome.kind).toBe("unreachable");
    } finally {
      release();
      await held;
    }
    expect((await renew_lease(db.plane, 0, "node-0", 1, LEASE_LONG_MS)).kind).toBe("renewed");
  }, TEST_TIMEOUT_MS);
});
