// The cluster-wide settings and node registration on the real PostgreSQL: the first node stores
// GROUPS, REPLICAS and the partner map, a node that agrees is adopted, one that disagrees is
// refused with what differs and changes nothing; nodes register and heartbeat on database time;
// every input limit is taken at its edge and refused past it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AssertionError } from "../../common/assert.ts";
import {
  DISK_ID_LENGTH_MAX, GROUPS_MAX, LEASE_MS_MAX, LEASE_MS_MIN, NODE_ADDRESS_LENGTH_MAX,
  NODE_ID_LENGTH_MAX, PARTNER_ID_MAX, REPLICAS_MAX,
} from "../../common/constants.ts";
import {
  address_problem, disk_id_problem, lease_ms_problem, node_id_problem, settings_problem,
} from "../../cluster/control_plane/inputs.ts";
import { heartbeat_node, register_node } from "../../cluster/control_plane/nodes.ts";
import { adopt_settings, read_settings } from "../../cluster/control_plane/settings.ts";
import {
  fresh_plane, node_registration, SERVICES_TIMEOUT_MS, TEST_TIMEOUT_MS, type TestPlane,
} from "./control_support.ts";

let db: TestPlane;

beforeAll(async () => {
  db = await fresh_plane("settings");
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await db.drop();
});

const LOCAL = { groups: 8, replicas: 2, partner_map: new Map([[7, 0], [3, 5]]) };

describe("cluster settings", () => {
  test("stored by the first node, adopted by one that agrees, refused when any differs",
    async () => {
      expect(await read_settings(db.plane)).toEqual({ kind: "not_initialised" });
      expect(await adopt_settings(db.plane, LOCAL)).toEqual({ kind: "adopted", created: true });
      const same_order_changed = { ...LOCAL, partner_map: new Map([[3, 5], [7, 0]]) };
      expect(await adopt_settings(db.another(), same_order_changed))
        .toEqual({ kind: "adopted", created: false });
      const disagreeing = [
        { ...LOCAL, groups: 9 },
        { ...LOCAL, replicas: 3 },
        { ...LOCAL, partner_map: new Map([[7, 1], [3, 5]]) },
        { ...LOCAL, partner_map: new Map([[7, 0]]) },
      ];
      for (const local of disagreeing) {
        const outcome = await adopt_settings(db.plane, local);
        expect(outcome.kind).toBe("settings_differ");
        if (outcome.kind === "settings_differ") expect(outcome.differences.length).toBe(1);
      }
      const read = await read_settings(db.plane);
      expect(read).toEqual({ kind: "settings", settings: LOCAL });
    }, TEST_TIMEOUT_MS);

  test("every difference is named", async () => {
    const outcome = await adopt_settings(db.plane,
      { groups: 16, replicas: 3, partner_map: new Map() });
    expect(outcome.kind).toBe("settings_differ");
    if (outcome.kind !== "settings_differ") return;
    expect(outcome.differences).toEqual([
      "GROUPS is 16 here, 8 in the cluster",
      "REPLICAS is 3 here, 2 in the cluster",
      'GROUP_MAP is [] here, [[3,5],[7,0]] in the cluster',
    ]);
  }, TEST_TIMEOUT_MS);
});

describe("nodes", () => {
  test("register, re-register with a new disk, heartbeat on the database's clock", async () => {
    const first = await register_node(db.plane, node_registration(1));
    expect(first.kind).toBe("registered");
    const again = await register_node(db.plane, node_registration(1, "disk-1-b"));
    expect(again.kind).toBe("registered");
    const rows = await db.plane.sql`select disk_id, tcp_address from nodes`;
    expect([...rows]).toEqual([{ disk_id: "disk-1-b", tcp_address: "127.0.0.1:19001" }]);
    const heard = await heartbeat_node(db.plane, "node-1");
    expect(heard.kind).toBe("heard");
    const db_now = (await db.plane.sql`select now() as now`)[0]!.now as Date;
    if (heard.kind === "heard" && first.kind === "registered") {
      expect(heard.heartbeat_at.getTime()).toBeGreaterThanOrEqual(first.heartbeat_at.getTime());
      expect(heard.heartbeat_at.getTime()).toBeLessThanOrEqual(db_now.getTime());
    }
    expect(await heartbeat_node(db.plane, "node-9")).toEqual({ kind: "unknown_node" });
  }, TEST_TIMEOUT_MS);

  test("a bad registration is refused before anything is written", async () => {
    const bad = { ...node_registration(2), tcp_address: "no-port" };
    await expect(register_node(db.plane, bad)).rejects.toThrow(AssertionError);
    const rows = await db.plane.sql`select node_id from nodes where node_id = 'node-2'`;
    expect(rows.length).toBe(0);
  }, TEST_TIMEOUT_MS);
});

describe("input limits at their edges", () => {
  test("node id, disk id, address", () => {
    expect(node_id_problem("n".repeat(NODE_ID_LENGTH_MAX))).toBeNull();
    expect(node_id_problem("n".repeat(NODE_ID_LENGTH_MAX + 1))).not.toBeNull();
    expect(node_id_problem("")).not.toBeNull();
    expect(node_id_problem("-node")).not.toBeNull();
    expect(node_id_problem("Node")).not.toBeNull();
    expect(disk_id_problem("d".repeat(DISK_ID_LENGTH_MAX))).toBeNull();
    expect(disk_id_problem("d".repeat(DISK_ID_LENGTH_MAX + 1))).not.toBeNull();
    const host_at_edge = "h".repeat(NODE_ADDRESS_LENGTH_MAX - ":65535".length);
    expect(address_problem(`${host_at_edge}:65535`)).toBeNull();
    expect(address_problem(`${host_at_edge}h:65535`)).not.toBeNull();
    expect(address_problem("host:65536")).not.toBeNull();
    expect(address_problem("host:0")).not.toBeNull();
    expect(address_problem("[::1]:1")).toBeNull();
  });

  test("groups, replicas, partner map, lease", () => {
    const ok = { groups: GROUPS_MAX, replicas: REPLICAS_MAX, partner_map: new Map() };
    expect(settings_problem(ok)).toBeNull();
    expect(settings_problem({ ...ok, groups: GROUPS_MAX + 1 })).not.toBeNull();
    expect(settings_problem({ ...ok, groups: 0 })).not.toBeNull();
    expect(settings_problem({ ...ok, replicas: REPLICAS_MAX + 1 })).not.toBeNull();
    expect(settings_problem({ ...ok, replicas: 0 })).not.toBeNull();
    const edge_map = new Map([[PARTNER_ID_MAX, GROUPS_MAX - 1]]);
    expect(settings_problem({ ...ok, partner_map: edge_map })).toBeNull();
    expect(settings_problem({ ...ok, partner_map: new Map([[PARTNER_ID_MAX + 1, 0]]) }))
      .not.toBeNull();
    expect(settings_problem({ ...ok, partner_map: new Map([[0, 0]]) })).not.toBeNull();
    expect(settings_problem({ ...ok, partner_map: new Map([[1, GROUPS_MAX]]) })).not.toBeNull();
    expect(lease_ms_problem(LEASE_MS_MIN)).toBeNull();
    expect(lease_ms_problem(LEASE_MS_MAX)).toBeNull();
    expect(lease_ms_problem(LEASE_MS_MIN - 1)).not.toBeNull();
    expect(lease_ms_problem(LEASE_MS_MAX + 1)).not.toBeNull();
    expect(lease_ms_problem(150.5)).not.toBeNull();
  });
});
