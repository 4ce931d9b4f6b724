// The plans of `cluster rebalance` and `cluster drain` (cluster/cli/rebalance_plan.ts), pure: an
// even spread with the fewest moves (checked against every choice of which nodes lead one more),
// in-sync standbys preferred as targets, never a node that is not alive, nothing planned twice, and
// a drained node left with no lead and no copy. The plans are applied here as the node makes the
// moves (a handover swaps primary and standby; a join adds the target and drops the old primary).

import { describe, expect, test } from "bun:test";
import {
  plan_drain, plan_rebalance, type PlanGroup, type PlanInput, type PlannedMove,
} from "../../cluster/cli/rebalance_plan.ts";
import { Prng } from "../../common/prng.ts";

function node_ids(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i + 1}`);
}

/** Groups placed as the control plane places them: members (g + i) mod n, all in sync. */
function placed(nodes: string[], groups: number, replicas: number): PlanGroup[] {
  return Array.from({ length: groups }, (_, g) => ({
    group: g, primary: nodes[g % nodes.length]!,
    standbys: Array.from({ length: replicas - 1 }, (_, i) => ({
      node: nodes[(g + i + 1) % nodes.length]!, in_sync: true })),
  }));
}

function input_of(alive: string[], groups: PlanGroup[], dead: string[] = []): PlanInput {
  return { nodes: [...alive.map((node) => ({ node, alive: true })),
    ...dead.map((node) => ({ node, alive: false }))], groups };
}

/** The groups after the moves, made one by one as the node makes them. */
function applied(groups: PlanGroup[], moves: PlannedMove[]): PlanGroup[] {
  const state = structuredClone(groups);
  for (const move of moves) {
    const group = state.find((g) => g.group === move.group)!;
    expect(group.primary).toBe(move.source);
    const standby = group.standbys.find((s) => s.node === move.target);
    if (move.kind === "join") {
      expect(standby).toBeUndefined();
    } else {
      expect(standby).toBeDefined();
      expect(standby!.in_sync).toBe(move.kind === "handover");
      group.standbys = group.standbys.map((s) => s.node === move.target
        ? { node: move.source, in_sync: true } : s);
    }
    group.primary = move.target;
  }
  return state;
}

function leads(groups: PlanGroup[], nodes: string[]): number[] {
  return nodes.map((node) => groups.filter((g) => g.primary === node).length);
}

/** The fewest moves to an even spread: the best choice of which nodes lead one more. */
function fewest_moves(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const floor = Math.floor(total / counts.length);
  const extra = total % counts.length;
  let best = Number.POSITIVE_INFINITY;
  for (let mask = 0; mask < 1 << counts.length; mask++) {
    let bits = 0;
    for (let i = 0; i < counts.length; i++) bits += (mask >> i) & 1;
    if (bits !== extra) continue;
    let moves = 0;
    counts.forEach((count, i) => (moves += Math.max(0, count - floor - ((mask >> i) & 1))));
    best = Math.min(best, moves);
  }
  return best;
}

/** The project's seeded PRNG (mulberry32) as a function: the same cases every run. */
function prng(seed: number): () => number {
  const generator = new Prng(seed);
  return () => generator.next_float();
}

function random_cluster(random: () => number): { alive: string[]; dead: string[];
  groups: PlanGroup[] } {
  const nodes = node_ids(2 + Math.floor(random() * 5));
  const dead = nodes.filter(() => random() < 0.15);
  const replicas = 1 + Math.floor(random() * Math.min(3, nodes.length));
  const groups = Array.from({ length: 1 + Math.floor(random() * 12) }, (_, g) => {
    const shuffled = [...nodes].sort(() => random() - 0.5).slice(0, replicas);
    return { group: g, primary: shuffled[0]!,
      standbys: shuffled.slice(1).map((node) => ({ node, in_sync: random() < 0.7 })) };
  });
  return { alive: nodes.filter((n) => !dead.includes(n)), dead, groups };
}

describe("rebalance plan", () => {
  test("a balanced cluster: nothing to move", () => {
    const nodes = node_ids(3);
    const plan = plan_rebalance(input_of(nodes, placed(nodes, 6, 2)));
    expect(plan.moves).toEqual([]);
    expect([...plan.leads_after.values()]).toEqual([2, 2, 2]);
  });

  test("a third node: one group from each full node joins it, then nothing more", () => {
    const two = node_ids(2);
    const groups = placed(two, 6, 2);
    const nodes = node_ids(3);
    const plan = plan_rebalance(input_of(nodes, groups));
    expect(plan.moves).toEqual([
      { group: 0, source: "node-1", target: "node-3", kind: "join", reason: "spread" },
      { group: 1, source: "node-2", target: "node-3", kind: "join", reason: "spread" },
    ]);
    const after = applied(groups, plan.moves);
    expect(leads(after, nodes)).toEqual([2, 2, 2]);
    expect(after[0]!.standbys.map((s) => s.node)).toEqual(["node-2"]); // node-1 left group 0
    expect(plan_rebalance(input_of(nodes, after)).moves).toEqual([]);
  });

  test("an in-sync standby is preferred to a standby behind and to a new member", () => {
    const nodes = node_ids(3);
    const groups: PlanGroup[] = [
      { group: 0, primary: "node-1", standbys: [{ node: "node-2", in_sync: false }] },
      { group: 1, primary: "node-1", standbys: [{ node: "node-3", in_sync: true }] },
      { group: 2, primary: "node-1", standbys: [{ node: "node-2", in_sync: true }] },
      { group: 3, primary: "node-1", standbys: [{ node: "node-2", in_sync: true }] },
      { group: 4, primary: "node-2", standbys: [{ node: "node-1", in_sync: true }] },
      { group: 5, primary: "node-3", standbys: [{ node: "node-1", in_sync: true }] },
    ];
    const plan = plan_rebalance(input_of(nodes, groups));
    expect(plan.moves).toEqual([
      { group: 1, source: "node-1", target: "node-3", kind: "handover", reason: "spread" },
      { group: 2, source: "node-1", target: "node-2", kind: "handover", reason: "spread" },
    ]);
  });

  test("a standby behind before a new member; a new member when no standby is below its share",
    () => {
      const nodes = node_ids(2);
      const behind: PlanGroup[] = [
        { group: 0, primary: "node-1", standbys: [{ node: "node-2", in_sync: false }] },
        { group: 1, primary: "node-1", standbys: [] },
      ];
      expect(plan_rebalance(input_of(nodes, behind)).moves).toEqual([
        { group: 0, source: "node-1", target: "node-2", kind: "catch_up", reason: "spread" }]);
      const alone: PlanGroup[] = [
        { group: 0, primary: "node-1", standbys: [] },
        { group: 1, primary: "node-1", standbys: [] },
      ];
      expect(plan_rebalance(input_of(nodes, alone)).moves).toEqual([
        { group: 0, source: "node-1", target: "node-2", kind: "join", reason: "spread" }]);
    });

  test("never to a node that is not alive; a dead primary's group is left to fail over", () => {
    const groups = placed(node_ids(2), 4, 2);
    groups.push({ group: 4, primary: "node-3", standbys: [{ node: "node-1", in_sync: true }] });
    const plan = plan_rebalance(input_of(["node-1", "node-2"], groups, ["node-3"]));
    expect(plan.moves).toEqual([]);
    expect(plan.notes).toEqual(["group 4: its primary node-3 is not alive; left to fail over, " +
      "not moved"]);
    expect([...plan.leads_after.keys()]).toEqual(["node-1", "node-2"]);
    const lopsided = groups.map((g) => g.group < 4 ? { ...g, primary: "node-1",
      standbys: [{ node: "node-3", in_sync: true }] } : g);
    const moves = plan_rebalance(input_of(["node-1", "node-2"], lopsided, ["node-3"])).moves;
    expect(moves.map((m) => m.target)).toEqual(["node-2", "node-2"]);
  });

  test("random clusters: even, fewest moves, alive targets, nothing planned twice", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const random = prng(seed);
      const { alive, dead, groups } = random_cluster(random);
      if (alive.length === 0) continue;
      const plan = plan_rebalance(input_of(alive, groups, dead));
      const movable = groups.filter((g) => alive.includes(g.primary)).length;
      const before = leads(groups, alive);
      const after = applied(groups, plan.moves);
      const counts = leads(after, alive);
      const floor = Math.floor(movable / alive.length);
      const label = `seed ${seed}`;
      for (const count of counts) expect(count === floor || count === floor + 1, label).toBe(true);
      expect(plan.moves.length, label).toBe(fewest_moves(before));
      for (const move of plan.moves) expect(alive.includes(move.target), label).toBe(true);
      expect([...plan.leads_after.values()], label).toEqual(counts);
      expect(plan_rebalance(input_of(alive, after, dead)).moves, label).toEqual([]);
    }
  });
});

describe("drain plan", () => {
  test("a node's leads and copies go to nodes that were not members; the rest stay even", () => {
    const nodes = node_ids(3);
    const groups = placed(nodes, 6, 2); // node-3 leads 2 and 5, follows 1 and 4
    const plan = plan_drain(input_of(nodes, groups), "node-3");
    const after = applied(groups, plan.moves);
    for (const group of after) {
      expect(group.primary).not.toBe("node-3");
      expect(group.standbys.map((s) => s.node)).not.toContain("node-3");
      expect(group.standbys.length).toBe(1); // REPLICAS members stay
    }
    expect(leads(after, ["node-1", "node-2"])).toEqual([3, 3]);
    expect(plan.moves.filter((m) => m.reason === "drain_lead").map((m) => m.group)).toEqual([2, 5]);
    // A copy leaves in two moves: handed to node-3, then from node-3 to a new member.
    expect(plan.moves.filter((m) => m.reason === "drain_copy")).toEqual([
      { group: 1, source: "node-2", target: "node-3", kind: "handover", reason: "drain_copy" },
      { group: 1, source: "node-3", target: "node-1", kind: "join", reason: "drain_copy" },
      { group: 4, source: "node-2", target: "node-3", kind: "handover", reason: "drain_copy" },
      { group: 4, source: "node-3", target: "node-1", kind: "join", reason: "drain_copy" },
    ]);
    expect([...plan.leads_after]).toEqual([["node-1", 3], ["node-2", 3], ["node-3", 0]]);
    expect(plan_drain(input_of(nodes, after), "node-3").moves).toEqual([]);
  });

  test("every other node a member already: the leads go to in-sync standbys, copies stay", () => {
    const nodes = node_ids(2);
    const groups = placed(nodes, 4, 2);
    const plan = plan_drain(input_of(nodes, groups), "node-2");
    expect(plan.moves).toEqual([
      { group: 1, source: "node-2", target: "node-1", kind: "handover", reason: "drain_lead" },
      { group: 3, source: "node-2", target: "node-1", kind: "handover", reason: "drain_lead" },
    ]);
    expect(plan.notes).toEqual([0, 1, 2, 3].map((g) => `group ${g}: every other alive node ` +
      "is a member, so node-2 keeps its copy"));
    const after = applied(groups, plan.moves);
    expect(leads(after, nodes)).toEqual([4, 0]);
    expect(plan_drain(input_of(nodes, after), "node-2").moves).toEqual([]);
  });

  test("random clusters: the drained node leads nothing, every target alive", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const { alive, dead, groups } = random_cluster(random);
      if (alive.length < 2) continue;
      const draining = alive[Math.floor(random() * alive.length)]!;
      const plan = plan_drain(input_of(alive, groups, dead), draining);
      const after = applied(groups, plan.moves);
      const label = `seed ${seed}`;
      expect(after.filter((g) => g.primary === draining).length, label).toBe(0);
      for (const move of plan.moves) expect(alive.includes(move.target), label).toBe(true);
      const kept = after.filter((g) => g.standbys.some((s) => s.node === draining));
      const others = alive.filter((n) => n !== draining);
      for (const group of kept) {
        // A copy stays only where every other alive node is a member already.
        const members = [group.primary, ...group.standbys.map((s) => s.node)];
        expect(others.every((n) => members.includes(n)) || !alive.includes(group.primary),
          label).toBe(true);
      }
      expect(plan_drain(input_of(alive, after, dead), draining).moves, label).toEqual([]);
    }
  });
});
