// Applies the control plane's committed migrations (cluster/control_plane/migrations/, made by
// drizzle-kit from tables.ts) into its own schema, with drizzle-orm's postgres-js migrator. The
// record of applied migrations lives in that schema too, so each cluster's schema stands alone and
// running again changes nothing. Nodes starting together migrate one at a time (advisory lock).
//
//   CLUSTER_DATABASE_URL=postgres://... [CLUSTER_DATABASE_SCHEMA=cluster] \
//     bun cluster/control_plane/migrate.ts        (npm run db:migrate:cluster)

import { resolve } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { assert } from "../../common/assert.ts";
import { CONTROL_PLANE_SCHEMA_DEFAULT, schema_problem } from "./inputs.ts";

export const CONTROL_PLANE_MIGRATIONS_FOLDER = resolve(import.meta.dir, "migrations");
// pg_advisory_lock key held while migrating: "balclus" in ASCII, not the projector's "balproj".
const MIGRATION_LOCK_KEY = 0x62616c636c7573n;

/** Applies every migration not applied yet to `schema`, on a connection of its own. */
export async function apply_control_plane_migrations(database_url: string,
  schema: string = CONTROL_PLANE_SCHEMA_DEFAULT): Promise<void> {
  const problem = schema_problem(schema);
  assert(problem === null, `control plane: ${problem}`);
  // One connection, so the lock and the migration share a session, and drizzle's type parsers
  // never reach another pool.
  const sql = postgres(database_url, {
    max: 1, onnotice: () => {}, connection: { search_path: schema },
  });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    try {
      // The tables are created in the first schema of the search_path that exists: make it exist.
      await sql`create schema if not exists ${sql(schema)}`;
      await migrate(drizzle(sql), {
        migrationsFolder: CONTROL_PLANE_MIGRATIONS_FOLDER, migrationsSchema: schema,
      });
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function main(): Promise<void> {
  const database_url = process.env.CLUSTER_DATABASE_URL ?? "";
  const schema = process.env.CLUSTER_DATABASE_SCHEMA || CONTROL_PLANE_SCHEMA_DEFAULT;
  if (database_url === "") {
    console.error("CLUSTER_DATABASE_URL is not set (postgres://user@host:port/database)");
    process.exit(2);
  }
  const problem = schema_problem(schema);
  if (problem !== null) {
    console.error(`CLUSTER_DATABASE_SCHEMA: ${problem}`);
    process.exit(2);
  }
  await apply_control_plane_migrations(database_url, schema);
  console.log(`control plane migrations applied to schema ${schema}`);
}

if (import.meta.main) await main();
