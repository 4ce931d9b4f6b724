// The initial placement on the real PostgreSQL: each group a primary and REPLICAS - 1 standbys on
// other nodes, primaries spread evenly, one transaction, idempotent (also when run at once from
// several connections), and the routing map shows it with every node's addresses.

import { afterEach, describe, expect, test } from "bun:test";
import { members_of, place_groups } from "../../cluster/control_plane/placement.ts";
import { register_node } from "../../cluster/control_plane/nodes.ts";
import { read_routing_map, type RoutingMap } from "../../cluster/control_plane/routing_map.ts";
import { adopt_settings } from "../../cluster/control_plane/settings.ts";
import {
  fresh_plane, LEASE_LONG_MS, node_registration, TEST_TIMEOUT_MS, type TestPlane,
} from "./control_support.ts";

const dropped: TestPlane[] = [];

afterEach(async () => {
  while (dropped.length > 0) await dropped.pop()!.drop();
});

async function plane_with_nodes(label: string, groups: number, replicas: number,
  node_count: number): Promise<TestPlane> {
  const db = await fresh_plane(label);
  dropped.push(db);
  expect((await adopt_settings(db.plane, { groups, replicas, partner_map: new Map() })).kind)
    .toBe("adopted");
  for (let i = 0; i < node_count; i++) await register_node(db.plane, node_registration(i));
  return db;
}

async function map_of(db: TestPlane): Promise<RoutingMap> {
  const outcome = await read_routing_map(db.plane);
  if (outcome.kind !== "map") throw new Error(`routing map: ${outcome.kind}`);
  return outcome.map;
}

describe("placement", () => {
  test("refused before the settings and with fewer nodes than replicas", async () => {
    const db = await fresh_plane("place_refused");
    dropped.push(db);
    expect(await place_groups(db.plane, LEASE_LONG_MS)).toEqual({ kind: "not_initialised" });
    expect(await read_routing_map(db.plane)).toEqual({ kind: "not_initialised" });
    await adopt_settings(db.plane, { groups: 4, replicas: 3, partner_map: new Map() });
    await register_node(db.plane, node_registration(0));
    await register_node(db.plane, node_registration(1));
    expect(await place_groups(db.plane, LEASE_LONG_MS))
      .toEqual({ kind: "too_few_nodes", node_count: 2, replicas: 3 });
    expect((await map_of(db)).groups).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("primaries spread evenly, standbys on other nodes, only the primary in sync", async () => {
    const db = await plane_with_nodes("place_spread", 12, 2, 3);
    expect(await place_groups(db.plane, LEASE_LONG_MS))
      .toEqual({ kind: "placed", placed_count: 12 });
    const map = await map_of(db);
    expect(map.groups.map((route) => route.group)).toEqual([...Array(12).keys()]);
    const primaries = new Map<string, number>();
    for (const route of map.groups) {
      primaries.set(route.primary, (primaries.get(route.primary) ?? 0) + 1);
      expect(route.epoch).toBe(1);
      expect(route.first_sequence).toBe(1);
      expect(route.standbys.length).toBe(1);
      expect(route.standbys[0]!.node).not.toBe(route.primary);
      expect(route.standbys[0]!.in_sync).toBe(false);
      expect(route.expires_at.getTime()).toBeGreaterThan(map.db_now.getTime());
    }
    expect([...primaries.values()]).toEqual([4, 4, 4]);
    expect(map.nodes.get("node-2")!.replication_address).toBe("127.0.0.1:20002");
    expect(map.settings.groups).toBe(12);
  }, TEST_TIMEOUT_MS);

  test("REPLICAS = 3 over 4 nodes: three distinct members per group", () => {
    const nodes = ["a", "b", "c", "d"];
    const counts = new Map<string, number>();
    for (let group = 0; group < 10; group++) {
      const members = members_of(group, nodes, 3);
      expect(new Set(members).size).toBe(3);
      counts.set(members[0]!, (counts.get(members[0]!) ?? 0) + 1);
    }
    expect([...counts.values()].sort()).toEqual([2, 2, 3, 3]);
  });

  test("idempotent: again, and from several connections at once, each group placed once",
    async () => {
      const db = await plane_with_nodes("place_again", 6, 2, 2);
      const outcomes = await Promise.all([db.plane, db.another(), db.another()]
        .map((plane) => place_groups(plane, LEASE_LONG_MS)));
      const counts = outcomes
        .map((outcome) => outcome.kind === "placed" ? outcome.placed_count : -1);
      expect(counts.sort()).toEqual([0, 0, 6]);
      const before = await map_of(db);
      await register_node(db.plane, node_registration(5));
      expect(await place_groups(db.plane, LEASE_LONG_MS))
        .toEqual({ kind: "placed", placed_count: 0 });
      const after = await map_of(db);
      expect(after.groups.map((route) => [route.primary, route.standbys]))
        .toEqual(before.groups.map((route) => [route.primary, route.standbys]));
      expect(after.nodes.size).toBe(3);
    }, TEST_TIMEOUT_MS);
});
