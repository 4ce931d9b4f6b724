// Applies the committed migrations (projector/migrations/, made by drizzle-kit from
// schema/projection.ts) with drizzle-orm's postgres-js migrator. Applied migrations are recorded in
// drizzle's own table, so running again changes nothing. Projectors of every group may start at
// once: an advisory lock makes them migrate one at a time, the later ones finding nothing to do.
//
//   DATABASE_URL=postgres://... bun projector/migrate.ts     (npm run db:migrate)

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { assert } from "../common/assert.ts";

export const MIGRATIONS_FOLDER = resolve(import.meta.dir, "migrations");
/** drizzle's record of applied migrations lives in this schema unless told otherwise. */
export const MIGRATIONS_SCHEMA_DEFAULT = "drizzle";
// pg_advisory_lock key held while migrating: "balproj" in ASCII, unlikely to meet another user's.
const MIGRATION_LOCK_KEY = 0x62616c70726f6an;

export interface MigrateOptions {
  /** Where drizzle records applied migrations (default "drizzle"). */
  migrations_schema?: string;
  /** The schema the tables go to (default: the server's search_path, normally "public"). */
  search_path?: string;
}

/** How many migrations are committed (drizzle-kit's journal): a ready database has them all. */
export function committed_migration_count(): number {
  const journal_path = resolve(MIGRATIONS_FOLDER, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journal_path, "utf8"));
  const entries: unknown = journal.entries;
  assert(Array.isArray(entries) && entries.length > 0, "drizzle-kit's journal lists the migrations");
  return entries.length;
}

/**
 * Applies every migration not applied yet, under an advisory lock, on a connection of its own:
 * one connection, so the lock and the migration share a session, and drizzle's settings (it
 * changes the client's type parsers) never reach the caller's pool.
 */
export async function apply_migrations(database_url: string, options: MigrateOptions = {}): Promise<void> {
  const migrations_schema = options.migrations_schema ?? MIGRATIONS_SCHEMA_DEFAULT;
  assert(migrations_schema.length > 0, "migrations schema named");
  const connection = options.search_path === undefined ? {} : { search_path: options.search_path };
  const sql = postgres(database_url, { max: 1, onnotice: () => {}, connection });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    try {
      await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER, migrationsSchema: migrations_schema });
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function main(): Promise<void> {
  const database_url = process.env.DATABASE_URL ?? "";
  if (database_url === "") {
    console.error("DATABASE_URL is not set (postgres://user@host:port/database)");
    process.exit(2);
  }
  await apply_migrations(database_url);
  console.log(`migrations applied from ${MIGRATIONS_FOLDER}`);
}

if (import.meta.main) await main();
