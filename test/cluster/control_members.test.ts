// Growing a group onto a node it was not placed on (cluster/control_plane/members.ts): only the
// holder at its epoch adds a registered node, once; the handover with `leave` gives the new member
// the lease and takes the old holder out of the members and the in-sync set in one update.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ensure_services } from "../../harness/services.ts";
import { hand_over_lease } from "../../cluster/control_plane/handover.ts";
import { add_in_sync } from "../../cluster/control_plane/in_sync.ts";
import { read_lease } from "../../cluster/control_plane/lease.ts";
import { add_member, GROUP_MEMBERS_MAX } from "../../cluster/control_plane/members.ts";
import { register_node } from "../../cluster/control_plane/nodes.ts";
import {
  fresh_plane, LEASE_LONG_MS, lease_snapshot, node_registration, SERVICES_TIMEOUT_MS,
  small_cluster, TEST_TIMEOUT_MS, type TestPlane,
} from "./control_support.ts";

const planes: TestPlane[] = [];

beforeAll(async () => {
  await ensure_services();
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  for (const plane of planes) await plane.drop();
});

describe("members", () => {
  test("the holder adds a registered node once; anyone else, an unknown node: refused", async () => {
    const db = await fresh_plane("members");
    planes.push(db);
    await small_cluster(db, { groups: 1, replicas: 2, node_count: 2, lease_ms: LEASE_LONG_MS });
    expect(await add_member(db.plane, { group: 0, node: "node-0", epoch: 1, member: "node-5" }))
      .toEqual({ kind: "unknown_node" });
    const registered = await register_node(db.plane, node_registration(2));
    expect(registered.kind).toBe("registered");
    const before = await lease_snapshot(db.plane, 0);
    expect(await add_member(db.plane, { group: 0, node: "node-1", epoch: 1, member: "node-2" }))
      .toEqual({ kind: "not_holder", epoch: 1, holder: "node-0" });
    expect(await add_member(db.plane, { group: 0, node: "node-0", epoch: 1, member: "node-1" }))
      .toEqual({ kind: "already_member" });
    expect(await lease_snapshot(db.plane, 0)).toEqual(before);
    expect(await add_member(db.plane, { group: 0, node: "node-0", epoch: 1, member: "node-2" }))
      .toEqual({ kind: "members", members: ["node-0", "node-1", "node-2"] });
    expect(GROUP_MEMBERS_MAX).toBeGreaterThan(3);
    // Recorded in sync once caught up, it takes the lease; the old holder leaves.
    const in_sync = await add_in_sync(db.plane,
      { group: 0, node: "node-0", epoch: 1, member: "node-2" }, "disk-2-a");
    expect(in_sync.kind).toBe("in_sync_set");
    const handed = await hand_over_lease(db.plane, { group: 0, node: "node-0", epoch: 1,
      target: "node-2", target_disk: "disk-2-a", first_sequence: 5, lease_ms: LEASE_LONG_MS,
      leave: true });
    expect(handed.kind).toBe("handed_over");
    const lease = await read_lease(db.plane, 0);
    expect([lease.holder, lease.epoch, lease.members]).toEqual(["node-2", 2, ["node-1", "node-2"]]);
    expect(lease.in_sync.map((m) => m.node)).toEqual(["node-2"]);
    // The old holder, at its old epoch, can add nobody any more.
    expect(await add_member(db.plane, { group: 0, node: "node-0", epoch: 1, member: "node-0" }))
      .toEqual({ kind: "deposed", epoch: 2, holder: "node-2" });
  }, TEST_TIMEOUT_MS);
});
