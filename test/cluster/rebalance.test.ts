// Scaling with `bun run cluster -- rebalance` and `drain --node N` on real node processes under the
// SDK's steady load: two nodes lead six groups, a third node joins and the rebalance moves one group
// from each onto it (each leads two after); then node-3, leading one group and following another,
// is drained (it leads nothing and holds no copy after) and stopped. Every answered order is found exactly once with its sequence, and the
// moves met the load: a batch in flight when the tool began was answered after, and the nodes
// that handed groups over refused orders sent to them meanwhile (not_primary; the SDK resent
// them to the new primary).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RoutingMap } from "../../cluster/control_plane/routing_map.ts";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const GROUPS = 6;
// Partners of groups 0..3 carry the load; the plans move groups 0 and 1 (checked below).
const PARTNER_GROUPS = new Map([[7, 0], [8, 1], [9, 2], [10, 3]]);
const REPO_ROOT = `${import.meta.dir}/../..`;

let cluster: TestCluster;
let load: SteadyLoad;

beforeAll(async () => {
  cluster = await TestCluster.start("rebalance", {
    nodes: 2, groups: GROUPS, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:1,9:2,10:3",
  });
  load = new SteadyLoad(cluster, PARTNER_GROUPS);
  await load.start();
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  load?.close();
  await cluster?.stop();
});

interface PlannedLine {
  group: number;
  source: string;
  target: string;
}

/** The moves a plan printed ("  group G: SOURCE -> TARGET  kind, reason"). */
function planned_moves(out: string): PlannedLine[] {
  return [...out.matchAll(/^ {2}group (\d+): (\S+) -> (\S+) {2}/gm)].map((m) => ({
    group: Number(m[1]), source: m[2]!, target: m[3]! }));
}

function leads_of(map: RoutingMap): Record<string, number> {
  const leads: Record<string, number> = {};
  for (const id of map.nodes.keys()) leads[id] = 0;
  for (const route of map.groups) leads[route.primary]! += 1;
  return leads;
}

function members_of(map: RoutingMap, group: number): string[] {
  const route = map.groups.find((g) => g.group === group)!;
  return [route.primary, ...route.standbys.map((s) => s.node)];
}

/** Orders this node refused not_primary (sent for a group it did not lead) since it started. */
async function not_primary_count(id: string): Promise<number> {
  const text = await (await fetch(`${cluster.node(id).base_url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith('balance_orders_total{status="not_primary"} '));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

/** Waits for batches of `group` in flight, then runs the tool: when it began, and its answer. */
async function run_under_load(group: number, args: string[])
  : Promise<{ began_ms: number; code: number; out: string; err: string }> {
  await cluster.until(`batches of group ${group} in flight`,
    () => (load.in_flight.get(group) ?? 0) >= 2);
  const began_ms = performance.now();
  return { began_ms, ...await cluster.run_cli(args) };
}

/** The moves met the load: in flight when the tool began; sent to the sources meanwhile. */
async function check_moves_met_load(first_group: number, began_ms: number,
  refused_before: Map<string, number>): Promise<void> {
  await cluster.until(`a batch of group ${first_group} in flight when the tool began answered`,
    () => load.fault_hit_in_flight(first_group, began_ms, began_ms));
  for (const [source, before] of refused_before) {
    // The SDK learns a move only from a refusal: its next batch of the group goes to the source.
    await cluster.until(`${source} refused orders of a group it handed over`,
      async () => await not_primary_count(source) > before);
  }
}

describe("scaling: rebalance and drain", () => {
  test("a third node: rebalance spreads the groups under load, then plans nothing", async () => {
    expect(leads_of(await cluster.map())).toEqual({ "node-1": 3, "node-2": 3 });
    await cluster.add_node("node-3");
    await cluster.until("node-3 registered", async () => (await cluster.map()).nodes.has("node-3"));

    const dry = await cluster.run_cli(["rebalance", "--dry-run"]);
    expect(dry.err).toBe("");
    expect(dry.code).toBe(0);
    expect(dry.out).toContain("leads after: node-1 2, node-2 2, node-3 2");
    expect(dry.out).toContain("dry run: nothing moved");
    const planned = planned_moves(dry.out);
    expect(planned).toEqual([
      { group: 0, source: "node-1", target: "node-3" },
      { group: 1, source: "node-2", target: "node-3" },
    ]);
    expect(leads_of(await cluster.map())).toEqual({ "node-1": 3, "node-2": 3, "node-3": 0 });
    const epochs = (await cluster.map()).groups.map((g) => g.epoch);

    const refused_before = new Map<string, number>();
    for (const move of planned) refused_before.set(move.source, await not_primary_count(move.source));
    const run = await run_under_load(planned[0]!.group, ["rebalance"]);
    console.log(run.out);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    for (const move of planned) {
      expect(run.out).toContain(`group ${move.group}: moving ${move.source} -> node-3 (join)`);
      expect(run.out).toContain(`group ${move.group}: led by node-3`);
    }
    expect(run.out).toContain("done: leads node-1 2, node-2 2, node-3 2");

    // The control plane: each node leads two, and each node says so on its /metrics.
    const map = await cluster.map();
    expect(leads_of(map)).toEqual({ "node-1": 2, "node-2": 2, "node-3": 2 });
    for (const route of map.groups) expect(await cluster.leader_of(route.group)).toBe(route.primary);
    for (const move of planned) {
      // node-3 joined the group and the old primary left it: REPLICAS members, one per node.
      expect(members_of(map, move.group).sort()).toEqual(
        ["node-1", "node-2", "node-3"].filter((n) => n !== move.source));
      expect(map.groups[move.group]!.epoch).toBeGreaterThan(epochs[move.group]!);
    }
    await check_moves_met_load(planned[0]!.group, run.began_ms, refused_before);

    const again = await cluster.run_cli(["rebalance"]);
    expect(again.code).toBe(0);
    expect(again.out).toContain("plan: nothing to move");
    for (let group = 0; group < GROUPS; group++) await cluster.wait_in_sync(group);
    await load.stop();
    await load.check();
  }, 240_000);

  test("drain node-3 under load: no lead and no copy left on it; then it stops", async () => {
    load.resume();
    // node-3 hands group 0 back to node-2 and follows it: the drain has a lead and a copy to move.
    const moved = await cluster.run_cli(["move", "--group", "0", "--to", "node-2"]);
    expect(moved.code).toBe(0);
    expect(await cluster.leader_of(0)).toBe("node-2");
    const moved_ms = performance.now();
    // The SDK found group 0's new primary (node-3's refusal of it is counted before the drain).
    await cluster.until("group 0 answered after the move",
      () => load.first_answer_after(0, moved_ms) !== null);
    const dry = await cluster.run_cli(["drain", "--node", "node-3", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain("drain node-3");
    expect(dry.out).toContain("leads after: node-1 3, node-2 3, node-3 0");
    const planned = planned_moves(dry.out);
    expect(planned).toEqual([
      { group: 1, source: "node-3", target: "node-2" }, // its lead, to a node not a member
      { group: 0, source: "node-2", target: "node-3" }, // its copy: the group handed to it,
      { group: 0, source: "node-3", target: "node-1" }, // then on to a node not a member
    ]);

    const refused_before = new Map<string, number>();
    for (const source of ["node-2", "node-3"]) {
      refused_before.set(source, await not_primary_count(source));
    }
    const run = await run_under_load(planned[0]!.group, ["drain", "--node", "node-3"]);
    console.log(run.out);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain("done: leads node-1 3, node-2 3, node-3 0");

    const map = await cluster.map();
    expect(leads_of(map)).toEqual({ "node-1": 3, "node-2": 3, "node-3": 0 });
    for (const route of map.groups) {
      expect(members_of(map, route.group)).not.toContain("node-3"); // no copy left on it
      expect(members_of(map, route.group).length).toBe(2);
      expect(await cluster.leader_of(route.group)).toBe(route.primary);
    }
    await check_moves_met_load(planned[0]!.group, run.began_ms, refused_before);
    const again = await cluster.run_cli(["drain", "--node", "node-3"]);
    expect(again.code).toBe(0);
    expect(again.out).toContain("plan: nothing to move");

    // Scaling down: node-3 holds nothing, so stopping it changes no group; the load goes on.
    for (let group = 0; group < GROUPS; group++) await cluster.wait_in_sync(group);
    expect(await cluster.kill("node-3", "SIGTERM")).toBe(0);
    const stopped_ms = performance.now();
    for (const group of PARTNER_GROUPS.values()) {
      await cluster.until(`group ${group} answered after node-3 stopped`,
        () => load.first_answer_after(group, stopped_ms) !== null);
    }
    expect(leads_of(await cluster.map())).toEqual({ "node-1": 3, "node-2": 3, "node-3": 0 });
    await load.stop();
    await load.check();
  }, 240_000);
});
