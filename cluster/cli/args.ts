// The cluster tool's command line: `<command> [flags]`. A small parser of its own: each command
// lists the flags it takes; anything else (an unknown command or flag, a flag twice, a missing
// value) is a usage error naming it. `move --group G --to NODE` and `rebalance` will be commands
// of this table (not built yet).

export const USAGE = `usage: bun run cluster -- <command> [flags]

commands:
  status [--json]   nodes (addresses, heartbeat age, disk) and groups (epoch, primary, lease,
                    standbys in sync, replication lag from the primary's /metrics)
  help              this text

environment:
  CLUSTER_DATABASE_URL     the control plane's PostgreSQL (required)
  CLUSTER_DATABASE_SCHEMA  its schema (default cluster)

exit: 0 done; 2 control plane unreachable, not initialised, or misconfigured; 64 usage error
`;

export type Command = { kind: "status"; json: boolean } | { kind: "help" };

export type ParseOutcome = { kind: "command"; command: Command } | { kind: "usage_error";
  message: string };

/** The command named by `argv` (the arguments after the script), or why it is not one. */
export function parse_args(argv: readonly string[]): ParseOutcome {
  const [name, ...flags] = argv;
  if (name === undefined) return usage_error("no command given");
  switch (name) {
    case "status":
      return parse_status(flags);
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

function usage_error(message: string): ParseOutcome {
  return { kind: "usage_error", message };
}
