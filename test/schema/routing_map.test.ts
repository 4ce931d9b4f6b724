// The routing map's wire shape (schema/routing_map.ts): a valid map parses to itself; every field
// of an untrusted map is checked and a bad one throws an Error naming it; every limit at its edge.
// The partner -> group function the router and the SDK share (common/partner_group.ts) keeps the
// router's hash, and a single node's map names itself as the primary of every group.

import { describe, expect, test } from "bun:test";
import {
  CLUSTER_NODES_MAX, EPOCH_MAX, GROUPS_MAX, NODE_ADDRESS_LENGTH_MAX, NODE_ID_LENGTH_MAX,
  PARTNER_ID_MAX, REPLICAS_MAX,
} from "../../common/constants.ts";
import { group_of_partner } from "../../common/partner_group.ts";
import { single_node_view } from "../../router/leadership.ts";
import { Partitioning } from "../../router/partition.ts";
import { merge_routing_maps, parse_routing_map, type RoutingMap } from "../../schema/routing_map.ts";

function valid_map(): RoutingMap {
  return {
    version: 1, groups: 2, group_map: [[7, 0], [8, 1]],
    nodes: [{ id: "a", http: "10.0.0.1:8080", tcp: "10.0.0.1:8090" },
      { id: "b", http: "node-b.local:8080", tcp: "node-b.local:8090" }],
    group_primaries: [
      { group: 0, epoch: 3, primary: "a", standbys: [{ node: "b", in_sync: true }] },
      { group: 1, epoch: EPOCH_MAX, primary: "b", standbys: [{ node: "a", in_sync: false }] },
    ],
  };
}

/** The map with one change, as untrusted JSON. */
function changed(change: (map: Record<string, any>) => void): unknown {
  const map = JSON.parse(JSON.stringify(valid_map()));
  change(map);
  return map;
}

function nodes_of(count: number) {
  return Array.from({ length: count }, (_, k) => ({ id: `n${k}`, http: "h:1", tcp: "h:2" }));
}

describe("parse_routing_map", () => {
  test("a valid map parses to itself, through JSON", () => {
    expect(parse_routing_map(JSON.parse(JSON.stringify(valid_map())))).toEqual(valid_map());
  });

  test("every bad field is refused with its name", () => {
    const cases: [(map: Record<string, any>) => void, string][] = [
      [(m) => { m.version = 2; }, "version"],
      [(m) => { m.groups = 0; }, "groups"],
      [(m) => { m.groups = 1.5; }, "groups"],
      [(m) => { m.group_map = {}; }, "group_map"],
      [(m) => { m.group_map = [[7]]; }, "group_map[0]"],
      [(m) => { m.group_map = [[0, 0]]; }, "group_map[0] partner"],
      [(m) => { m.group_map = [[7, 2]]; }, "group_map[0] group"],
      [(m) => { m.nodes = []; }, "no nodes"],
      [(m) => { m.nodes[1].id = "a"; }, "twice"],
      [(m) => { m.nodes[0].id = ""; }, "nodes[0].id"],
      [(m) => { m.nodes[0].http = "10.0.0.1"; }, "nodes[0].http"],
      [(m) => { m.nodes[0].tcp = "10.0.0.1:0"; }, "nodes[0].tcp"],
      [(m) => { m.nodes[0].tcp = "10.0.0.1:65536"; }, "nodes[0].tcp"],
      [(m) => { m.group_primaries.pop(); }, "1 group_primaries for 2 groups"],
      [(m) => { m.group_primaries.reverse(); }, "group_primaries[0].group"],
      [(m) => { m.group_primaries[0].epoch = -1; }, "group_primaries[0].epoch"],
      [(m) => { m.group_primaries[0].epoch = EPOCH_MAX + 1; }, "group_primaries[0].epoch"],
      [(m) => { m.group_primaries[0].primary = "z"; }, "group_primaries[0].primary"],
      [(m) => { m.group_primaries[0].standbys[0].node = "a"; }, "standbys[0]"],
      [(m) => { m.group_primaries[0].standbys[0].in_sync = "yes"; }, "in_sync"],
      [(m) => { m.group_primaries[1] = null; }, "group_primaries[1] not an object"],
    ];
    for (const [change, name] of cases) {
      expect(() => parse_routing_map(changed(change))).toThrow(name);
    }
    expect(() => parse_routing_map(null)).toThrow("the map not an object");
    expect(() => parse_routing_map([])).toThrow("the map not an object");
  });

  test("limits at their edges: groups, nodes, standbys, partner ids, id and address lengths",
    () => {
      const one_group = (groups: number) => changed((m) => {
        m.groups = groups;
        m.group_map = [];
        m.group_primaries = Array.from({ length: groups },
          (_, group) => ({ group, epoch: 1, primary: "a", standbys: [] }));
      });
      expect(parse_routing_map(one_group(GROUPS_MAX)).groups).toBe(GROUPS_MAX);
      expect(() => parse_routing_map(one_group(GROUPS_MAX + 1))).toThrow("groups");
      const with_nodes = (count: number) => changed((m) => {
        m.nodes = nodes_of(count);
        for (const group of m.group_primaries) {
          group.primary = "n0";
          group.standbys = [];
        }
      });
      expect(parse_routing_map(with_nodes(CLUSTER_NODES_MAX)).nodes.length).toBe(CLUSTER_NODES_MAX);
      expect(() => parse_routing_map(with_nodes(CLUSTER_NODES_MAX + 1))).toThrow("nodes");
      const with_standbys = (count: number) => changed((m) => {
        m.nodes = nodes_of(REPLICAS_MAX + 1);
        m.group_primaries[0].primary = "n0";
        m.group_primaries[1].primary = "n0";
        m.group_primaries[1].standbys = [];
        m.group_primaries[0].standbys = Array.from({ length: count },
          (_, k) => ({ node: `n${k + 1}`, in_sync: true }));
      });
      expect(parse_routing_map(with_standbys(REPLICAS_MAX - 1)).group_primaries[0]!.standbys)
        .toHaveLength(REPLICAS_MAX - 1);
      expect(() => parse_routing_map(with_standbys(REPLICAS_MAX))).toThrow("standbys");
      const pin = (partner: number) => changed((m) => { m.group_map = [[partner, 0]]; });
      expect(parse_routing_map(pin(PARTNER_ID_MAX)).group_map).toEqual([[PARTNER_ID_MAX, 0]]);
      expect(() => parse_routing_map(pin(PARTNER_ID_MAX + 1))).toThrow("partner");
      const named = (length: number) => changed((m) => {
        m.nodes[0].id = "a".repeat(length);
        m.group_primaries[0].primary = m.nodes[0].id;
        m.group_primaries[1].standbys = [];
      });
      expect(parse_routing_map(named(NODE_ID_LENGTH_MAX)).nodes[0]!.id)
        .toHaveLength(NODE_ID_LENGTH_MAX);
      expect(() => parse_routing_map(named(NODE_ID_LENGTH_MAX + 1))).toThrow("nodes[0].id");
      const addressed = (length: number) => changed((m) => {
        m.nodes[0].http = `${"h".repeat(length - 5)}:8080`;
      });
      expect(parse_routing_map(addressed(NODE_ADDRESS_LENGTH_MAX)).nodes[0]!.http)
        .toHaveLength(NODE_ADDRESS_LENGTH_MAX);
      expect(() => parse_routing_map(addressed(NODE_ADDRESS_LENGTH_MAX + 1)))
        .toThrow("nodes[0].http");
    });
});

describe("group_of_partner", () => {
  test("pinned partners first, the router's hash for the rest, the same in router and SDK", () => {
    const pinned = new Map([[7, 3], [8, 0]]);
    const partitioning = new Partitioning(5, 1, pinned);
    for (let partner = 1; partner <= 10_000; partner++) {
      expect(group_of_partner(partner, 5, pinned)).toBe(partitioning.group_of_partner(partner));
    }
    expect([group_of_partner(7, 5, pinned), group_of_partner(8, 5, pinned)]).toEqual([3, 0]);
    // The hash as it always was (a multiplicative hash): moving it would move every partner.
    expect([1, 2, 3, 1_000, PARTNER_ID_MAX].map((p) => group_of_partner(p, 7, new Map())))
      .toEqual([1, 2, 3, 1_000, PARTNER_ID_MAX]
        .map((p) => (Math.imul(p, 0x9e3779b1) >>> 0) % 7));
  });
});

describe("single_node_view", () => {
  test("one node, node id local, the primary of every group; its map parses", () => {
    const view = single_node_view("127.0.0.1:8080", "127.0.0.1:8090", 3, new Map([[9, 2], [4, 1]]));
    const map = parse_routing_map(JSON.parse(JSON.stringify(view.routing_map())));
    expect(map).toEqual({
      version: 1, groups: 3, group_map: [[4, 1], [9, 2]],
      nodes: [{ id: "local", http: "127.0.0.1:8080", tcp: "127.0.0.1:8090" }],
      group_primaries: [0, 1, 2].map((group) =>
        ({ group, epoch: 1, primary: "local", standbys: [] })),
    });
    expect([0, 1, 2].map((group) => view.leads(group))).toEqual([true, true, true]);
    expect(view.primary_of(2)).toEqual(map.nodes[0]!);
  });
});

describe("merge_routing_maps", () => {
  const node = (id: string, port: number) => ({ id, http: `127.0.0.1:${port}`,
    tcp: `127.0.0.1:${port + 1}` });
  const map = (epochs: [number, string][], nodes: { id: string; http: string; tcp: string }[])
    : RoutingMap => ({
    version: 1, groups: epochs.length, group_map: [[7, 0]], nodes,
    group_primaries: epochs.map(([epoch, primary], group) => ({ group, epoch, primary,
      standbys: [] })),
  });

  test("per group the highest epoch wins; every node named is kept", () => {
    // A node cut off from the control plane still names a for group 0 at epoch 3.
    const stale = map([[3, "a"], [5, "b"]], [node("a", 1000), node("b", 2000)]);
    const fresh = map([[4, "b"], [5, "b"]], [node("b", 2000), node("c", 3000)]);
    const merged = merge_routing_maps([stale, fresh]);
    expect(merged.group_primaries.map((g) => [g.epoch, g.primary])).toEqual([[4, "b"], [5, "b"]]);
    expect(merged.nodes.map((n) => n.id).sort()).toEqual(["a", "b", "c"]);
    expect(merge_routing_maps([fresh, stale])).toEqual({ ...merged, nodes: expect.any(Array) });
    expect(parse_routing_map(merged)).toEqual(merged);
  });

  test("nothing to merge, or maps of different GROUPS, are refused", () => {
    expect(() => merge_routing_maps([])).toThrow("nothing to merge");
    const one = map([[1, "a"]], [node("a", 1000)]);
    const two = map([[1, "a"], [1, "a"]], [node("a", 1000)]);
    expect(() => merge_routing_maps([one, two])).toThrow("maps disagree on groups");
  });
});
