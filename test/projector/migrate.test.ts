// The committed migrations (projector/migrations/, drizzle-kit) against the real PostgreSQL: they
// apply to an empty schema, a second run changes nothing, projectors starting together migrate
// once, and the tables hold what schema/projection.ts says (64-bit ids, exact money, available
// computed by PostgreSQL).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { MIGRATIONS_FOLDER } from "../../projector/migrate.ts";
import { fresh_schema, SERVICES_TIMEOUT_MS, type TestDatabase } from "./support.ts";

const TEST_TIMEOUT_MS = 60_000;
const U64_MAX = "18446744073709551615";

let db: TestDatabase;

beforeAll(async () => {
  db = await fresh_schema("migrate", false);
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await db.drop();
});

async function applied_migration_count(): Promise<number> {
  const rows = await db.sql`select count(*)::int as count from ${db.sql(db.schema)}.__drizzle_migrations`;
  return rows[0]!.count as number;
}

async function table_names(): Promise<string[]> {
  const rows = await db.sql`
    select table_name from information_schema.tables
    where table_schema = ${db.schema} and table_type = 'BASE TABLE' order by table_name`;
  return rows.map((row) => row.table_name as string);
}

describe("migrations", () => {
  test("every migration drizzle-kit listed is committed as SQL", () => {
    const journal = JSON.parse(readFileSync(resolve(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8"));
    const tags: string[] = journal.entries.map((entry: { tag: string }) => entry.tag);
    const files = readdirSync(MIGRATIONS_FOLDER).filter((name) => name.endsWith(".sql"));
    expect(files.sort()).toEqual(tags.map((tag) => `${tag}.sql`).sort());
    expect(tags.length).toBeGreaterThan(0);
  });

  test("apply to an empty schema, and a second run changes nothing", async () => {
    expect(await table_names()).toEqual([]);
    await db.migrate();
    const tables = await table_names();
    expect(tables).toEqual(["__drizzle_migrations", "accounts", "applied_sequence", "holds", "orders"]);
    const count = await applied_migration_count();
    await db.migrate();
    expect(await applied_migration_count()).toBe(count);
    expect(await table_names()).toEqual(tables);
  }, TEST_TIMEOUT_MS);

  test("projectors starting together migrate once", async () => {
    const other = await fresh_schema("migrate_race", false);
    try {
      await Promise.all([
        other.migrate(),
        other.migrate(),
        other.migrate(),
      ]);
      const rows = await other.sql`select count(*)::int as count from __drizzle_migrations`;
      const journal = JSON.parse(readFileSync(resolve(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8"));
      expect(rows[0]!.count).toBe(journal.entries.length);
    } finally {
      await other.drop();
    }
  }, TEST_TIMEOUT_MS);

  test("ids hold every u64 and nothing outside; available is computed", async () => {
    await db.sql`
      insert into accounts (group_id, account_id, partner, kind, currency, state,
        overdraft_limit_minor, balance_minor, held_minor, last_sequence)
      values (1, ${U64_MAX}::numeric, 4294967295, 3, 978, 1, 10, 9007199254740981, 5, 1)`;
    const rows = await db.sql`
      select account_id::text, partner::text, available_minor::text from accounts where group_id = 1`;
    expect(rows[0]).toEqual({ account_id: U64_MAX, partner: "4294967295", available_minor: "9007199254740986" });
    const too_big = db.sql`
      insert into accounts (group_id, account_id, partner, kind, currency, state,
        overdraft_limit_minor, balance_minor, held_minor, last_sequence)
      values (1, 18446744073709551616, 1, 3, 978, 1, 0, 0, 0, 1)`;
    await expect(too_big).rejects.toThrow(/accounts_account_id_u64/);
    const set_available = db.sql`update accounts set available_minor = 0 where group_id = 1`;
    await expect(set_available).rejects.toThrow(/can only be updated to DEFAULT/);
    const negative_held = db.sql`update accounts set held_minor = -1 where group_id = 1`;
    await expect(negative_held).rejects.toThrow(/accounts_held_not_negative/);
    await db.sql`delete from accounts`;
  }, TEST_TIMEOUT_MS);

  test("the read API's indexes exist", async () => {
    const rows = await db.sql`
      select indexname from pg_indexes where schemaname = ${db.schema} order by indexname`;
    const names = rows.map((row) => row.indexname as string);
    expect(names).toContain("orders_account_sequence_idx");
    expect(names).toContain("orders_partner_order_idx");
    expect(names).toContain("orders_transfer_target_idx");
    expect(names).toContain("holds_open_idx");
  }, TEST_TIMEOUT_MS);
});
