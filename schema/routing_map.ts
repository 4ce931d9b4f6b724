// The routing map on the wire (GET /cluster/map, TCP RoutingMapReply): the cluster's partner ->
// group settings, every node's addresses, and per group its epoch, primary and standbys. The
// server, the SDK and the cluster share this shape; parse_routing_map checks every field of an
// untrusted map, so a client never routes by a map that contradicts itself.

import {
  CLUSTER_NODES_MAX, EPOCH_MAX, GROUPS_MAX, NODE_ADDRESS_LENGTH_MAX, NODE_ID_LENGTH_MAX,
  PARTNER_ID_MAX, REPLICAS_MAX,
} from "../common/constants.ts";
import { group_of_partner } from "../common/partner_group.ts";

export const ROUTING_MAP_VERSION = 1;

/** A node's advertised addresses, host:port each. */
export interface RoutingMapNode { id: string; http: string; tcp: string }

export interface RoutingMapGroup {
  group: number;
  epoch: number;
  /** The node id of the group's primary. */
  primary: string;
  standbys: { node: string; in_sync: boolean }[];
}

export interface RoutingMap {
  version: 1;
  groups: number;
  /** Pinned partner -> group pairs (GROUP_MAP); other partners hash (common/partner_group.ts). */
  group_map: [number, number][];
  nodes: RoutingMapNode[];
  /** One entry per group, by group id ascending. */
  group_primaries: RoutingMapGroup[];
}

function fail(what: string): never {
  throw new Error(`routing map: ${what}`);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(`${what} not an object`);
  }
  return value as Record<string, unknown>;
}

function array(value: unknown, what: string, length_max: number): unknown[] {
  if (!Array.isArray(value)) fail(`${what} not an array`);
  if (value.length > length_max) fail(`${what} has ${value.length} entries, over ${length_max}`);
  return value;
}

function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(`${what} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function text(value: unknown, what: string, length_max: number): string {
  if (typeof value !== "string" || value.length === 0 || value.length > length_max) {
    fail(`${what} must be a string of 1..${length_max} characters`);
  }
  return value;
}

function address(value: unknown, what: string): string {
  const host_port = text(value, what, NODE_ADDRESS_LENGTH_MAX);
  const match = /^(.+):(\d{1,5})$/.exec(host_port);
  if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    fail(`${what} "${host_port}" is not host:port`);
  }
  return host_port;
}

function parse_node(value: unknown, index: number): RoutingMapNode {
  const node = record(value, `nodes[${index}]`);
  return {
    id: text(node.id, `nodes[${index}].id`, NODE_ID_LENGTH_MAX),
    http: address(node.http, `nodes[${index}].http`),
    tcp: address(node.tcp, `nodes[${index}].tcp`),
  };
}

function parse_pin(value: unknown, index: number, groups: number): [number, number] {
  const pair = array(value, `group_map[${index}]`, 2);
  if (pair.length !== 2) fail(`group_map[${index}] is not [partner, group]`);
  return [integer(pair[0], `group_map[${index}] partner`, 1, PARTNER_ID_MAX),
    integer(pair[1], `group_map[${index}] group`, 0, groups - 1)];
}

function parse_group(value: unknown, index: number, node_ids: ReadonlySet<string>)
  : RoutingMapGroup {
  const what = `group_primaries[${index}]`;
  const entry = record(value, what);
  const group = integer(entry.group, `${what}.group`, index, index); // one per group, in order
  const epoch = integer(entry.epoch, `${what}.epoch`, 0, EPOCH_MAX);
  const primary = text(entry.primary, `${what}.primary`, NODE_ID_LENGTH_MAX);
  if (!node_ids.has(primary)) fail(`${what}.primary "${primary}" is not among the nodes`);
  const standbys = array(entry.standbys, `${what}.standbys`, REPLICAS_MAX - 1).map((raw, k) => {
    const standby = record(raw, `${what}.standbys[${k}]`);
    const node = text(standby.node, `${what}.standbys[${k}].node`, NODE_ID_LENGTH_MAX);
    if (!node_ids.has(node) || node === primary) fail(`${what}.standbys[${k}] "${node}"`);
    if (typeof standby.in_sync !== "boolean") fail(`${what}.standbys[${k}].in_sync not a boolean`);
    return { node, in_sync: standby.in_sync };
  });
  return { group, epoch, primary, standbys };
}

/** A map from untrusted JSON (already parsed), every field checked; throws an Error naming it. */
export function parse_routing_map(json: unknown): RoutingMap {
  const map = record(json, "the map");
  if (map.version !== ROUTING_MAP_VERSION) fail(`version ${JSON.stringify(map.version)}, not 1`);
  const groups = integer(map.groups, "groups", 1, GROUPS_MAX);
  const group_map = array(map.group_map, "group_map", PARTNER_ID_MAX)
    .map((pin, index) => parse_pin(pin, index, groups));
  const nodes = array(map.nodes, "nodes", CLUSTER_NODES_MAX).map(parse_node);
  if (nodes.length === 0) fail("no nodes");
  const node_ids = new Set(nodes.map((node) => node.id));
  if (node_ids.size !== nodes.length) fail("a node id appears twice");
  const group_primaries = array(map.group_primaries, "group_primaries", GROUPS_MAX)
    .map((group, index) => parse_group(group, index, node_ids));
  if (group_primaries.length !== groups) {
    fail(`${group_primaries.length} group_primaries for ${groups} groups`);
  }
  return { version: ROUTING_MAP_VERSION, groups, group_map, nodes, group_primaries };
}

/**
 * Maps read from several nodes, merged: per group the entry of the highest epoch (a node cut off
 * from the control plane serves the map it last read, which may name a primary since deposed), and
 * every node any of them names. All maps share the cluster's settings (GROUPS, the partner map).
 */
export function merge_routing_maps(maps: readonly RoutingMap[]): RoutingMap {
  if (maps.length === 0) fail("nothing to merge");
  const first = maps[0]!;
  const nodes = new Map<string, RoutingMapNode>();
  const group_primaries = first.group_primaries.map((group) => ({ ...group }));
  for (const map of maps) {
    if (map.groups !== first.groups) fail(`maps disagree on groups: ${map.groups}, ${first.groups}`);
    for (const node of map.nodes) nodes.set(node.id, node);
    map.group_primaries.forEach((group, index) => {
      if (group.epoch > group_primaries[index]!.epoch) group_primaries[index] = { ...group };
    });
  }
  return { version: ROUTING_MAP_VERSION, groups: first.groups, group_map: first.group_map,
    nodes: [...nodes.values()], group_primaries };
}

/**
 * A map as a client routes by it (the SDK and the load generator): partner -> group -> the
 * primary's address on one wire.
 */
export class RoutingTable {
  private readonly pinned: Map<number, number>;
  private readonly primaries: string[];
  /** Every node's address on the wire, in the map's order. */
  readonly addresses: string[];

  constructor(readonly map: RoutingMap, scheme: "tcp" | "http") {
    this.pinned = new Map(map.group_map);
    const address_of = new Map(map.nodes.map((node) => [node.id, node[scheme]]));
    this.primaries = map.group_primaries.map((group) => address_of.get(group.primary)!);
    this.addresses = map.nodes.map((node) => node[scheme]);
  }

  address_of_partner(partner: number): string {
    return this.primaries[group_of_partner(partner, this.map.groups, this.pinned)]!;
  }
}
