// Model-based test: seeded random order streams applied to the engine and to the reference model
// (model.ts); every result and every account must agree, and the invariants of docs/design.md
// section 2 hold after every batch. Partners share account numbers and order ids (each partner's
// own), and chains open accounts and then fail. The journal replayed (and a snapshot restored) must rebuild
// the same state and answer every retry as before. A failure names its seed:
// MODEL_SEED=<seed> bun test test/engine/model replays just that stream.

import { expect, test } from "bun:test";
import { ORDER_ID_FUTURE_SKEW_MS_MAX } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import { HoldState } from "../../schema/hold_state.ts";
import type { GroupLimits } from "../../engine/rules.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { capture_snapshot, restore_snapshot } from "../../engine/snapshot.ts";
import {
  engine_state, EngineHarness, EUR, order_id_at, read_records, replay_entries, T0_MS, USD,
} from "./harness.ts";
import {
  GroupModel, model_key, MONEY_MAX, type ModelOrder, type ModelResult,
} from "./model.ts";

const LIMITS: GroupLimits = {
  accounts_max: 56,
  holds_max: 24,
  // A budget of 256 ids (engine/idempotency.ts: pages of one id): the stream sends about 10 per
  // 24 ms time bucket, some 400 in a window, so bursts, and chains above all, find it spent and
  // are busy now and then.
  idempotency_entries_max: 256,
  idempotency_window_ms: 1_000,
};
const PARTNERS = [1, 2, 3, 4];
// Every partner uses the same account numbers: 48 accounts, and the opening chains' 80 more, for 56
// slots, so opening some hits limit_exceeded.
const ACCOUNTS_PER_PARTNER = 12;
const ORDERS_PER_SEED = 4_000;
const SEEDS = [1, 2, 3, 42, 1234, 98765, 0x5eed, 7_777_777];
const HISTORY_MAX = 300;
/** How often (in batches) a restart is checked: replay and snapshot cost O(state). */
const RESTART_EVERY_BATCHES = 5;

interface Generator {
  prng: Prng;
  now_ms: number;
  counter: number;
  history: ModelOrder[];
  holds: { id: bigint; account: bigint; partner: number; amount: bigint }[];
  /** The partner that first applied each order id (ok or refused, not replayed). */
  first_partner: Map<bigint, number>;
}

/** Account numbers are each partner's own: every partner has accounts 1000..1011. */
function account_id(n: number): bigint {
  return BigInt(1000 + n);
}

function currency_of(account: bigint): number {
  return account % 3n === 0n ? USD : EUR;
}

function pick<T>(g: Generator, items: readonly T[]): T {
  return items[g.prng.int_below(items.length)]!;
}

/** Mostly partner 1 (the hot one), then the others. */
function pick_partner(g: Generator): number {
  return g.prng.chance(0.5) ? 1 : pick(g, PARTNERS);
}

function pick_account(g: Generator): bigint {
  if (g.prng.chance(0.02)) return 999_999n; // never opened
  return account_id(g.prng.int_below(ACCOUNTS_PER_PARTNER));
}

function money_amount(g: Generator): bigint {
  const roll = g.prng.next_float();
  if (roll < 0.03) return 0n;
  if (roll < 0.04) return MONEY_MAX - BigInt(g.prng.int_below(1000));
  if (roll < 0.045) return MONEY_MAX + 1n;
  if (roll < 0.05) return 2n ** 64n - 5n; // -5 as u64
  return BigInt(1 + g.prng.int_below(500));
}

function next_id(g: Generator): bigint {
  const roll = g.prng.next_float();
  g.counter++;
  if (roll < 0.005) return 0n;
  if (roll < 0.013) return order_id_at(g.now_ms - 1_001 - g.prng.int_below(100), g.counter);
  if (roll < 0.015) return order_id_at(g.now_ms + 60_001 + g.prng.int_below(100), g.counter);
  // Clocks ahead, within the skew: ids counted in buckets far ahead of engine time's.
  if (roll < 0.02) {
    return order_id_at(g.now_ms + 1 + g.prng.int_below(ORDER_ID_FUTURE_SKEW_MS_MAX), g.counter);
  }
  // Clients' clocks differ a little: ids from slightly in the past (inside the window).
  return order_id_at(g.now_ms - g.prng.int_below(300), g.counter);
}

const OPS: readonly number[] = [
  ...Array<number>(20).fill(Op.credit), ...Array<number>(18).fill(Op.debit),
  ...Array<number>(5).fill(Op.check), ...Array<number>(10).fill(Op.hold),
  ...Array<number>(8).fill(Op.capture), ...Array<number>(5).fill(Op.release),
  ...Array<number>(12).fill(Op.transfer), ...Array<number>(5).fill(Op.open_account),
  Op.freeze, Op.freeze, Op.unfreeze, Op.unfreeze, Op.unfreeze, Op.set_overdraft, Op.set_overdraft,
  Op.set_overdraft, Op.close_account, Op.none, Op.expire_hold, 77,
];

function new_order(g: Generator, partner: number, chained: boolean): ModelOrder {
  let op = pick(g, OPS);
  if (chained && g.prng.chance(0.97)) {
    while (op > Op.transfer || op === Op.none) op = pick(g, OPS);
  }
  const account = pick_account(g);
  const order: ModelOrder = { id: next_id(g), op, partner, account, amount: money_amount(g),
    ref: 0n, currency: g.prng.chance(0.03) ? pick(g, [EUR, USD]) : currency_of(account), flags: 0 };
  fill_op_fields(g, order);
  if (g.prng.chance(0.005)) order.partner = 0;
  return order;
}

function fill_op_fields(g: Generator, order: ModelOrder): void {
  switch (order.op) {
    case Op.hold: {
      const roll = g.prng.next_float();
      order.ref = roll < 0.4 ? 0n : roll < 0.98 ? BigInt(50 + g.prng.int_below(3000)) :
        BigInt(30 * 24 * 3600 * 1000 + 1);
      return;
    }
    case Op.capture:
    case Op.release: {
      if (g.holds.length > 0 && g.prng.chance(0.85)) {
        const hold = pick(g, g.holds);
        order.ref = hold.id;
        if (g.prng.chance(0.9)) {
          order.account = hold.account;
          order.partner = hold.partner;
          order.currency = currency_of(hold.account);
        }
        const roll = g.prng.next_float();
        order.amount = roll < 0.5 ? hold.amount : roll < 0.9 ? hold.amount / 2n : hold.amount + 1n;
      } else {
        order.ref = BigInt(g.prng.next_u32());
      }
      if (order.op === Op.release) order.amount = g.prng.chance(0.95) ? 0n : 1n;
      return;
    }
    case Op.transfer: {
      const roll = g.prng.next_float();
      order.ref = roll < 0.05 ? order.account : pick_account(g);
      return;
    }
    case Op.open_account: {
      order.ref = g.prng.chance(0.97) ? BigInt(1 + g.prng.int_below(3)) : pick(g, [0n, 4n]);
      if (g.prng.chance(0.03)) order.currency = pick(g, [0, 1000]);
      order.amount = g.prng.chance(0.5) ? 0n : g.prng.chance(0.98) ?
        BigInt(g.prng.int_below(1000)) : MONEY_MAX - BigInt(g.prng.int_below(10));
      return;
    }
    case Op.set_overdraft:
      order.amount = g.prng.chance(0.97) ? BigInt(g.prng.int_below(2000)) : MONEY_MAX;
      return;
    case Op.freeze:
    case Op.unfreeze:
    case Op.close_account:
      order.amount = g.prng.chance(0.95) ? 0n : 1n;
      return;
    default:
      return;
  }
}

/**
 * A retry of an earlier order: mostly the same payload, sometimes a changed one; or another
 * partner's order under the same id (order ids are each partner's own: it is fresh for it).
 */
function retry_order(g: Generator): ModelOrder {
  const earlier = pick(g, g.history);
  const roll = g.prng.next_float();
  if (roll < 0.6) return { ...earlier, flags: 0 };
  if (roll < 0.8) return { ...earlier, flags: 0, amount: earlier.amount + 1n };
  const partner = earlier.partner === 0 ? 1 : PARTNERS[earlier.partner % PARTNERS.length]!;
  return { ...new_order(g, partner, false), id: earlier.id };
}

/**
 * A chain that opens an account and then fails (or not): open with an overdraft, then a debit
 * that may exceed it. A failed chain's orders must show the figures of no account, as replay does.
 */
function opening_chain(g: Generator, partner: number): ModelOrder[] {
  const account = g.prng.chance(0.7) ? 5_000n + BigInt(g.prng.int_below(20)) : pick_account(g);
  const overdraft = BigInt(g.prng.int_below(600));
  const open: ModelOrder = { id: next_id(g), op: Op.open_account, partner, account,
    amount: overdraft, ref: 3n, currency: currency_of(account), flags: 1 };
  // Mostly more than the overdraft (the chain fails), so the table does not fill with them.
  const excess = g.prng.chance(0.85) ? 1n + BigInt(g.prng.int_below(100)) : -overdraft;
  const debit: ModelOrder = { id: next_id(g), op: Op.debit, partner, account,
    amount: overdraft + excess, ref: 0n, currency: currency_of(account), flags: 0 };
  if (debit.amount <= 0n) debit.amount = 1n;
  return [open, debit];
}

function make_batch(g: Generator, opening: boolean): ModelOrder[] {
  const size = 1 + g.prng.int_below(40);
  const batch: ModelOrder[] = [];
  while (batch.length < size) {
    if (opening) {
      const partner = pick(g, PARTNERS);
      const account = account_id(g.prng.int_below(ACCOUNTS_PER_PARTNER));
      batch.push({ id: next_id(g), op: Op.open_account, partner, account, ref: 3n,
        amount: BigInt(g.prng.int_below(3) * 100), currency: currency_of(account), flags: 0 });
      continue;
    }
    if (g.history.length > 0 && g.prng.chance(0.08)) {
      batch.push(retry_order(g));
      continue;
    }
    if (g.prng.chance(0.06)) {
      batch.push(...opening_chain(g, pick_partner(g)));
      continue;
    }
    if (g.prng.chance(0.12)) {
      const partner = pick_partner(g);
      const length = 2 + g.prng.int_below(4);
      for (let n = 0; n < length; n++) {
        const mixed = g.prng.chance(0.02) ? pick(g, PARTNERS) : partner;
        batch.push({ ...new_order(g, mixed, true), flags: n < length - 1 ? 1 : 0 });
      }
      continue;
    }
    batch.push(new_order(g, pick_partner(g), false));
  }
  if (g.prng.chance(0.03)) batch[batch.length - 1]!.flags = 1; // a chain left open
  return batch.slice(0, 128);
}

function remember(g: Generator, batch: ModelOrder[], results: ModelResult[]): void {
  batch.forEach((order, k) => {
    g.history.push(order);
    const result = results[k]!;
    if (remembered_status(result.status) && !g.first_partner.has(order.id)) {
      g.first_partner.set(order.id, order.partner);
    }
    if (order.op === Op.hold && result.status === Status.ok && !result.replayed) {
      g.holds.push({ id: order.id, account: order.account, partner: order.partner,
        amount: order.amount });
    }
  });
  if (g.history.length > HISTORY_MAX) g.history.splice(0, g.history.length - HISTORY_MAX);
  if (g.holds.length > 60) g.holds.splice(0, g.holds.length - 60);
}

function advance_clock(g: Generator): number {
  const roll = g.prng.next_float();
  // Past the whole ring of window buckets (256 x 24 ms): every bucket is dropped at once.
  if (roll < 0.01) return 6_200 + g.prng.int_below(3_000);
  if (roll < 0.05) return 1_000 + g.prng.int_below(2_000); // evicts the window, expires holds
  return g.prng.int_below(100);
}

function describe_result(result: ModelResult): string {
  return `${Status[result.status]} seq=${result.sequence} balance=${result.balance} ` +
    `available=${result.available}${result.replayed ? " replayed" : ""}`;
}

class Checker {
  /** Sum of ok credits - ok debits - ok captured amounts, from the results. */
  ledger = 0n;
  /** model_key(partner, order id) of every applied order. */
  readonly applied = new Set<string>();

  account_results(batch: ModelOrder[], engine: ModelResult[], model: ModelResult[],
    where: string): void {
    batch.forEach((order, k) => {
      const e = engine[k]!;
      const m = model[k]!;
      const same = e.status === m.status && e.sequence === m.sequence && e.balance === m.balance &&
        e.available === m.available && e.replayed === m.replayed;
      if (!same) {
        throw new Error(`${where} order ${k} (op ${Op[order.op] ?? order.op}, account ` +
          `${order.account}, amount ${order.amount}, ref ${order.ref}, partner ${order.partner}):\n` +
          `  engine: ${describe_result(e)}\n  model:  ${describe_result(m)}`);
      }
      if (e.replayed || e.status !== Status.ok) return;
      const key = model_key(order.partner, order.id);
      if (this.applied.has(key)) throw new Error(`${where} order ${key} applied twice`);
      this.applied.add(key);
      if (order.op === Op.credit) this.ledger += order.amount;
      if (order.op === Op.debit || order.op === Op.capture) this.ledger -= order.amount;
    });
  }

  /** Engine state against the model, and the invariants of docs/design.md section 2. */
  state(h: EngineHarness, model: GroupModel, where: string): void {
    const a = h.engine.accounts;
    const holds = h.engine.holds;
    const open_held = new Map<number, number>();
    for (let slot = 0; slot < holds.capacity; slot++) {
      if (holds.state[slot] !== HoldState.open) continue;
      const account = holds.account_slot[slot]!;
      open_held.set(account, (open_held.get(account) ?? 0) + holds.amount_minor[slot]!);
    }
    expect(a.count, where).toBe(model.accounts.size);
    expect(holds.used_count, where).toBe(model.holds.size);
    expect(h.engine.last_sequence, where).toBe(model.sequence);
    // The window holds exactly the ids of the buckets the model still keeps.
    expect(h.engine.window.count, `${where} window count`).toBe(model.window.size);
    let total = 0n;
    for (const [key, m] of model.accounts) {
      const id = BigInt(key.split("/")[1]!);
      const slot = a.find(m.partner, Number(id >> 32n), Number(id & 0xffff_ffffn));
      expect(slot, `${where} account ${key}`).not.toBe(-1);
      const figures = { balance: a.balance_minor(slot), held: a.held_minor(slot),
        overdraft: a.overdraft_limit_minor(slot), state: a.state(slot) };
      expect(figures, `${where} account ${key}`).toEqual({ balance: Number(m.balance),
        held: Number(m.held), overdraft: Number(m.overdraft), state: m.state });
      expect(figures.balance >= -figures.overdraft, `${where} overdraft ${key}`).toBe(true);
      expect(figures.held >= 0, `${where} held ${key}`).toBe(true);
      expect(figures.held, `${where} open holds ${key}`).toBe(open_held.get(slot) ?? 0);
      a.verify(slot);
      total += BigInt(figures.balance);
    }
    expect(total, `${where} money conserved`).toBe(this.ledger);
  }
}

function expiries_of(h: EngineHarness, from_entry: number):
  { partner: number; hold: bigint; sequence: number }[] {
  return read_records(h.journal_bytes.slice(from_entry))
    .filter((record) => record.order.op === Op.expire_hold && record.order.id === 0n &&
      record.status === Status.ok)
    .map((record) => ({ partner: record.order.partner, hold: record.order.ref,
      sequence: record.sequence }));
}

/**
 * A restart: the journal replayed into a fresh engine, and a snapshot of that restored into
 * another, must both hold the state the engine left, and answer the retry of every order of the
 * last batch (still in the window) exactly as it was answered.
 */
function check_restart(h: EngineHarness, batch: ModelOrder[], results: ModelResult[],
  where: string): void {
  const replayed = new GroupEngine(0, 1, LIMITS);
  replay_entries(h.journal_bytes, replayed);
  expect(engine_state(replayed), `${where} replayed`).toEqual(engine_state(h.engine));
  const restored = new GroupEngine(0, 1, LIMITS);
  restore_snapshot(restored, capture_snapshot(replayed)[0]!);
  expect(engine_state(restored), `${where} snapshot`).toEqual(engine_state(h.engine));
  const retry = new EngineHarness(LIMITS);
  restore_snapshot(retry.engine, capture_snapshot(replayed)[0]!);
  retry.now_ms = h.now_ms;
  const answers = retry.batch(batch.map((order) => ({ ...order, linked: order.flags === 1 })));
  batch.forEach((order, k) => {
    const before = results[k]!;
    if (before.replayed || !remembered_status(before.status)) return;
    const after = answers[k]!;
    expect([after.status, Number(after.sequence), after.balance, after.available],
      `${where} retry of order ${k} (${Op[order.op]}, partner ${order.partner}) after a restart`)
      .toEqual([before.status, before.sequence, before.balance, before.available]);
  });
}

/** Statuses remembered in the window (engine/group_engine.ts window_records). */
function remembered_status(status: Status): boolean {
  return status !== Status.id_invalid && status !== Status.expired &&
    status !== Status.id_conflict && status !== Status.busy;
}

/** How often each status (and replayed) occurred in one seed's results. */
type Tally = Map<string, number>;

/**
 * Outcomes every seed must produce, so that a change of limits or of the generator cannot quietly
 * stop exercising them (busy above all: a full bucket, for a single order and for a chain).
 */
const REQUIRED_OUTCOMES = [
  "ok", "replayed", "busy", "busy single", "busy chain", "expired", "id_invalid", "id_conflict",
  "linked_failed", "invalid", "chain_open", "insufficient_funds", "account_not_found",
  "hold_expired", "hold_settled", "opened, then the chain failed",
  "another partner's order id, decided afresh",
];

/** Orders sent with an id another partner's order already has, that were decided as new ones. */
function tally_shared_ids(g: Generator, tally: Tally, batch: ModelOrder[],
  results: ModelResult[]): void {
  batch.forEach((order, k) => {
    const first = g.first_partner.get(order.id);
    const result = results[k]!;
    if (first === undefined || first === order.partner || result.replayed) return;
    if (result.status === Status.id_conflict) return;
    const name = "another partner's order id, decided afresh";
    tally.set(name, (tally.get(name) ?? 0) + 1);
  });
}

function tally_results(tally: Tally, batch: ModelOrder[], results: ModelResult[]): void {
  const count = (name: string) => tally.set(name, (tally.get(name) ?? 0) + 1);
  results.forEach((result, k) => {
    count(result.replayed ? "replayed" : Status[result.status] ?? `status_${result.status}`);
    const next = results[k + 1];
    if (batch[k]!.op === Op.open_account && result.status === Status.linked_failed &&
      next?.status === Status.insufficient_funds && !next.replayed) {
      count("opened, then the chain failed");
    }
    // A chain's orders: linked ones, and the one closing a chain (after a linked one).
    const in_chain = batch[k]!.flags === 1 || (k > 0 && batch[k - 1]!.flags === 1);
    if (result.replayed || result.status !== Status.busy) return;
    count(in_chain ? "busy chain" : "busy single");
  });
}

function run_seed(seed: number): Tally {
  const tally: Tally = new Map();
  const g: Generator = { prng: new Prng(seed), now_ms: T0_MS, counter: 0, history: [], holds: [],
    first_partner: new Map() };
  const h = new EngineHarness(LIMITS);
  const model = new GroupModel(LIMITS);
  const checker = new Checker();
  let order_count = 0;
  for (let batch_index = 0; order_count < ORDERS_PER_SEED; batch_index++) {
    const where = `seed ${seed} batch ${batch_index}`;
    g.now_ms += advance_clock(g);
    const entries_before = h.journal_bytes.length;
    const expiries_before = model.expiries.length;
    if (g.prng.chance(0.03)) {
      h.tick(g.now_ms);
      model.tick(g.now_ms);
      g.now_ms += g.prng.int_below(20);
    }
    const batch = make_batch(g, batch_index < 3);
    h.now_ms = g.now_ms;
    const engine_results = h.batch(batch.map((order) => ({ ...order, linked: order.flags === 1 })))
      .map((result) => ({ ...result, sequence: Number(result.sequence) }));
    const model_results = model.apply_batch(batch, g.now_ms);
    checker.account_results(batch, engine_results, model_results, where);
    tally_results(tally, batch, model_results);
    tally_shared_ids(g, tally, batch, model_results);
    expect(expiries_of(h, entries_before), where).toEqual(model.expiries.slice(expiries_before));
    checker.state(h, model, where);
    if (batch_index % RESTART_EVERY_BATCHES === 0) check_restart(h, batch, model_results, where);
    remember(g, batch, model_results);
    order_count += batch.length;
  }
  return tally;
}

const seeds = process.env.MODEL_SEED === undefined ? SEEDS : [Number(process.env.MODEL_SEED)];
for (const seed of seeds) {
  test(`engine agrees with the model, seed ${seed}`, () => {
    try {
      const tally = run_seed(seed);
      if (process.env.MODEL_TALLY) console.log(seed, JSON.stringify([...tally].sort()));
      const missing = REQUIRED_OUTCOMES.filter((name) => (tally.get(name) ?? 0) === 0);
      expect(missing, `seed ${seed}: outcomes never produced`).toEqual([]);
    } catch (error) {
      console.error(`model test failed: MODEL_SEED=${seed}`);
      throw error;
    }
  });
}
