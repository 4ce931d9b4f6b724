// The cluster tool's command line: `<command> [flags]`. A small parser of its own: each command
// lists the flags it takes; anything else (an unknown command or flag, a flag twice, a missing
// value) is a usage error naming it.

import { node_id_problem } from "../control_plane/inputs.ts";

export const USAGE = `usage: bun run cluster -- <command> [flags]

commands:
  status [--json]   nodes (addresses, heartbeat age, disk) and groups (epoch, primary, lease,
                    standbys in sync, replication lag from the primary's /metrics)
  move --group G --to NODE
                    a planned handover of group G to NODE, one of its in-sync standbys: asks
                    the group's primary (POST /admin/groups/G/move), waits for the new epoch
  rebalance [--dry-run]
                    spreads the groups' primaries evenly over the alive nodes (each leads floor
                    or ceil of groups / nodes) with the fewest moves: prints the plan, then
                    makes each move as move does, one at a time, reading the control plane again
                    between them; --dry-run prints the plan only
  drain --node N [--dry-run]
                    moves every group N leads, and every copy N holds as a standby, to the other
                    alive nodes (then evens out their leads), so N can be stopped for good
  help              this text

environment:
  CLUSTER_DATABASE_URL     the control plane's PostgreSQL (required)
  CLUSTER_DATABASE_SCHEMA  its schema (default cluster)
  BALANCE_TOKEN            move, rebalance, drain: an internal token of the service (AUTH=off:
                           not needed)

exit: 0 done (or nothing to move); 1 a move refused or not led by its target in time, a drained
node not registered or not alive (the message says why); 2 control plane unreachable, not
initialised, or misconfigured; 64 usage error
`;

export type Command = { kind: "status"; json: boolean } | { kind: "help" } |
  { kind: "move"; group: number; to: string } | { kind: "rebalance"; dry_run: boolean } |
  { kind: "drain"; node: string; dry_run: boolean };

export type ParseOutcome = { kind: "command"; command: Command } | { kind: "usage_error";
  message: string };

/** The command named by `argv` (the arguments after the script), or why it is not one. */
export function parse_args(argv: readonly string[]): ParseOutcome {
  const [name, ...flags] = argv;
  if (name === undefined) return usage_error("no command given");
  switch (name) {
    case "status":
      return parse_status(flags);
    case "move":
      return parse_move(flags);
    case "rebalance":
      return parse_rebalance(flags);
    case "drain":
      return parse_drain(flags);
    case "help":
    case "--help":
    case "-h":
      return flags.length === 0 ? { kind: "command", command: { kind: "help" } }
        : usage_error(`help takes no arguments, got ${flags[0]}`);
    default:
      return usage_error(`unknown command ${JSON.stringify(name)}`);
  }
}

function parse_status(flags: readonly string[]): ParseOutcome {
  let json = false;
  for (const flag of flags) {
    if (flag === "--json" && !json) {
      json = true;
      continue;
    }
    return usage_error(flag === "--json" ? "status: --json given twice"
      : `status: unknown flag ${JSON.stringify(flag)}`);
  }
  return { kind: "command", command: { kind: "status", json } };
}

function parse_move(flags: readonly string[]): ParseOutcome {
  const values = new Map<string, string>();
  for (let i = 0; i < flags.length; i += 2) {
    const flag = flags[i]!;
    const value = flags[i + 1];
    if (flag !== "--group" && flag !== "--to") return usage_error(`move: unknown flag ${flag}`);
    if (values.has(flag)) return usage_error(`move: ${flag} given twice`);
    if (value === undefined) return usage_error(`move: ${flag} needs a value`);
    values.set(flag, value);
  }
  const group = values.get("--group");
  const to = values.get("--to");
  if (group === undefined || to === undefined) return usage_error("move: --group and --to");
  if (!/^\d{1,4}$/.test(group)) return usage_error(`move: --group ${group}: a group number`);
  return { kind: "command", command: { kind: "move", group: Number(group), to } };
}

function parse_rebalance(flags: readonly string[]): ParseOutcome {
  let dry_run = false;
  for (const flag of flags) {
    if (flag === "--dry-run" && !dry_run) {
      dry_run = true;
      continue;
    }
    return usage_error(flag === "--dry-run" ? "rebalance: --dry-run given twice"
      : `rebalance: unknown flag ${JSON.stringify(flag)}`);
  }
  return { kind: "command", command: { kind: "rebalance", dry_run } };
}

function parse_drain(flags: readonly string[]): ParseOutcome {
  let node: string | null = null;
  let dry_run = false;
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!;
    if (flag === "--dry-run") {
      if (dry_run) return usage_error("drain: --dry-run given twice");
      dry_run = true;
    } else if (flag === "--node") {
      if (node !== null) return usage_error("drain: --node given twice");
      const value = flags[++i];
      if (value === undefined) return usage_error("drain: --node needs a value");
      const problem = node_id_problem(value);
      if (problem !== null) return usage_error(`drain: --node ${value}: ${problem}`);
      node = value;
    } else {
      return usage_error(`drain: unknown flag ${JSON.stringify(flag)}`);
    }
  }
  if (node === null) return usage_error("drain: --node N");
  return { kind: "command", command: { kind: "drain", node, dry_run } };
}

function usage_error(message: string): ParseOutcome {
  return { kind: "usage_error", message };
}
