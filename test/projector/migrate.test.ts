// The committed migrations (projector/migrations/, drizzle-kit) against the real PostgreSQL: they
// apply to an empty schema, a second run changes nothing, projectors starting together migrate
// once, the tables hold what schema/projection.ts says (64-bit ids as int8 keys, exact money,
// available computed by PostgreSQL), and rows from before the int8 keys keep their values.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import { MIGRATIONS_FOLDER } from "../../projector/migrate.ts";
import { U64_KEY_OFFSET } from "../../schema/projection.ts";
import {
  fresh_schema, key_of, SERVICES_TIMEOUT_MS, u64_text, type TestDatabase,
} from "./support.ts";

const TEST_TIMEOUT_MS = 60_000;
const U64_MAX = (1n << 64n) - 1n;
/** The migration that turned numeric(20,0) ids into int8 keys. */
const INT8_KEYS_TAG = "0002_u64_int8_keys";

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

  test("ids hold every u64 as int8 keys and nothing outside; available is computed", async () => {
    for (const [group, id] of [[1, U64_MAX], [2, 0n]] as const) {
      await db.sql`
        insert into accounts (group_id, account_id, partner, kind, currency, state,
          overdraft_limit_minor, balance_minor, held_minor, last_sequence)
        values (${group}, ${key_of(id)}::bigint, 4294967295, 3, 978, 1, 10, 9007199254740981, 5,
          1)`;
    }
    const rows = await db.sql`
      select ${u64_text(db.sql, "account_id")}, partner::text, available_minor::text
      from accounts order by accounts.account_id`;
    expect([...rows]).toEqual([
      { account_id: "0", partner: "4294967295", available_minor: "9007199254740986" },
      { account_id: U64_MAX.toString(), partner: "4294967295",
        available_minor: "9007199254740986" },
    ]);
    const too_big = db.sql`
      insert into accounts (group_id, account_id, partner, kind, currency, state,
        overdraft_limit_minor, balance_minor, held_minor, last_sequence)
      values (1, ${(U64_MAX + 1n - U64_KEY_OFFSET).toString()}::numeric, 1, 3, 978, 1, 0, 0, 0, 1)`;
    await expect(too_big).rejects.toThrow(/bigint out of range/);
    const set_available = db.sql`update accounts set available_minor = 0 where group_id = 1`;
    await expect(set_available).rejects.toThrow(/can only be updated to DEFAULT/);
    const negative_held = db.sql`update accounts set held_minor = -1 where group_id = 1`;
    await expect(negative_held).rejects.toThrow(/accounts_held_not_negative/);
    await db.sql`delete from accounts`;
  }, TEST_TIMEOUT_MS);

  test("rows written before the int8 keys keep their values", async () => {
    // The migrations up to the last one with numeric(20,0) ids, from a copy of the folder whose
    // journal stops there; then the committed folder applies the rest to the same schema.
    const before = await fresh_schema("migrate_keys", false);
    const folder = mkdtempSync(join(tmpdir(), "projector-migrations-"));
    try {
      cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
      const journal_path = join(folder, "meta", "_journal.json");
      const journal = JSON.parse(readFileSync(journal_path, "utf8"));
      const keys_at = journal.entries.findIndex((e: { tag: string }) => e.tag === INT8_KEYS_TAG);
      expect(keys_at).toBeGreaterThan(0);
      journal.entries = journal.entries.slice(0, keys_at);
      writeFileSync(journal_path, JSON.stringify(journal));
      await migrate(drizzle(before.sql), { migrationsFolder: folder, migrationsSchema: before.schema });
      const big = U64_MAX - 1n;
      await before.sql`
        insert into accounts (group_id, account_id, partner, kind, currency, state,
          overdraft_limit_minor, balance_minor, held_minor, last_sequence)
        values (1, ${big.toString()}::numeric, 7, 3, 978, 1, 0, 0, 0, 1),
          (1, 5, 7, 3, 978, 1, 0, 0, 0, 2)`;
      await before.sql`
        insert into holds (group_id, partner, hold_id, account_id, amount_minor, state,
          opened_sequence, sequence)
        values (1, 7, ${U64_MAX.toString()}::numeric, 5, 3, 1, 3, 3)`;
      await before.sql`
        insert into orders (group_id, sequence, epoch, engine_time_ms, partner, order_id,
          account_id, op, status, amount_minor, ref, currency, balance_after_minor,
          held_after_minor, counter_balance_after_minor)
        values (1, 3, 1, 1000, 7, ${U64_MAX.toString()}::numeric, 5, 4, 0,
          ${big.toString()}::numeric, 0, 978, 0, 3, 0)`;
      await before.migrate();
      const accounts = await before.sql`
        select ${u64_text(before.sql, "account_id")} from accounts order by accounts.account_id`;
      expect(accounts.map((row) => row.account_id)).toEqual(["5", big.toString()]);
      const holds = await before.sql`
        select ${u64_text(before.sql, "hold_id")}, ${u64_text(before.sql, "account_id")}
        from holds`;
      expect([...holds]).toEqual([{ hold_id: U64_MAX.toString(), account_id: "5" }]);
      const orders = await before.sql`
        select ${u64_text(before.sql, "order_id")}, ${u64_text(before.sql, "account_id")},
          ${u64_text(before.sql, "amount_minor")}, ${u64_text(before.sql, "ref")}
        from orders`;
      expect([...orders]).toEqual([{ order_id: U64_MAX.toString(), account_id: "5",
        amount_minor: big.toString(), ref: "0" }]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
      await before.drop();
    }
  }, TEST_TIMEOUT_MS);

  test("the read API's indexes exist", async () => {
    const rows = await db.sql`
      select indexname from pg_indexes where schemaname = ${db.schema} order by indexname`;
    const names = rows.map((row) => row.indexname as string);
    expect(names).toContain("orders_account_sequence_idx");
    expect(names).toContain("orders_partner_order_idx");
    expect(names).toContain("orders_transfer_target_idx");
    expect(names).toContain("holds_open_idx");
    // Migration 0003: the order index without `sequence` (the status query sorts an order's rows).
    const [order_index] = await db.sql`
      select indexdef from pg_indexes
      where schemaname = ${db.schema} and indexname = 'orders_partner_order_idx'`;
    expect(order_index!.indexdef as string).toEndWith("(partner, order_id)");
  }, TEST_TIMEOUT_MS);
});
