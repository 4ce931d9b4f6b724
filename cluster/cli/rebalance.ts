// `bun run cluster -- rebalance` and `drain --node N` (docs/cluster.md "Rebalance and drain"): the
// plan (rebalance_plan.ts) from the control plane's routing map, printed, then carried out one move
// at a time as `cluster move` makes it (the primary's POST /admin/groups/G/move), each waited for
// until the target leads the group, the control plane read again and the plan made again from it
// before the next move. `--dry-run` prints the plan only. A second run on a balanced (or drained)
// cluster plans nothing.

import { assert_never } from "../../common/assert.ts";
import type { ControlPlane } from "../control_plane/connection.ts";
import { read_routing_map, type RoutingMap } from "../control_plane/routing_map.ts";
import { request_move, wait_leads } from "./move.ts";
import {
  plan_drain, plan_rebalance, type Plan, type PlanInput, type PlannedMove,
} from "./rebalance_plan.ts";

/**
 * A node is alive when its last heartbeat is at most this old (database time). Nodes heartbeat
 * every LEASE_MS / 3 (333 ms by default): this is 15 heartbeats at the default, and holds for
 * LEASE_MS up to 15 s.
 */
export const NODE_ALIVE_HEARTBEAT_AGE_MS_MAX = 5_000;

export type PlanCommand = { kind: "rebalance"; dry_run: boolean } |
  { kind: "drain"; node: string; dry_run: boolean };

export type RunOutcome = { kind: "done" } | { kind: "refused"; message: string } |
  { kind: "control_plane"; message: string };

interface Picture {
  map: RoutingMap;
  input: PlanInput;
}

interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Plans, prints, and (unless a dry run) carries out the plan. */
export async function run_plan(plane: ControlPlane, command: PlanCommand, token: string,
  output: Output): Promise<RunOutcome> {
  let picture = await read_picture(plane);
  if ("kind" in picture) return picture;
  let plan = plan_of(command, picture.input);
  if ("kind" in plan) return plan;
  output.out(format_plan(command, picture, plan));
  if (command.dry_run) return { kind: "done" };
  // Each move is one of the plan, or of a plan made again when the cluster changed meanwhile.
  const moves_max = plan.moves.length + picture.map.groups.length;
  for (let made = 0; plan.moves.length > 0; made++) {
    if (made >= moves_max) {
      return { kind: "refused", message: `the plan did not settle after ${made} moves` };
    }
    const move = plan.moves[0]!;
    const moved = await carry_out(picture.map, move, token, output);
    if (moved !== null) return moved;
    const next = await read_picture(plane);
    if ("kind" in next) return next;
    const next_plan = plan_of(command, next.input);
    if ("kind" in next_plan) return next_plan;
    if (!same_moves(next_plan.moves, plan.moves.slice(1))) {
      output.out(`the cluster changed; the plan now:\n${format_moves(next_plan.moves)}`);
    }
    picture = next;
    plan = next_plan;
  }
  output.out(`done: leads ${format_leads(plan.leads_after)}\n`);
  return { kind: "done" };
}

// One move: asked of the group's primary, then waited for until the target leads the group.
async function carry_out(map: RoutingMap, move: PlannedMove, token: string,
  output: Output): Promise<RunOutcome | null> {
  const started_ms = performance.now();
  output.out(`group ${move.group}: moving ${move.source} -> ${move.target} (${move.kind})\n`);
  const outcome = await request_move(map, move.group, move.target, token);
  if (outcome.kind === "refused") return outcome;
  const target = map.nodes.get(move.target)!;
  if (!await wait_leads(target.http_address, move.group)) {
    return { kind: "refused", message: `group ${move.group}: handed to ${move.target}, which ` +
      "does not say it leads it" };
  }
  const elapsed_s = ((performance.now() - started_ms) / 1_000).toFixed(1);
  output.out(`group ${move.group}: led by ${move.target} (${elapsed_s} s)\n`);
  return null;
}

async function read_picture(plane: ControlPlane): Promise<Picture | RunOutcome> {
  const read = await read_routing_map(plane);
  switch (read.kind) {
    case "unreachable":
      return { kind: "control_plane", message: `control plane unreachable: ${read.message}` };
    case "not_initialised":
      return { kind: "control_plane", message: "control plane not initialised: no cluster " +
        "settings adopted yet" };
    case "map":
      return { map: read.map, input: plan_input_of(read.map) };
    default:
      return assert_never(read, "routing map outcome");
  }
}

/** The planner's picture of the routing map: alive is a heartbeat at most 5 s old. */
export function plan_input_of(map: RoutingMap): PlanInput {
  const now_ms = map.db_now.getTime();
  return {
    nodes: [...map.nodes.values()].map((node) => ({ node: node.node_id,
      alive: now_ms - node.heartbeat_at.getTime() <= NODE_ALIVE_HEARTBEAT_AGE_MS_MAX })),
    groups: map.groups.map((g) => ({ group: g.group, primary: g.primary,
      standbys: g.standbys.map((s) => ({ node: s.node, in_sync: s.in_sync })) })),
  };
}

function plan_of(command: PlanCommand, input: PlanInput): Plan | RunOutcome {
  switch (command.kind) {
    case "rebalance":
      return plan_rebalance(input);
    case "drain": {
      const node = input.nodes.find((n) => n.node === command.node);
      if (node === undefined) {
        return { kind: "refused", message: `drain: ${command.node} is not a registered node` };
      }
      if (!node.alive) {
        return { kind: "refused", message: `drain: ${command.node} is not alive (no heartbeat ` +
          `for ${NODE_ALIVE_HEARTBEAT_AGE_MS_MAX} ms): its groups fail over, nothing to hand over` };
      }
      return plan_drain(input, command.node);
    }
    default:
      return assert_never(command, "plan command");
  }
}

function same_moves(a: readonly PlannedMove[], b: readonly PlannedMove[]): boolean {
  return a.length === b.length && a.every((move, i) => move.group === b[i]!.group &&
    move.source === b[i]!.source && move.target === b[i]!.target && move.kind === b[i]!.kind);
}

/** The plan as printed before it is carried out. */
export function format_plan(command: PlanCommand, picture: Picture, plan: Plan): string {
  const alive = picture.input.nodes.filter((n) => n.alive).map((n) => n.node);
  const title = command.kind === "drain" ? `drain ${command.node}` : "rebalance";
  return [
    `${title}: ${alive.length} of ${picture.input.nodes.length} nodes alive ` +
      `(${alive.join(", ")}), ${picture.input.groups.length} groups`,
    `leads now:   ${format_leads(plan.leads_before)}`,
    `leads after: ${format_leads(plan.leads_after)}`,
    ...plan.notes.map((note) => `note: ${note}`),
    "",
  ].join("\n") + format_moves(plan.moves) + (command.dry_run ? "dry run: nothing moved\n" : "");
}

function format_moves(moves: readonly PlannedMove[]): string {
  if (moves.length === 0) return "plan: nothing to move\n";
  const lines = moves.map((m) => `  group ${m.group}: ${m.source} -> ${m.target}  ${m.kind}, ` +
    `${m.reason}${m.kind === "join" ? ` (${m.target} joins and catches up; ${m.source} leaves)`
      : ""}`);
  return `plan: ${moves.length} move${moves.length === 1 ? "" : "s"}\n${lines.join("\n")}\n`;
}

function format_leads(leads: ReadonlyMap<string, number>): string {
  return [...leads].map(([node, count]) => `${node} ${count}`).join(", ");
}
