// The cluster tool: `bun run cluster -- <command>` (cluster/cli/args.ts for the commands). It reads
// the control plane named by CLUSTER_DATABASE_URL / CLUSTER_DATABASE_SCHEMA; move, rebalance and
// drain ask the groups' primaries to hand groups over. Exit 0 done, 1 a move refused, 2 control
// plane unreachable / not initialised / misconfigured, 64 usage error.

import { ConfigError, type Env } from "../../config/config.ts";
import { assert_never } from "../../common/assert.ts";
import { open_control_plane, type ControlPlane } from "../control_plane/connection.ts";
import { CONTROL_PLANE_SCHEMA_DEFAULT, schema_problem } from "../control_plane/inputs.ts";
import { database_url_of } from "../membership/cluster_config.ts";
import { parse_args, USAGE, type Command } from "./args.ts";
import { format_status, read_cluster_status } from "./status.ts";
import { read_routing_map } from "../control_plane/routing_map.ts";
import { request_move } from "./move.ts";
import { run_plan, type RunOutcome } from "./rebalance.ts";

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_CONTROL_PLANE = 2;
export const EXIT_USAGE = 64;

interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Runs one command line; answers the exit code. */
export async function run_cluster_tool(argv: readonly string[], env: Env,
  output: Output): Promise<number> {
  const parsed = parse_args(argv);
  if (parsed.kind === "usage_error") {
    output.err(`cluster: ${parsed.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const command = parsed.command;
  switch (command.kind) {
    case "help":
      output.out(USAGE);
      return EXIT_OK;
    case "status":
      return with_control_plane(env, output, (plane) => status(plane, command, output));
    case "move":
      return with_control_plane(env, output, (plane) => move(plane, command, env, output));
    case "rebalance":
    case "drain":
      return with_control_plane(env, output, async (plane) => exit_code_of(
        await run_plan(plane, command, env.BALANCE_TOKEN ?? "", output), output));
    default:
      return assert_never(command, "command");
  }
}

async function with_control_plane(env: Env, output: Output,
  run: (plane: ControlPlane) => Promise<number>): Promise<number> {
  let plane: ControlPlane;
  try {
    plane = open_control_plane(control_plane_env(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    output.err(`cluster: configuration: ${error.message}\n`);
    return EXIT_CONTROL_PLANE;
  }
  try {
    return await run(plane);
  } finally {
    await plane.close();
  }
}

function control_plane_env(env: Env): { database_url: string; schema: string } {
  const url = env.CLUSTER_DATABASE_URL ?? "";
  if (url === "") throw new ConfigError("CLUSTER_DATABASE_URL must be set");
  const schema = env.CLUSTER_DATABASE_SCHEMA || CONTROL_PLANE_SCHEMA_DEFAULT;
  const problem = schema_problem(schema);
  if (problem !== null) throw new ConfigError(`CLUSTER_DATABASE_SCHEMA: ${problem}`);
  return { database_url: database_url_of(url), schema };
}

async function status(plane: ControlPlane, command: Command & { kind: "status" },
  output: Output): Promise<number> {
  const outcome = await read_cluster_status(plane);
  switch (outcome.kind) {
    case "unreachable":
      output.err(`cluster: control plane unreachable: ${outcome.message}\n`);
      return EXIT_CONTROL_PLANE;
    case "not_initialised":
      output.err(`cluster: control plane not initialised: ${outcome.why}\n`);
      return EXIT_CONTROL_PLANE;
    case "status":
      output.out(command.json ? `${JSON.stringify(outcome.status)}\n`
        : format_status(outcome.status));
      return EXIT_OK;
    default:
      return assert_never(outcome, "status outcome");
  }
}

if (import.meta.main) {
  const code = await run_cluster_tool(process.argv.slice(2), process.env, {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
  process.exit(code);
}

/** Asks the group's primary (as the control plane names it) to hand the group to `to`. */
async function move(plane: ControlPlane, command: Command & { kind: "move" }, env: Env,
  output: Output): Promise<number> {
  const read = await read_routing_map(plane);
  if (read.kind !== "map") {
    output.err(`cluster: control plane ${read.kind === "unreachable" ? "unreachable"
      : "not initialised"}\n`);
    return EXIT_CONTROL_PLANE;
  }
  const moved = await request_move(read.map, command.group, command.to, env.BALANCE_TOKEN ?? "");
  if (moved.kind === "refused") {
    output.err(`cluster: ${moved.message}\n`);
    return EXIT_REFUSED;
  }
  output.out(`${moved.body}\n`);
  return EXIT_OK;
}

function exit_code_of(outcome: RunOutcome, output: Output): number {
  switch (outcome.kind) {
    case "done":
      return EXIT_OK;
    case "refused":
      output.err(`cluster: ${outcome.message}\n`);
      return EXIT_REFUSED;
    case "control_plane":
      output.err(`cluster: ${outcome.message}\n`);
      return EXIT_CONTROL_PLANE;
    default:
      return assert_never(outcome, "plan outcome");
  }
}
