// The control plane's committed migrations (cluster/control_plane/migrations/, drizzle-kit) on the
// real PostgreSQL: they apply to a fresh schema, a second run changes nothing, nodes starting
// together migrate once, and the tables refuse rows the design forbids.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { AssertionError } from "../../common/assert.ts";
import { CONTROL_PLANE_MIGRATIONS_FOLDER, apply_control_plane_migrations } from
  "../../cluster/control_plane/migrate.ts";
import { SCHEMA_NAME_LENGTH_MAX, schema_problem } from "../../cluster/control_plane/inputs.ts";
import { fresh_plane, SERVICES_TIMEOUT_MS, TEST_TIMEOUT_MS, type TestPlane } from
  "./control_support.ts";

let db: TestPlane;

beforeAll(async () => {
  db = await fresh_plane("migrate", false);
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await db.drop();
});

function journal_tags(): string[] {
  const path = resolve(CONTROL_PLANE_MIGRATIONS_FOLDER, "meta", "_journal.json");
  return JSON.parse(readFileSync(path, "utf8")).entries.map((entry: { tag: string }) => entry.tag);
}

async function table_names(): Promise<string[]> {
  const rows = await db.plane.sql`
    select table_name from information_schema.tables
    where table_schema = ${db.schema} and table_type = 'BASE TABLE' order by table_name`;
  return rows.map((row) => row.table_name as string);
}

async function applied_count(schema: string): Promise<number> {
  const rows = await db.plane.sql`
    select count(*)::int as count from ${db.plane.sql(schema)}.__drizzle_migrations`;
  return rows[0]!.count as number;
}

describe("control plane migrations", () => {
  test("every migration drizzle-kit listed is committed as SQL", () => {
    const files = readdirSync(CONTROL_PLANE_MIGRATIONS_FOLDER)
      .filter((name) => name.endsWith(".sql"));
    expect(files.sort()).toEqual(journal_tags().map((tag) => `${tag}.sql`).sort());
    expect(files.length).toBeGreaterThan(0);
  });

  test("apply to a fresh schema (created), and a second run changes nothing", async () => {
    expect(await table_names()).toEqual([]);
    await apply_control_plane_migrations(db.database_url, db.schema);
    const tables = await table_names();
    expect(tables).toEqual(["__drizzle_migrations", "cluster_settings", "group_leases", "nodes"]);
    expect(await applied_count(db.schema)).toBe(journal_tags().length);
    await apply_control_plane_migrations(db.database_url, db.schema);
    expect(await applied_count(db.schema)).toBe(journal_tags().length);
    expect(await table_names()).toEqual(tables);
  }, TEST_TIMEOUT_MS);

  test("nodes starting together migrate once", async () => {
    const other = await fresh_plane("migrate_race", false);
    try {
      await Promise.all([1, 2, 3].map(() =>
        apply_control_plane_migrations(other.database_url, other.schema)));
      expect(await applied_count(other.schema)).toBe(journal_tags().length);
    } finally {
      await other.drop();
    }
  }, TEST_TIMEOUT_MS);

  test("the tables refuse a second settings row, an epoch past u32, a holder out of sync",
    async () => {
      const sql = db.plane.sql;
      await sql`insert into cluster_settings (id, groups, replicas, partner_map)
        values (1, 4, 2, '[]'::jsonb)`;
      await expect(sql`insert into cluster_settings (id, groups, replicas, partner_map)
        values (2, 4, 2, '[]'::jsonb)`).rejects.toThrow(/cluster_settings_one_row/);
      const insert_lease = (epoch: string, in_sync: string) => sql`
        insert into group_leases (group_id, members, holder, epoch, expires_at, first_sequence,
          in_sync)
        values (0, array['a','b'], 'a', ${epoch}::bigint, now(), 1, ${in_sync}::text::jsonb)`;
      await expect(insert_lease("4294967296", '[{"node":"a","disk":"d"}]'))
        .rejects.toThrow(/group_leases_epoch_u32/);
      await expect(insert_lease("1", '[{"node":"b","disk":"d"}]'))
        .rejects.toThrow(/group_leases_holder_in_sync/);
      await insert_lease("4294967295", '[{"node":"a","disk":"d"}]');
      await sql`delete from group_leases`;
      await sql`delete from cluster_settings`;
    }, TEST_TIMEOUT_MS);

  test("the schema name: 63 characters taken, 64 or a bad character refused", async () => {
    expect(schema_problem("s".repeat(SCHEMA_NAME_LENGTH_MAX))).toBeNull();
    expect(schema_problem("s".repeat(SCHEMA_NAME_LENGTH_MAX + 1))).not.toBeNull();
    expect(schema_problem("Cluster")).not.toBeNull();
    expect(schema_problem("1cluster")).not.toBeNull();
    await expect(apply_control_plane_migrations(db.database_url, "bad;name"))
      .rejects.toThrow(AssertionError);
  });
});
