// A schema of its own on the real PostgreSQL, for a test file or a benchmark run (dropped at the
// end), with the projector's migrations applied on request.

import postgres from "postgres";
import { apply_migrations } from "../projector/migrate.ts";
import { ensure_services } from "./services.ts";

const CONNECTIONS_MAX = 4;

export interface TestDatabase {
  schema: string;
  /** Connections whose search_path is the test's schema. */
  sql: postgres.Sql;
  /** Applies the projector's migrations to the schema. */
  migrate(): Promise<void>;
  drop(): Promise<void>;
}

let schema_count = 0;

/** A new, empty schema on the test PostgreSQL; `migrate` applies the projector's migrations. */
export async function fresh_schema(label: string, migrate = true): Promise<TestDatabase> {
  const services = await ensure_services();
  const schema = `projector_${label}_${process.pid}_${Date.now().toString(36)}_${schema_count++}`;
  const admin = postgres(services.database_url, { max: 1, onnotice: () => {} });
  await admin`create schema ${admin(schema)}`;
  const sql = postgres(services.database_url, {
    max: CONNECTIONS_MAX,
    onnotice: () => {},
    connection: { search_path: schema },
  });
  const migrate_into = () =>
    apply_migrations(services.database_url, { migrations_schema: schema, search_path: schema });
  if (migrate) await migrate_into();
  return {
    schema,
    sql,
    migrate: migrate_into,
    async drop() {
      await sql.end({ timeout: 5 });
      await admin`drop schema if exists ${admin(schema)} cascade`;
      await admin.end({ timeout: 5 });
    },
  };
}
