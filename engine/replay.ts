// Replay: applies journal records to a group's state by their recorded outcomes. It never decides
// an order again, so a new version of the rules cannot rewrite history: a credit sets the balance
// the record says, a hold opens with the recorded amount, and so on. Rejected orders change nothing
// but their ids (the window is rebuilt exactly as the original run left it).

import { assert, assert_never } from "../common/assert.ts";
import { JOURNAL_RECORD_BYTES } from "../common/constants.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { read_u64_safe } from "../schema/layout.ts";
import { is_op } from "../schema/vocabulary.ts";
import { order_digest } from "./digest.ts";
import { window_records, type GroupEngine } from "./group_engine.ts";
import { HoldState } from "../schema/hold_state.ts";
import {
  RECORD_BALANCE_AFTER, RECORD_COUNTER_AFTER, RECORD_HELD_AFTER, RECORD_ORDER, RECORD_SEQUENCE,
  RECORD_STATUS,
} from "../schema/journal_record.ts";

export interface ReplayEntry {
  first_sequence: number;
  record_count: number;
  engine_time_ms: number;
  epoch: number;
}

/**
 * Applies one journal entry whose records start at body_offset in view. `window_horizon_ms`, when
 * the caller knows the engine time replay will end at, skips remembering ids the window would have
 * dropped by then: the same final state, without inserting millions of ids only to drop them.
 */
export function replay_entry(engine: GroupEngine, entry: ReplayEntry, view: DataView,
  body_offset: number, window_horizon_ms = -Infinity): void {
  assert(entry.first_sequence === engine.last_sequence + 1, "replay: sequence gap");
  engine.advance_time(entry.engine_time_ms);
  engine.epoch = Math.max(engine.epoch, entry.epoch);
  const window = engine.window;
  const first_live_bucket = Math.floor((window_horizon_ms - window.window_ms) / window.bucket_ms);
  engine.prefetch_orders(view, body_offset + RECORD_ORDER, JOURNAL_RECORD_BYTES, entry.record_count);
  for (let i = 0; i < entry.record_count; i++) {
    replay_record(engine, view, body_offset + i * JOURNAL_RECORD_BYTES, first_live_bucket, i);
  }
}

// Record i of the entry: the prefetch found its accounts already (engine.prefetched_slot); one
// it did not find may have been opened by an earlier record of the entry, so that one is looked up.
function replay_record(engine: GroupEngine, view: DataView, at: number,
  first_live_bucket: number, i: number): void {
  const sequence = view.getFloat64(at + RECORD_SEQUENCE, true);
  assert(sequence === engine.last_sequence + 1, "replay: records out of sequence");
  engine.last_sequence = sequence;
  const status = view.getUint8(at + RECORD_STATUS);
  const op = view.getUint8(at + 38);
  const applied_slot = status === Status.ok ? apply_outcome(engine, view, at, op, sequence, i) : -1;
  remember_id(engine, view, at, first_live_bucket,
    applied_slot !== -1 ? applied_slot : engine.prefetched_slot(i));
}

/**
 * Rebuilds the idempotency window from an entry whose outcomes the state already holds (loading
 * from storage: Postgres had them, the events only bring back their ids). Nothing else changes;
 * the figures remembered use the account's overdraft limit as it is now.
 */
export function remember_entry_ids(engine: GroupEngine, entry: ReplayEntry, view: DataView,
  body_offset: number): void {
  assert(entry.first_sequence + entry.record_count - 1 <= engine.last_sequence,
    "remember_entry_ids: only for entries the state already holds");
  engine.advance_time(entry.engine_time_ms);
  engine.epoch = Math.max(engine.epoch, entry.epoch);
  for (let i = 0; i < entry.record_count; i++) {
    remember_id(engine, view, body_offset + i * JOURNAL_RECORD_BYTES, -Infinity, -1);
  }
}

/**
 * Puts the record's order id in the window, unless the window drops it before replay ends.
 * `known_slot`: the order's account's slot when the caller has it, else -1 (then it is looked up).
 */
function remember_id(engine: GroupEngine, view: DataView, at: number, first_live_bucket: number,
  known_slot: number): void {
  const status = view.getUint8(at + RECORD_STATUS);
  if (!window_records(status)) return;
  const id_hi = view.getUint32(at + 4, true);
  // Read signed, then made unsigned: JSC compiled a getUint32 here as a call into the runtime (6%
  // of a recovery's samples in a bun:jsc profile), the signed read inline (docs/performance.md).
  const id_lo = view.getInt32(at, true) >>> 0;
  // An expiry is not an order (id 0). A client's order with op expire_hold is one: op_unknown,
  // remembered like any other refusal.
  if (id_hi === 0 && id_lo === 0) return;
  const bucket = engine.window.bucket_of(id_hi, id_lo);
  if (bucket < first_live_bucket) return; // dropped by the time replay ends
  const accounts = engine.accounts;
  const balance = view.getFloat64(at + RECORD_BALANCE_AFTER, true);
  const held = view.getFloat64(at + RECORD_HELD_AFTER, true);
  const slot = known_slot !== -1 ? known_slot : order_account(engine, view, at);
  const available = slot === -1 ? 0 : balance - held + accounts.overdraft_limit_minor(slot);
  engine.window.insert_in(bucket, id_hi, id_lo, order_digest(view, at),
    view.getUint32(at + 32, true), status, view.getFloat64(at + RECORD_SEQUENCE, true), balance,
    available);
}

/** The order's partner's account it names, or -1 (then the engine showed 0). */
function order_account(engine: GroupEngine, view: DataView, at: number): number {
  return engine.accounts.find(view.getUint32(at + 32, true), view.getUint32(at + 12, true),
    view.getUint32(at + 8, true));
}

/**
 * The account of the record's partner whose id is at id_at (the order's account or ref): the slot
 * the entry's prefetch found, or, when it found none (opened earlier in the entry), looked up.
 */
function account_slot(engine: GroupEngine, view: DataView, at: number, id_at: number,
  prefetched: number): number {
  if (prefetched !== -1) return prefetched;
  const slot = engine.accounts.find(view.getUint32(at + 32, true), view.getUint32(id_at + 4, true),
    view.getUint32(id_at, true));
  assert(slot !== -1, "replay: a recorded outcome names an unknown account");
  return slot;
}

/** Applies an ok record's outcome (record i of its entry); returns its account's slot. */
function apply_outcome(engine: GroupEngine, view: DataView, at: number, op: number,
  sequence: number, i: number): number {
  const a = engine.accounts;
  if (op === Op.open_account) {
    const slot = a.open(view.getUint32(at + 12, true), view.getUint32(at + 8, true),
      view.getUint32(at + 32, true), view.getUint16(at + 36, true),
      view.getUint32(at + 24, true) as AccountKind, read_u64_safe(view, at + 16));
    a.set_sequence(slot, sequence);
    return slot;
  }
  const slot = account_slot(engine, view, at, at + 8, engine.prefetched_slot(i));
  if (op !== Op.check) a.set_sequence(slot, sequence);
  apply_to_account(engine, view, at, op, sequence, slot, i);
  return slot;
}

function apply_to_account(engine: GroupEngine, view: DataView, at: number, op: number,
  sequence: number, slot: number, i: number): void {
  const a = engine.accounts;
  const balance_after = view.getFloat64(at + RECORD_BALANCE_AFTER, true);
  const held_after = view.getFloat64(at + RECORD_HELD_AFTER, true);
  // Guarded: a template message is built on every call, even when the condition holds.
  if (!is_op(op)) assert(false, `replay: op ${op} recorded`);
  switch (op) {
    case Op.credit:
    case Op.debit:
      a.set_balance_minor(slot, balance_after);
      return;
    case Op.check:
      return;
    case Op.hold: {
      const timeout_ms = view.getUint32(at + 24, true);
      const expires_at_ms = timeout_ms === 0 ? 0 : engine.engine_time_ms + timeout_ms;
      engine.holds.open(view.getUint32(at + 32, true), view.getUint32(at + 4, true),
        view.getUint32(at, true), slot, read_u64_safe(view, at + 16), expires_at_ms);
      a.set_held_minor(slot, held_after);
      a.add_open_hold_count(slot, 1);
      return;
    }
    case Op.capture:
      return close_hold(engine, view, at, slot, HoldState.captured, balance_after, held_after);
    case Op.release:
      return close_hold(engine, view, at, slot, HoldState.released, balance_after, held_after);
    case Op.expire_hold:
      return close_hold(engine, view, at, slot, HoldState.expired, balance_after, held_after);
    case Op.transfer: {
      const target = account_slot(engine, view, at, at + 24, engine.prefetched_target_slot(i));
      a.set_balance_minor(slot, balance_after);
      a.set_balance_minor(target, view.getFloat64(at + RECORD_COUNTER_AFTER, true));
      a.set_sequence(target, sequence);
      return;
    }
    case Op.freeze:
      a.set_state(slot, AccountState.frozen);
      return;
    case Op.unfreeze:
      a.set_state(slot, AccountState.open);
      return;
    case Op.set_overdraft:
      a.set_overdraft_limit_minor(slot, read_u64_safe(view, at + 16));
      return;
    case Op.close_account:
      a.set_state(slot, AccountState.closed);
      return;
    case Op.none:
    case Op.open_account: // applied by apply_outcome
      assert(false, `replay: op ${Op[op]} recorded as ok here`);
      return;
    default:
      assert_never(op, "op");
  }
}

function close_hold(engine: GroupEngine, view: DataView, at: number, slot: number,
  state: HoldState, balance_after: number, held_after: number): void {
  const hold = engine.holds.find(view.getUint32(at + 32, true), view.getUint32(at + 28, true),
    view.getUint32(at + 24, true));
  assert(hold !== -1, "replay: a recorded outcome names an unknown hold");
  assert(engine.holds.account_slot[hold] === slot, "replay: hold of another account");
  engine.holds.close(hold, state, engine.engine_time_ms);
  engine.holds.finish_close(hold);
  engine.accounts.set_balance_minor(slot, balance_after);
  engine.accounts.set_held_minor(slot, held_after);
  engine.accounts.add_open_hold_count(slot, -1);
}
