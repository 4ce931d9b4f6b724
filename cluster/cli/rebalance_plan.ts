// The plans of `cluster rebalance` and `cluster drain` (docs/cluster.md "Rebalance and drain"): pure
// functions of the control plane's picture (nodes and whether each is alive, per group its primary
// and standbys with their in-sync flag), so they are unit tested without a cluster.
//
// - Rebalance: every eligible node (alive, not draining) leads floor or ceil of groups / nodes,
//   reached with the fewest moves (each move takes one group off a node above its share and gives
//   it to one below). A move goes to an in-sync standby of the group when one is below its share
//   (a handover: nothing to copy), then to a standby not in sync yet, then to a node that is not a
//   member (it joins the group, catches up, takes the lease; the old primary leaves the group).
// - Drain N: every group N leads goes to a node that is not a member, so N leaves the group (or,
//   when every eligible node is already a member, to an in-sync standby: N keeps a copy); every
//   group N follows is handed to N and from N to a node that is not a member, so N's copy goes;
//   then the leads of the other nodes are rebalanced. N is never a target.
// A move is never planned to a node that is not alive, nor from a primary that is not alive.

import { assert, assert_never } from "../../common/assert.ts";

export interface PlanNode {
  node: string;
  alive: boolean;
}

export interface PlanStandby {
  node: string;
  in_sync: boolean;
}

export interface PlanGroup {
  group: number;
  primary: string;
  standbys: PlanStandby[];
}

export interface PlanInput {
  nodes: readonly PlanNode[];
  groups: readonly PlanGroup[];
}

/**
 * handover: to an in-sync standby (members unchanged, the old primary stays a standby);
 * catch_up: to a standby not in sync yet (the primary waits until it is, then hands over);
 * join: to a node that is not a member (it is added, catches up, takes the lease, and the old
 * primary leaves the group's members).
 */
export type MoveKind = "handover" | "catch_up" | "join";

/** spread: evens out leads; drain_lead / drain_copy: takes the draining node's lead / copy away. */
export type MoveReason = "spread" | "drain_lead" | "drain_copy";

export interface PlannedMove {
  group: number;
  source: string;
  target: string;
  kind: MoveKind;
  reason: MoveReason;
}

export interface Plan {
  moves: PlannedMove[];
  /** Per eligible node (by id), the groups it leads now and after the plan. */
  leads_before: Map<string, number>;
  leads_after: Map<string, number>;
  /** What the plan leaves as it is, and why (a group whose primary is not alive, say). */
  notes: string[];
}

/** The fewest moves after which every alive node leads floor or ceil of groups / nodes. */
export function plan_rebalance(input: PlanInput): Plan {
  check_input(input);
  const state = copy_groups(input.groups);
  const eligible = eligible_nodes(input, null);
  const leads_before = leads_of(state, eligible);
  const notes = dead_primary_notes(input, state);
  const moves = spread_moves(state, eligible);
  return { moves, leads_before, leads_after: leads_of(state, eligible), notes };
}

/** Moves every lead and copy off `draining`, then evens out the other nodes' leads. */
export function plan_drain(input: PlanInput, draining: string): Plan {
  check_input(input);
  const node = input.nodes.find((n) => n.node === draining);
  assert(node !== undefined && node.alive, "drain: the draining node is a node that is alive");
  const state = copy_groups(input.groups);
  const eligible = eligible_nodes(input, draining);
  const leads_before = leads_of(state, [...eligible, draining]);
  const notes = dead_primary_notes(input, state);
  const moves: PlannedMove[] = [];
  if (eligible.length === 0) notes.push(`no other node is alive: ${draining} keeps its groups`);
  for (const group of state) {
    if (eligible.length > 0 && group.primary === draining) {
      moves.push(apply_move(group, drain_lead_move(group, state, eligible)));
    }
  }
  for (const group of state) {
    if (!group.standbys.some((s) => s.node === draining)) continue;
    if (!is_alive(input, group.primary)) continue; // noted above; its takeover comes first
    const joining = pick_least_leading(non_members(group, eligible), state);
    if (joining === null) {
      notes.push(`group ${group.group}: every other alive node is a member, so ${draining} ` +
        "keeps its copy");
      continue;
    }
    moves.push(apply_move(group, { group: group.group, source: group.primary, target: draining,
      kind: kind_of(group, draining), reason: "drain_copy" }));
    moves.push(apply_move(group, { group: group.group, source: draining, target: joining,
      kind: "join", reason: "drain_copy" }));
  }
  moves.push(...spread_moves(state, eligible));
  const leads_after = leads_of(state, [...eligible, draining]);
  return { moves, leads_before, leads_after, notes };
}

/** The target's relation to the group, as the move to it will be made. */
export function kind_of(group: PlanGroup, target: string): MoveKind {
  assert(target !== group.primary, "a move's target is not the group's primary");
  const standby = group.standbys.find((s) => s.node === target);
  if (standby === undefined) return "join";
  return standby.in_sync ? "handover" : "catch_up";
}

function drain_lead_move(group: PlanGroup, state: readonly PlanGroup[],
  eligible: string[]): PlannedMove {
  const source = group.primary;
  const joining = pick_least_leading(non_members(group, eligible), state);
  if (joining !== null) {
    return { group: group.group, source, target: joining, kind: "join", reason: "drain_lead" };
  }
  const members = eligible.filter((n) => group.standbys.some((s) => s.node === n));
  assert(members.length > 0, "drain: an eligible node that is no member is a standby");
  const in_sync = members.filter((n) => kind_of(group, n) === "handover");
  // The copy left on the draining node is noted with the copies below.
  const target = pick_least_leading(in_sync.length > 0 ? in_sync : members, state)!;
  return { group: group.group, source, target, kind: kind_of(group, target),
    reason: "drain_lead" };
}

// Evens out the leads of `eligible` on `state` (changed as the moves are applied).
function spread_moves(state: PlanGroup[], eligible: readonly string[]): PlannedMove[] {
  if (eligible.length === 0) return [];
  const movable = state.filter((g) => eligible.includes(g.primary));
  const leads = leads_of(state, eligible);
  const share = shares_of(leads, movable.length);
  const excess = new Map(eligible.map((n) => [n, leads.get(n)! - share.get(n)!]));
  const moves: PlannedMove[] = [];
  const ranks: MoveKind[] = ["handover", "catch_up", "join"];
  for (const rank of ranks) {
    for (const group of movable) {
      if (excess.get(group.primary)! <= 0) continue;
      const target = spread_target(group, rank, eligible, excess);
      if (target === null) continue;
      excess.set(group.primary, excess.get(group.primary)! - 1);
      excess.set(target, excess.get(target)! + 1);
      moves.push(apply_move(group, { group: group.group, source: group.primary, target,
        kind: rank, reason: "spread" }));
    }
  }
  for (const [node, count] of excess) assert(count === 0, `spread: ${node} leads its share`);
  return moves;
}

// The node below its share with the most room whose relation to the group is `rank` (by id).
function spread_target(group: PlanGroup, rank: MoveKind, eligible: readonly string[],
  excess: ReadonlyMap<string, number>): string | null {
  let best: string | null = null;
  for (const node of eligible) {
    if (node === group.primary || excess.get(node)! >= 0) continue;
    if (kind_of(group, node) !== rank) continue;
    if (best === null || excess.get(node)! < excess.get(best)!) best = node;
  }
  return best;
}

/**
 * Each node's share: floor(total / nodes), and one more for `total mod nodes` of them, those
 * leading the most now (then by id): so the fewest groups have to move.
 */
export function shares_of(leads: ReadonlyMap<string, number>, total: number): Map<string, number> {
  const nodes = [...leads.keys()];
  assert(nodes.length > 0, "shares: at least one node");
  const floor = Math.floor(total / nodes.length);
  const extra = total % nodes.length;
  const ordered = nodes.sort((a, b) => leads.get(b)! - leads.get(a)! || compare_ids(a, b));
  return new Map(ordered.map((node, index) => [node, floor + (index < extra ? 1 : 0)]));
}

// Changes the group as the move will, and answers the move.
function apply_move(group: PlanGroup, move: PlannedMove): PlannedMove {
  assert(group.group === move.group && group.primary === move.source, "apply: the source leads");
  assert(kind_of(group, move.target) === move.kind, "apply: the kind is the target's relation");
  switch (move.kind) {
    case "handover":
    case "catch_up":
      group.standbys = group.standbys.map((s) => s.node === move.target
        ? { node: move.source, in_sync: true } : s);
      break;
    case "join":
      break; // the old primary leaves the members; the other standbys stay
    default:
      assert_never(move.kind, "move kind");
  }
  group.primary = move.target;
  return move;
}

function non_members(group: PlanGroup, eligible: readonly string[]): string[] {
  return eligible.filter((n) => n !== group.primary && !group.standbys.some((s) => s.node === n));
}

// Of `candidates`, the node leading the fewest groups of `state` (then by id); null when none.
function pick_least_leading(candidates: readonly string[], state: readonly PlanGroup[])
  : string | null {
  let best: string | null = null;
  let best_count = 0;
  for (const node of candidates) {
    const count = state.filter((g) => g.primary === node).length;
    if (best === null || count < best_count || (count === best_count && compare_ids(node, best) < 0)) {
      best = node;
      best_count = count;
    }
  }
  return best;
}

function eligible_nodes(input: PlanInput, draining: string | null): string[] {
  return input.nodes.filter((n) => n.alive && n.node !== draining).map((n) => n.node)
    .sort(compare_ids);
}

function leads_of(state: readonly PlanGroup[], nodes: readonly string[]): Map<string, number> {
  const leads = new Map([...nodes].sort(compare_ids).map((n) => [n, 0]));
  for (const group of state) {
    const count = leads.get(group.primary);
    if (count !== undefined) leads.set(group.primary, count + 1);
  }
  return leads;
}

function dead_primary_notes(input: PlanInput, state: readonly PlanGroup[]): string[] {
  return state.filter((g) => !is_alive(input, g.primary)).map((g) =>
    `group ${g.group}: its primary ${g.primary} is not alive; left to fail over, not moved`);
}

function is_alive(input: PlanInput, node: string): boolean {
  return input.nodes.some((n) => n.node === node && n.alive);
}

function copy_groups(groups: readonly PlanGroup[]): PlanGroup[] {
  return [...groups].sort((a, b) => a.group - b.group).map((g) => ({ group: g.group,
    primary: g.primary, standbys: g.standbys.map((s) => ({ ...s })) }));
}

function check_input(input: PlanInput): void {
  const ids = new Set(input.nodes.map((n) => n.node));
  assert(ids.size === input.nodes.length, "plan: node ids are distinct");
  const groups = new Set(input.groups.map((g) => g.group));
  assert(groups.size === input.groups.length, "plan: group ids are distinct");
  for (const group of input.groups) {
    assert(ids.has(group.primary), `plan: group ${group.group}'s primary is a node`);
    for (const standby of group.standbys) {
      assert(ids.has(standby.node) && standby.node !== group.primary,
        `plan: group ${group.group}'s standby ${standby.node} is another node`);
    }
  }
}

function compare_ids(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
