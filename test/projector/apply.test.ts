// apply_batch against the real PostgreSQL: it sets figures exactly from the events (never adds),
// folds a batch into one change per account, skips what the group has applied when Kafka
// delivers again, keeps holds right through hold, capture, release and expiry, and writes a batch
// whole or not at all.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AssertionError } from "../../common/assert.ts";
import { HoldState } from "../../schema/hold_state.ts";
import { apply_batch, copy_in } from "../../projector/apply.ts";
import { coalesce } from "../../projector/coalesce.ts";
import type { ProjectedEvent } from "../../projector/event.ts";
import { EventFenceError } from "../../projector/fence.ts";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import {
  account_row, applied_row, count_rows, EventWriter, fresh_schema, hold_row, SERVICES_TIMEOUT_MS,
  u64_text, type TestDatabase,
} from "./support.ts";

const TEST_TIMEOUT_MS = 60_000;
const MONEY_MAX = Number.MAX_SAFE_INTEGER;

let db: TestDatabase;
let next_group = 1;

beforeAll(async () => {
  db = await fresh_schema("apply");
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await db.drop();
});

/** Each test projects a group of its own, so tests share the schema without meeting. */
function new_group(): number {
  return next_group++;
}

async function expect_account(group: number, writer: EventWriter, account: bigint): Promise<void> {
  const model = writer.model(account);
  const row = await account_row(db.sql, group, account);
  expect(row).toBeDefined();
  expect({
    balance: row!.balance_minor, held: row!.held_minor, overdraft: row!.overdraft_limit_minor,
    state: row!.state, available: row!.available_minor,
  }).toEqual({
    balance: model.balance_minor, held: model.held_minor, overdraft: model.overdraft_limit_minor,
    state: model.state,
    available: model.balance_minor - model.held_minor + model.overdraft_limit_minor,
  });
}

/** Every row the projection holds for the group, but the times it was written at. */
async function group_rows(group: number): Promise<string> {
  const accounts = await db.sql`
    select ${u64_text(db.sql, "account_id")}, balance_minor::text, held_minor::text, state,
      last_sequence::text
    from accounts where group_id = ${group} order by accounts.account_id`;
  const orders = await db.sql`
    select sequence::text, epoch::text, balance_after_minor::text
    from orders where group_id = ${group} order by sequence`;
  return JSON.stringify({ accounts, orders, applied: await applied_row(db.sql, group) });
}

describe("apply_batch", () => {
  test("sets figures exactly, and 64-bit ids survive", async () => {
    const group = new_group();
    const w = new EventWriter();
    const partner = 0xffff_fffe;
    const big = (1n << 64n) - 1n;
    const events = [
      w.open(big, partner, 250, AccountKind.partner, 840),
      w.credit(big, MONEY_MAX - 250),
      w.debit(big, 1_000),
      w.check(big, 5),
    ];
    const result = await apply_batch(db.sql, group, events);
    expect(result).toEqual({ applied_count: 4, skipped_count: 0, sequence: 4 });
    const row = await account_row(db.sql, group, big);
    expect(row).toEqual({
      account_id: big.toString(), partner, kind: AccountKind.partner, currency: 840, state: 1,
      overdraft_limit_minor: 250, balance_minor: MONEY_MAX - 1_250, held_minor: 0,
      available_minor: MONEY_MAX - 1_000, last_sequence: 3, // check changes nothing
    });
    expect(await applied_row(db.sql, group)).toEqual({ sequence: 4, epoch: 1 });
    const orders = await db.sql`
      select ${u64_text(db.sql, "order_id")}, op, status, ${u64_text(db.sql, "amount_minor")}
      from orders
      where group_id = ${group} order by sequence`;
    expect(orders.map((o) => o.order_id)).toEqual(events.map((e) => e.order_id.toString()));
    expect(orders[1]!.amount_minor).toBe(String(MONEY_MAX - 250));
  }, TEST_TIMEOUT_MS);

  test("a batch folds into one change per account; the last value wins", async () => {
    const group = new_group();
    const w = new EventWriter();
    const events = [w.open(10n, 7), w.open(11n, 7)];
    for (let i = 1; i <= 50; i++) {
      events.push(w.credit(10n, i));
      events.push(w.transfer(10n, 11n, i));
    }
    events.push(w.debit(11n, 3));
    const changes = coalesce(events);
    expect([...changes.accounts.values()].length).toBe(2);
    // Keyed by the id's value, whichever bigint carries it; another partner's id 10 is not it.
    expect(changes.accounts.get(7, BigInt("10"))!.last_sequence).toBe(events.length - 1);
    expect(changes.accounts.get(8, 10n)).toBeUndefined();
    await apply_batch(db.sql, group, events);
    await expect_account(group, w, 10n);
    await expect_account(group, w, 11n);
    expect((await account_row(db.sql, group, 11n))!.last_sequence).toBe(events.length);
    expect(await count_rows(db.sql, "orders")).toBeGreaterThanOrEqual(events.length);
  }, TEST_TIMEOUT_MS);

  test("delivered again, a batch changes nothing; an overlapping one applies only what is new", async () => {
    const group = new_group();
    const w = new EventWriter();
    const first = [w.open(20n, 1), w.credit(20n, 100), w.credit(20n, 50)];
    const second = [w.debit(20n, 30), w.credit(20n, 5)];
    expect((await apply_batch(db.sql, group, first)).applied_count).toBe(3);
    expect(await apply_batch(db.sql, group, first)).toEqual({
      applied_count: 0, skipped_count: 3, sequence: 3,
    });
    // Kafka redelivers from an older offset: the tail of the first batch, then the second.
    const overlapping = [...first.slice(1), ...second];
    expect(await apply_batch(db.sql, group, overlapping)).toEqual({
      applied_count: 2, skipped_count: 2, sequence: 5,
    });
    await expect_account(group, w, 20n);
    expect((await account_row(db.sql, group, 20n))!.balance_minor).toBe(125);
    const rows = await db.sql`select count(*)::int as count from orders where group_id = ${group}`;
    expect(rows[0]!.count).toBe(5);
    expect(await apply_batch(db.sql, group, [])).toEqual({
      applied_count: 0, skipped_count: 0, sequence: 5,
    });
  }, TEST_TIMEOUT_MS);

  test("two projectors applying the same batches at once apply each event once", async () => {
    const group = new_group();
    const w = new EventWriter();
    const batches = [[w.open(30n, 2), w.credit(30n, 10)], [w.credit(30n, 20), w.hold(30n, 5)]];
    for (const batch of batches) {
      const results = await Promise.all([
        apply_batch(db.sql, group, batch), apply_batch(db.sql, group, batch),
      ]);
      expect(results.map((r) => r.applied_count).sort()).toEqual([0, batch.length]);
    }
    await expect_account(group, w, 30n);
  }, TEST_TIMEOUT_MS);

  test("holds: capture, release and expiry, within a batch and across batches", async () => {
    const group = new_group();
    const w = new EventWriter();
    const account = 40n;
    const open = [w.open(account, 3), w.credit(account, 1_000)];
    const h1 = w.hold(account, 100, 60_000);
    const h2 = w.hold(account, 200);
    const h3 = w.hold(account, 300, 1_000);
    await apply_batch(db.sql, group, [...open, h1, h2, h3]);
    await expect_account(group, w, account);
    expect(await hold_row(db.sql, group, h1.order_id)).toEqual({
      hold_id: h1.order_id.toString(), account_id: "40", amount_minor: 100,
      expires_at_ms: h1.engine_time_ms + 60_000, state: HoldState.open,
      opened_sequence: h1.sequence, sequence: h1.sequence,
    });
    expect((await hold_row(db.sql, group, h2.order_id))!.expires_at_ms).toBeNull();

    // Across batches: capture part of h1, release h2, expire h3; a new hold opens and is
    // released within the batch.
    const capture = w.capture(h1.order_id, 60);
    const release = w.release(h2.order_id);
    const expire = w.expire(h3.order_id);
    const h4 = w.hold(account, 400);
    const h4_release = w.release(h4.order_id);
    await apply_batch(db.sql, group, [capture, release, expire, h4, h4_release]);
    await expect_account(group, w, account);
    const row = await account_row(db.sql, group, account);
    expect({ balance: row!.balance_minor, held: row!.held_minor }).toEqual({ balance: 940, held: 0 });
    const states = await Promise.all([h1, h2, h3, h4].map((h) => hold_row(db.sql, group, h.order_id)));
    expect(states.map((h) => [h!.state, h!.sequence])).toEqual([
      [HoldState.captured, capture.sequence], [HoldState.released, release.sequence],
      [HoldState.expired, expire.sequence], [HoldState.released, h4_release.sequence],
    ]);
    expect(states[3]!.opened_sequence).toBe(h4.sequence);
    const open_holds = await db.sql`
      select count(*)::int as count from holds where group_id = ${group} and state = ${HoldState.open}`;
    expect(open_holds[0]!.count).toBe(0);
    const expiry = await db.sql`
      select ${u64_text(db.sql, "order_id")} from orders
      where group_id = ${group} and sequence = ${expire.sequence}`;
    expect(expiry[0]!.order_id).toBe("0");
  }, TEST_TIMEOUT_MS);

  test("held equals the sum of open holds after every batch", async () => {
    const group = new_group();
    const w = new EventWriter();
    const batch_one = [w.open(50n, 4), w.credit(50n, 500), w.hold(50n, 10), w.hold(50n, 20)];
    const h_a = batch_one[2]!.order_id;
    const batch_two = [w.capture(h_a, 10), w.hold(50n, 30)];
    for (const batch of [batch_one, batch_two]) {
      await apply_batch(db.sql, group, batch);
      const rows = await db.sql`
        select a.held_minor::float8 as held,
          coalesce((select sum(amount_minor) from holds h where h.group_id = a.group_id
            and h.account_id = a.account_id and h.state = ${HoldState.open}), 0)::float8 as open_sum
        from accounts a where a.group_id = ${group}`;
      expect(rows[0]!.held).toBe(rows[0]!.open_sum);
    }
  }, TEST_TIMEOUT_MS);

  test("state, overdraft and refused events", async () => {
    const group = new_group();
    const w = new EventWriter();
    const events = [
      w.open(60n, 5), w.credit(60n, 10), w.set_overdraft(60n, 90), w.set_state(60n, Op.freeze),
      w.refused(60n, Op.debit, 5n, Status.account_frozen),
      w.refused(61n, Op.credit, 1n << 63n, Status.account_not_found),
    ];
    await apply_batch(db.sql, group, events);
    await expect_account(group, w, 60n);
    expect((await account_row(db.sql, group, 60n))!.available_minor).toBe(100);
    expect(await account_row(db.sql, group, 61n)).toBeUndefined();
    const more = [w.set_state(60n, Op.unfreeze), w.debit(60n, 10), w.set_state(60n, Op.close_account)];
    await apply_batch(db.sql, group, more);
    await expect_account(group, w, 60n);
    expect((await account_row(db.sql, group, 60n))!.state).toBe(3);
    const refused = await db.sql`
      select status, ${u64_text(db.sql, "amount_minor")} from orders
      where group_id = ${group} and status <> 0
      order by sequence`;
    expect([...refused]).toEqual([
      { status: Status.account_frozen, amount_minor: "5" },
      { status: Status.account_not_found, amount_minor: (1n << 63n).toString() },
    ]);
  }, TEST_TIMEOUT_MS);

  test("every orders column keeps its extremes (the binary COPY's encoding)", async () => {
    const group = new_group();
    const w = new EventWriter();
    const u64_max = (1n << 64n) - 1n;
    const refused = (account: bigint, amount: bigint) =>
      w.refused(account, Op.credit, amount, Status.account_not_found);
    const events = [
      { ...refused(u64_max, u64_max), order_id: 0n, ref: u64_max, partner: 0xffff_ffff,
        epoch: 0xffff_ffff, currency: 0x7fff, balance_after_minor: -Number.MAX_SAFE_INTEGER,
        held_after_minor: Number.MAX_SAFE_INTEGER, counter_balance_after_minor: -1 },
      { ...refused(0n, 0n), order_id: u64_max, ref: 0n, partner: 0, epoch: 0xffff_ffff,
        currency: 0, balance_after_minor: Number.MAX_SAFE_INTEGER, held_after_minor: 0,
        counter_balance_after_minor: -Number.MAX_SAFE_INTEGER },
      { ...refused(1n << 63n, (1n << 63n) - 1n), order_id: 1n << 63n, ref: (1n << 63n) - 1n,
        epoch: 0xffff_ffff, engine_time_ms: Number.MAX_SAFE_INTEGER },
    ];
    await apply_batch(db.sql, group, events);
    const rows = await db.sql`
      select sequence::float8 as sequence, epoch::float8 as epoch,
        engine_time_ms::float8 as engine_time_ms, partner::float8 as partner,
        ${u64_text(db.sql, "order_id")}, ${u64_text(db.sql, "account_id")}, op, status,
        ${u64_text(db.sql, "amount_minor")}, ${u64_text(db.sql, "ref")}, currency,
        balance_after_minor::float8 as balance_after_minor,
        held_after_minor::float8 as held_after_minor,
        counter_balance_after_minor::float8 as counter_balance_after_minor
      from orders where group_id = ${group} order by sequence`;
    expect([...rows]).toEqual(events.map((e) => ({
      sequence: e.sequence, epoch: e.epoch, engine_time_ms: e.engine_time_ms, partner: e.partner,
      order_id: e.order_id.toString(), account_id: e.account.toString(), op: e.op,
      status: e.status, amount_minor: e.amount_minor.toString(), ref: e.ref.toString(),
      currency: e.currency, balance_after_minor: e.balance_after_minor,
      held_after_minor: e.held_after_minor,
      counter_balance_after_minor: e.counter_balance_after_minor,
    })));
    // A currency above int2 was refused by PostgreSQL's text COPY; the encoder refuses it too.
    const too_big = { ...refused(1n, 1n), epoch: 0xffff_ffff, currency: 0x8000 };
    await expect(apply_batch(db.sql, group, [too_big])).rejects.toThrow(/fits int2/);
    expect(await applied_row(db.sql, group)).toEqual({ sequence: 3, epoch: 0xffff_ffff });
  }, TEST_TIMEOUT_MS);

  test("a batch that fails midway leaves nothing", async () => {
    const group = new_group();
    const w = new EventWriter();
    await apply_batch(db.sql, group, [w.open(70n, 6), w.credit(70n, 10)]);
    const before = await account_row(db.sql, group, 70n);
    // Valid events first (a new account, a credit, a hold), then a capture of a hold that was
    // never opened: the orders, the accounts and the hold are written before the capture fails.
    const failing = [w.open(71n, 6), w.credit(70n, 5), w.hold(70n, 3)];
    const missing_hold = w.release(failing[2]!.order_id);
    missing_hold.ref = 999n;
    await expect(apply_batch(db.sql, group, [...failing, missing_hold])).rejects.toThrow(/holds not found/);
    expect(await account_row(db.sql, group, 70n)).toEqual(before);
    expect(await account_row(db.sql, group, 71n)).toBeUndefined();
    expect(await hold_row(db.sql, group, failing[2]!.order_id)).toBeUndefined();
    expect(await applied_row(db.sql, group)).toEqual({ sequence: 2, epoch: 1 });
    const rows = await db.sql`select count(*)::int as count from orders where group_id = ${group}`;
    expect(rows[0]!.count).toBe(2);
  }, TEST_TIMEOUT_MS);

  test("an orders row already past the applied sequence is a broken invariant: fatal", async () => {
    const group = new_group();
    const w = new EventWriter();
    await apply_batch(db.sql, group, [w.open(90n, 9)]);
    const credit = w.credit(90n, 4);
    await db.sql`insert into orders (group_id, sequence, epoch, engine_time_ms, partner, order_id,
      account_id, op, status, amount_minor, ref, currency, balance_after_minor, held_after_minor,
      counter_balance_after_minor)
      values (${group}, ${credit.sequence}, 1, 1, 1, 1, 90, 1, 0, 4, 0, 978, 4, 0, 0)`;
    const attempt = apply_batch(db.sql, group, [credit]);
    await expect(attempt).rejects.toThrow(AssertionError);
    await expect(attempt).rejects.toThrow(/an orders row exists past the applied sequence/);
    expect(await applied_row(db.sql, group)).toEqual({ sequence: 1, epoch: 1 });
  }, TEST_TIMEOUT_MS);

  test("a COPY that PostgreSQL refuses throws (never hangs), rolls back, and the pool goes on", async () => {
    await db.sql`create table copy_probe (id int primary key)`;
    const copy = (text: string) => db.sql.begin((tx) =>
      copy_in(tx, tx`copy copy_probe (id) from stdin`, text));
    await copy("1\n2\n");
    await expect(copy("3\n3\n")).rejects.toThrow(/transaction is aborted/);
    await expect(copy("4\nnot a number\n")).rejects.toThrow();
    await copy("5\n");
    const rows = await db.sql`select id from copy_probe order by id`;
    expect(rows.map((row) => row.id)).toEqual([1, 2, 5]);
  }, TEST_TIMEOUT_MS);

  test("an event for an unknown account, a gap, or an older epoch is refused", async () => {
    const group = new_group();
    const w = new EventWriter();
    await apply_batch(db.sql, group, [w.open(80n, 8)]);
    const ghost = w.credit(80n, 1);
    ghost.account = 81n;
    await expect(apply_batch(db.sql, group, [ghost])).rejects.toThrow(/accounts not found/);
    const after_gap = { ...ghost, account: 80n, sequence: ghost.sequence + 1 };
    await expect(apply_batch(db.sql, group, [after_gap])).rejects.toThrow(/gap/);
    await expect(apply_batch(db.sql, group, [{ ...ghost, account: 80n, epoch: 0 }]))
      .rejects.toThrow(EventFenceError);
    expect(await applied_row(db.sql, group)).toEqual({ sequence: 1, epoch: 1 });
  }, TEST_TIMEOUT_MS);

  test("fence: the same events published again, overlapping in one batch, are skipped",
    async () => {
    const group = new_group();
    const w = new EventWriter();
    const old_primary = [w.open(100n, 10), w.credit(100n, 70), w.credit(100n, 5)];
    w.epoch = 2; // the new primary publishes the old epoch's committed events again, then its own
    const new_primary = [w.debit(100n, 20), w.credit(100n, 1)];
    expect(await apply_batch(db.sql, group, old_primary.slice(0, 2))).toEqual({
      applied_count: 2, skipped_count: 0, sequence: 2,
    });
    const batch = [...old_primary, ...old_primary.slice(1), new_primary[0]!, ...new_primary];
    expect(await apply_batch(db.sql, group, batch)).toEqual({
      applied_count: 3, skipped_count: 5, sequence: 5,
    });
    await expect_account(group, w, 100n);
    expect(await applied_row(db.sql, group)).toEqual({ sequence: 5, epoch: 2 });
    expect(await apply_batch(db.sql, group, [...old_primary, ...new_primary])).toEqual({
      applied_count: 0, skipped_count: 5, sequence: 5,
    });
  }, TEST_TIMEOUT_MS);

  test("fence: another event at an applied sequence is refused and changes nothing", async () => {
    const group = new_group();
    const w = new EventWriter();
    const events = [w.open(110n, 11), w.credit(110n, 40), w.credit(110n, 2)];
    await apply_batch(db.sql, group, events);
    const before = await group_rows(group);
    const next = w.credit(110n, 3);
    const other_epoch = { ...events[1]!, epoch: 2 };
    const other_content =
      { ...events[2]!, balance_after_minor: events[2]!.balance_after_minor + 1 };
    const cases: [ProjectedEvent[], number, number, number][] = [
      [[other_epoch, events[2]!, next], 2, 1, 2], // a stored event, another epoch
      [[other_content, next], 3, 1, 1], // the same epoch, other content
      [[next, { ...next, order_id: next.order_id + 1n }], 4, 1, 1], // within one batch
    ];
    for (const [batch, sequence, held_epoch, event_epoch] of cases) {
      const error = await apply_batch(db.sql, group, batch).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(EventFenceError);
      const fence = error as EventFenceError;
      expect({ refusal: fence.refusal, group: fence.group, sequence: fence.sequence,
        held_epoch: fence.held_epoch, event_epoch: fence.event_epoch }).toEqual({
        refusal: "different_event", group, sequence, held_epoch, event_epoch,
      });
      expect(fence.message).toContain(`group ${group} sequence ${sequence}`);
      expect(await group_rows(group)).toBe(before);
    }
  }, TEST_TIMEOUT_MS);

  test("fence: an older epoch after a newer one is refused and changes nothing", async () => {
    const group = new_group();
    const w = new EventWriter();
    w.epoch = 3;
    await apply_batch(db.sql, group, [w.open(120n, 12), w.credit(120n, 9)]);
    const before = await group_rows(group);
    w.epoch = 2;
    const stale = [w.credit(120n, 1), w.credit(120n, 1)];
    // Past what epoch 3 wrote: epoch 2 after it, then epoch 3 after 4 within one batch.
    for (const [batch, sequence, held_epoch, event_epoch] of [
      [stale, 3, 3, 2], [[{ ...stale[0]!, epoch: 4 }, { ...stale[1]!, epoch: 3 }], 4, 4, 3],
    ] as const) {
      const error = await apply_batch(db.sql, group, batch).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(EventFenceError);
      const fence = error as EventFenceError;
      expect({ refusal: fence.refusal, sequence: fence.sequence, held_epoch: fence.held_epoch,
        event_epoch: fence.event_epoch }).toEqual({
        refusal: "older_epoch", sequence, held_epoch, event_epoch,
      });
      expect(await group_rows(group)).toBe(before);
    }
  }, TEST_TIMEOUT_MS);

  test("groups are independent", async () => {
    const group_a = new_group();
    const group_b = new_group();
    const a = new EventWriter();
    const b = new EventWriter();
    await apply_batch(db.sql, group_a, [a.open(90n, 9), a.credit(90n, 1)]);
    await apply_batch(db.sql, group_b, [b.open(90n, 9), b.credit(90n, 2), b.credit(90n, 3)]);
    expect((await account_row(db.sql, group_a, 90n))!.balance_minor).toBe(1);
    expect((await account_row(db.sql, group_b, 90n))!.balance_minor).toBe(5);
    expect((await applied_row(db.sql, group_a))!.sequence).toBe(2);
    expect((await applied_row(db.sql, group_b))!.sequence).toBe(3);
  }, TEST_TIMEOUT_MS);
});
