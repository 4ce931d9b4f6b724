// `bun run reconcile`: compares each group's engine state with PostgreSQL's projection of it.
// Per group: capture the engine state at sequence S (GET /admin/groups/:group/state), wait (at
// most --wait-ms) until the projector has applied S, read PostgreSQL in one REPEATABLE READ
// transaction, compare (reconcile/compare.ts). Exit 0: everything compared agrees; 1: any
// difference; 2: it cannot run (the message says why). docs/reconcile.md.
//
//   DATABASE_URL=postgres://... bun run reconcile --token $INTERNAL [--groups 0,1] [--json]

import { compare_group, type GroupComparison } from "./compare.ts";
import { fetch_engine_state, type EngineSource } from "./engine_state.ts";
import { parse_options, type ReconcileOptions } from "./options.ts";
import { PostgresReader } from "./postgres_state.ts";
import { EXIT_CANNOT_RUN, exit_code_of, report_json, report_lines } from "./report.ts";
import { ReconcileError, type EngineState } from "./rows.ts";

async function reconcile_group(source: EngineSource, reader: PostgresReader,
  options: ReconcileOptions, group: number, captured: EngineState | null)
  : Promise<GroupComparison> {
  const engine = captured ?? await fetch_engine_state(source, group);
  await reader.wait_applied(group, engine.sequence, options.wait_ms);
  const postgres = await reader.read_group(group, engine.sequence,
    engine.open_holds.map((hold) => hold.hold));
  return compare_group(engine, postgres);
}

/** Every group asked for, or all of the service's (learned from group 0's answer). */
export async function reconcile(options: ReconcileOptions): Promise<GroupComparison[]> {
  const source = { url: options.url, token: options.token };
  const reader = new PostgresReader({ database_url: options.database_url,
    schema: options.database_schema });
  try {
    await reader.applied(0); // PostgreSQL reachable, and the projection's tables there
    let groups = options.groups;
    let first: EngineState | null = null;
    if (groups === null) {
      first = await fetch_engine_state(source, 0);
      groups = Array.from({ length: first.groups }, (_, group) => group);
    }
    const comparisons: GroupComparison[] = [];
    for (const group of groups) {
      const captured = group === first?.group ? first : null;
      comparisons.push(await reconcile_group(source, reader, options, group, captured));
    }
    return comparisons;
  } finally {
    await reader.close();
  }
}

async function main(): Promise<number> {
  let json = process.argv.includes("--json");
  try {
    const options = parse_options(process.argv.slice(2), process.env);
    json = options.json;
    const comparisons = await reconcile(options);
    if (json) console.log(JSON.stringify(report_json(comparisons)));
    else for (const line of report_lines(comparisons)) console.log(line);
    return exit_code_of(comparisons);
  } catch (error) {
    // Anything else (an assertion of the snapshot reader, say) also means no verdict: never exit 1.
    const message = error instanceof ReconcileError ? error.message
      : `unexpected ${error instanceof Error ? error.stack ?? error.message : String(error)}`;
    if (json) console.log(JSON.stringify({ ok: false, error: message }));
    console.error(`reconcile cannot run: ${message}`);
    return EXIT_CANNOT_RUN;
  }
}

if (import.meta.main) process.exit(await main());
