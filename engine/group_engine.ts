// One group's single-threaded state machine: applies batches of orders strictly in sequence,
// writes one Result per order, and journals every event (order or hold expiry) with its outcome.
// Nothing here allocates per order: the order is decoded into fields, the tables are typed arrays.

import { assert, assert_never } from "../common/assert.ts";
import {
  BATCH_ORDERS_MAX, ORDER_FLAG_LINKED, ORDER_ID_FUTURE_SKEW_MS_MAX, ORDER_SIZE_BYTES,
  RESULT_FLAG_REPLAYED, RESULT_SIZE_BYTES,
} from "../common/constants.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { read_u64_safe, write_i64 } from "../schema/layout.ts";
import { copy_words } from "../common/bytes.ts";
import { order_digest } from "./digest.ts";
import { HoldState } from "../schema/hold_state.ts";
import { order_id_time_ms } from "./idempotency.ts";
import {
  RECORD_BALANCE_AFTER, RECORD_COUNTER_AFTER, RECORD_HELD_AFTER, RECORD_ORDER, RECORD_RESERVED,
  RECORD_SEQUENCE, RECORD_STATUS,
} from "../schema/journal_record.ts";
import { EXPIRIES_PER_ENTRY_MAX, type JournalOutput } from "./journal_output.ts";
import { Prefetch } from "./prefetch.ts";
import { GroupRules, type GroupLimits } from "./rules.ts";

/**
 * Whether an order with this status is remembered in the idempotency window. Refusals of the id
 * itself (invalid, expired, conflicting) and busy (the window's budget is spent: resend later) are
 * not: every other outcome is, so a retry gets the same answer. Replay uses the same rule. The
 * switch is exhaustive, so a new Status fails the typecheck until someone decides.
 */
function status_window_rule(status: Status): boolean {
  switch (status) {
    case Status.id_invalid:
    case Status.expired:
    case Status.id_conflict:
    case Status.busy:
      return false;
    case Status.ok:
    case Status.insufficient_funds:
    case Status.account_not_found:
    case Status.account_frozen:
    case Status.account_closed:
    case Status.currency_mismatch:
    case Status.cross_partner:
    case Status.invalid:
    case Status.limit_exceeded:
    case Status.hold_not_found:
    case Status.hold_expired:
    case Status.hold_settled:
    case Status.linked_failed:
    case Status.account_exists:
    case Status.account_not_empty:
    case Status.same_account:
    case Status.amount_invalid:
    case Status.amount_out_of_range:
    case Status.balance_out_of_range:
    case Status.capture_exceeds_hold:
    case Status.chain_open:
    case Status.op_unknown:
    case Status.currency_invalid:
    case Status.forbidden:
    // Never an engine outcome (the main thread's answers), remembered if one ever were.
    case Status.pending:
    case Status.disk_full:
    case Status.not_primary:
      return true;
    default:
      return assert_never(status, "status");
  }
}

/** The rule per status byte, built once: the hot path reads a table, not a switch. */
const WINDOW_RECORDS = ((): Uint8Array => {
  const table = new Uint8Array(256);
  for (const value of Object.values(Status)) {
    if (typeof value === "number") table[value] = status_window_rule(value) ? 1 : 2;
  }
  return table;
})();

export function window_records(status: number): boolean {
  const rule = WINDOW_RECORDS[status]!;
  assert(rule !== 0, "a status the schema names");
  return rule === 1;
}

/** Orders of a cycle's runs one warm-up touches at once (more are touched in passes this size). */
const WARM_ORDERS_MAX = 1_024;

/** screen_id() outcomes besides a Status: the id is new, or a retry of a known order. */
const SCREEN_FRESH = -1;
const SCREEN_REPLAYED = -2;

export class GroupEngine extends GroupRules {
  readonly group: number;
  epoch: number;
  last_sequence = 0;

  // The batch being applied (set per batch, so no allocation per order).
  private input!: DataView;
  private input_offset = 0;
  private results!: DataView;
  private results_offset = 0;
  private journal!: JournalOutput;
  // Per order of the batch: its payload digest, screening outcome, and figures after it.
  private readonly order_payload_digest = new Uint32Array(BATCH_ORDERS_MAX);
  private readonly order_screen = new Int32Array(BATCH_ORDERS_MAX);
  /** The idempotency bucket of each order's id (computed once, used to look up and to insert). */
  private readonly order_bucket = new Float64Array(BATCH_ORDERS_MAX);
  private readonly order_window_at = new Int32Array(BATCH_ORDERS_MAX);
  /** The buckets of a chain's fresh ids, to check they all fit in the window at once. */
  private readonly chain_buckets = new Float64Array(BATCH_ORDERS_MAX);
  private readonly order_status = new Uint8Array(BATCH_ORDERS_MAX);
  private readonly order_account = new Int32Array(BATCH_ORDERS_MAX);
  private readonly order_counter = new Int32Array(BATCH_ORDERS_MAX);
  private readonly order_balance = new Float64Array(BATCH_ORDERS_MAX);
  private readonly order_held = new Float64Array(BATCH_ORDERS_MAX);
  private readonly order_available = new Float64Array(BATCH_ORDERS_MAX);
  private readonly order_counter_balance = new Float64Array(BATCH_ORDERS_MAX);
  private readonly prefetch = new Prefetch();
  /** A cycle's runs of this group, warmed together before they apply (warm_gather, warm_load). */
  private readonly warmup = new Prefetch(WARM_ORDERS_MAX);

  constructor(group: number, epoch: number, limits: GroupLimits) {
    super(limits);
    this.group = group;
    this.epoch = epoch;
  }

  /**
   * Applies `count` orders (40-byte structs at input_offset) stamped with engine time, writes their
   * results at results_offset, and appends one journal entry (expiries due first, then the orders).
   */
  apply_batch(input: DataView, input_offset: number, count: number, engine_time_ms: number,
    results: DataView, results_offset: number, journal: JournalOutput): void {
    assert(count >= 1 && count <= BATCH_ORDERS_MAX, "batch size out of range");
    this.input = input;
    this.input_offset = input_offset;
    this.results = results;
    this.results_offset = results_offset;
    this.journal = journal;
    this.advance_time(engine_time_ms);
    journal.begin_entry(this.group, this.epoch, this.last_sequence + 1, engine_time_ms);
    this.expire_due_holds();
    this.prefetch_orders(input, input_offset, ORDER_SIZE_BYTES, count);
    let k = 0;
    while (k < count) {
      if ((input.getUint8(this.order_offset(k) + 39) & ORDER_FLAG_LINKED) === 0) {
        this.apply_single(k);
        k++;
        continue;
      }
      let end = k;
      while (end < count && (input.getUint8(this.order_offset(end) + 39) & ORDER_FLAG_LINKED) !== 0) end++;
      const open = end === count; // the batch ends inside the chain
      if (!open) end++;
      this.apply_chain(k, end, open);
      k = end;
    }
    journal.end_entry();
  }

  /**
   * Touches what `count` orders (40-byte structs from `offset`, `stride` bytes apart: a batch, or
   * journal records in replay) will look up, before any is applied (engine/prefetch.ts).
   */
  prefetch_orders(view: DataView, offset: number, stride: number, count: number): void {
    this.prefetch.orders(this.accounts, this.holds, view, offset, stride, count);
  }

  /**
   * Adds a batch that will apply this cycle to the warm-up under way: an engine worker gathers
   * every run of a group in its cycle, then warm_load touches their lookups back to back. A
   * request's run holds a few orders (10 over 4 groups: about 2.5), too few for its own
   * prefetch_orders to overlap their misses (docs/performance.md).
   */
  warm_gather(view: DataView, offset: number, count: number): void {
    this.warmup.gather(this.accounts, this.holds, view, offset, ORDER_SIZE_BYTES, count);
  }

  /** Touches what the gathered batches look up (each batch's prefetch then finds it in cache). */
  warm_load(view: DataView): void {
    this.warmup.load(this.accounts, this.holds, view);
  }

  /** Order k of the last prefetch_orders: its account's slot found then, or -1 (not there). */
  prefetched_slot(k: number): number {
    return this.prefetch.order_slot[k]!;
  }

  /** Order k of the last prefetch_orders: a transfer's target's slot found then, or -1. */
  prefetched_target_slot(k: number): number {
    return this.prefetch.order_target_slot[k]!;
  }

  /** Advances engine time with no orders: expires due holds (journaled as their own events). */
  tick(engine_time_ms: number, journal: JournalOutput): void {
    this.journal = journal;
    this.advance_time(engine_time_ms);
    if (this.holds.next_expired(engine_time_ms) === -1) return;
    journal.begin_entry(this.group, this.epoch, this.last_sequence + 1, engine_time_ms);
    this.expire_due_holds();
    journal.end_entry();
  }

  /** Moves engine time forward: the window forgets ids older than it, old closed holds go. */
  advance_time(engine_time_ms: number): void {
    assert(engine_time_ms >= this.engine_time_ms, "engine time never goes backwards");
    this.engine_time_ms = engine_time_ms;
    this.window.evict(engine_time_ms);
    this.holds.reclaim_closed_before(engine_time_ms - this.window.window_ms);
  }

  private order_offset(k: number): number {
    return this.input_offset + k * ORDER_SIZE_BYTES;
  }

  private decode(k: number): void {
    const view = this.input;
    const at = this.order_offset(k);
    this.o_id_lo = view.getUint32(at, true);
    this.o_id_hi = view.getUint32(at + 4, true);
    this.o_account_lo = view.getUint32(at + 8, true);
    this.o_account_hi = view.getUint32(at + 12, true);
    this.o_amount = read_u64_safe(view, at + 16);
    this.o_ref_lo = view.getUint32(at + 24, true);
    this.o_ref_hi = view.getUint32(at + 28, true);
    this.o_partner = view.getUint32(at + 32, true);
    this.o_currency = view.getUint16(at + 36, true);
    this.o_op = view.getUint8(at + 38);
    this.o_account_prefetched = this.prefetch.order_slot[k]!;
    this.o_target_prefetched = this.prefetch.order_target_slot[k]!;
    this.order_payload_digest[k] = order_digest(view, at);
  }

  /** Classifies the current order's id: fresh, a replay of a known order, or a refusal status. */
  private screen_id(k: number): number {
    if (this.o_id_hi === 0 && this.o_id_lo === 0) return Status.id_invalid;
    const id_time_ms = order_id_time_ms(this.o_id_hi, this.o_id_lo);
    if (id_time_ms > this.engine_time_ms + ORDER_ID_FUTURE_SKEW_MS_MAX) return Status.id_invalid;
    if (id_time_ms < this.engine_time_ms - this.window.window_ms) return Status.expired;
    const bucket = this.window.bucket_of(this.o_id_hi, this.o_id_lo);
    this.order_bucket[k] = bucket;
    const at = this.window.find_in(bucket, this.o_partner, this.o_id_hi, this.o_id_lo);
    if (at !== -1) {
      if (this.window.digest[at] !== this.order_payload_digest[k]) return Status.id_conflict;
      this.order_window_at[k] = at;
      return SCREEN_REPLAYED;
    }
    if (this.window.room_in(bucket) === 0) return Status.busy;
    return SCREEN_FRESH;
  }

  private apply_single(k: number): void {
    this.decode(k);
    const screen = this.screen_id(k);
    if (screen === SCREEN_REPLAYED) return this.write_replayed_result(k);
    this.order_screen[k] = screen;
    if (screen === SCREEN_FRESH) {
      this.order_status[k] = this.execute();
    } else {
      this.o_account_slot = -1;
      this.o_counter_slot = -1;
      this.order_status[k] = screen;
    }
    this.note_slots(k);
    this.note_figures(k);
    this.emit(k);
  }

  /** A linked chain [first, end): all of it applies, or none of it does. */
  private apply_chain(first: number, end: number, open: boolean): void {
    const refusal = this.screen_chain(first, end, open);
    if (refusal !== Status.ok) return this.refuse_chain(first, end, refusal);
    this.begin_chain();
    let failed_at = -1;
    let failed_status: Status = Status.ok;
    for (let k = first; k < end; k++) {
      this.decode(k);
      const status = this.execute();
      this.note_slots(k);
      if (status !== Status.ok) {
        failed_at = k;
        failed_status = status;
        break;
      }
      this.note_figures(k);
    }
    if (failed_at === -1) this.commit_chain();
    else this.roll_back_chain();
    for (let k = first; k < end; k++) {
      if (failed_at === -1) {
        this.order_status[k] = Status.ok;
      } else {
        this.order_status[k] = k === failed_at ? failed_status : Status.linked_failed;
        if (k > failed_at) {
          // Never executed: its own account, not the slots the failing order left behind.
          this.decode(k);
          this.o_account_slot = -1;
          this.o_counter_slot = -1;
          this.note_slots(k);
        }
        this.forget_unopened_slots(k);
        this.note_figures(k); // after roll-back: the figures as they stand
      }
      this.emit(k);
    }
  }

  /** Screens every order of a chain; Status.ok when the chain may be applied. */
  private screen_chain(first: number, end: number, open: boolean): Status {
    let fresh_count = 0;
    let cross_partner = false;
    let not_chainable = false;
    let partner = -1;
    for (let k = first; k < end; k++) {
      this.decode(k);
      const screen = this.screen_id(k);
      this.order_screen[k] = screen;
      if (screen === SCREEN_FRESH) this.chain_buckets[fresh_count++] = this.order_bucket[k]!;
      if (partner === -1) partner = this.o_partner;
      if (this.o_partner !== partner) cross_partner = true;
      if (!GroupRules.chainable(this.o_op)) not_chainable = true;
    }
    // As the router refuses it (router/chains.ts), open or not: the same answer either way.
    if (cross_partner) return Status.cross_partner;
    if (open) return Status.chain_open;
    if (not_chainable || this.has_duplicate_ids(first, end)) return Status.invalid;
    if (fresh_count !== end - first) return Status.linked_failed;
    if (!this.window.fits(this.chain_buckets, fresh_count)) return Status.busy;
    return Status.ok;
  }

  private has_duplicate_ids(first: number, end: number): boolean {
    const view = this.input;
    for (let a = first; a < end; a++) {
      const at_a = this.order_offset(a);
      for (let b = a + 1; b < end; b++) {
        const at_b = this.order_offset(b);
        if (view.getUint32(at_a, true) !== view.getUint32(at_b, true)) continue;
        if (view.getUint32(at_a + 4, true) === view.getUint32(at_b + 4, true)) return true;
      }
    }
    return false;
  }

  private refuse_chain(first: number, end: number, refusal: Status): void {
    for (let k = first; k < end; k++) {
      this.decode(k);
      // A fresh id is screened again: an earlier order of this chain may since have recorded the
      // same id, or taken the window's last free entry (recording it twice, or into a full
      // window, would fail an assertion and stop the group).
      let screen = this.order_screen[k]!;
      if (screen === SCREEN_FRESH) screen = this.screen_id(k);
      if (screen === SCREEN_REPLAYED) {
        this.write_replayed_result(k);
        continue;
      }
      this.o_account_slot = -1;
      this.o_counter_slot = -1;
      this.note_slots(k);
      this.note_figures(k);
      this.order_status[k] = screen === SCREEN_FRESH ? refusal : screen;
      // A fresh id refused for its chain's sake is still recorded: a retry gets the same answer.
      this.emit(k);
    }
  }

  /** Records which accounts the current order touched; refused early, its own account if any. */
  private note_slots(k: number): void {
    let slot = this.o_account_slot;
    if (slot === -1) slot = this.o_account_prefetched;
    if (slot === -1) {
      slot = this.accounts.find(this.o_partner, this.o_account_hi, this.o_account_lo);
    }
    this.order_account[k] = slot;
    this.order_counter[k] = this.o_counter_slot;
  }

  /**
   * After a chain's roll-back, the accounts it opened no longer exist (they were the newest slots):
   * an order that named one shows the figures of no account (0), as replay will.
   */
  private forget_unopened_slots(k: number): void {
    const count = this.accounts.count;
    if (this.order_account[k]! >= count) this.order_account[k] = -1;
    if (this.order_counter[k]! >= count) this.order_counter[k] = -1;
  }

  private note_figures(k: number): void {
    const slot = this.order_account[k]!;
    const a = this.accounts;
    this.order_balance[k] = slot === -1 ? 0 : a.balance_minor(slot);
    this.order_held[k] = slot === -1 ? 0 : a.held_minor(slot);
    this.order_available[k] = slot === -1 ? 0 : a.available_minor(slot);
    const counter = this.order_counter[k]!;
    this.order_counter_balance[k] = counter === -1 ? 0 : a.balance_minor(counter);
  }

  /** Gives the order its sequence, writes its result and journal record, remembers its id. */
  private emit(k: number): void {
    const sequence = ++this.last_sequence;
    const status = this.order_status[k]!;
    const input = this.input;
    const order_at = this.order_offset(k);
    const results = this.results;
    const result_at = this.results_offset + k * RESULT_SIZE_BYTES;
    copy_words(input, order_at, results, result_at, 2);
    write_i64(results, result_at + 8, sequence);
    write_i64(results, result_at + 16, this.order_balance[k]!);
    write_i64(results, result_at + 24, this.order_available[k]!);
    results.setUint32(result_at + 32, status, true); // status, flags 0, reserved16 0
    results.setUint32(result_at + 36, 0, true);

    const journal = this.journal;
    const record_at = journal.next_record(sequence);
    const record = journal.view;
    copy_words(input, order_at, record, record_at + RECORD_ORDER, 10);
    this.write_outcome(record, record_at, sequence, this.order_balance[k]!, this.order_held[k]!,
      this.order_counter_balance[k]!, status);

    const slot = this.order_account[k]!;
    // An account's sequence is the last event that changed it: a check changes nothing.
    const changed = status === Status.ok && input.getUint8(order_at + 38) !== Op.check;
    if (changed && slot !== -1) this.accounts.set_sequence(slot, sequence);
    const counter = this.order_counter[k]!;
    if (changed && counter !== -1) this.accounts.set_sequence(counter, sequence);
    if (!window_records(status)) return;
    this.window.insert_in(this.order_bucket[k]!, input.getUint32(order_at + 4, true),
      input.getUint32(order_at, true),
      this.order_payload_digest[k]!, input.getUint32(order_at + 32, true), status, sequence,
      this.order_balance[k]!, this.order_available[k]!);
  }

  private write_outcome(record: DataView, at: number, sequence: number, balance: number,
    held: number, counter_balance: number, status: number): void {
    record.setFloat64(at + RECORD_SEQUENCE, sequence, true);
    record.setFloat64(at + RECORD_BALANCE_AFTER, balance, true);
    record.setFloat64(at + RECORD_HELD_AFTER, held, true);
    record.setFloat64(at + RECORD_COUNTER_AFTER, counter_balance, true);
    record.setUint8(at + RECORD_STATUS, status);
    record.setUint8(at + RECORD_RESERVED, 0);
    record.setUint16(at + RECORD_RESERVED + 1, 0, true);
    record.setUint32(at + RECORD_RESERVED + 3, 0, true);
  }

  /** A retry of a known order: its original result, flagged replayed. Not a new event. */
  private write_replayed_result(k: number): void {
    const at = this.order_window_at[k]!;
    const w = this.window;
    const results = this.results;
    const result_at = this.results_offset + k * RESULT_SIZE_BYTES;
    copy_words(this.input, this.order_offset(k), results, result_at, 2);
    write_i64(results, result_at + 8, w.sequence(at));
    write_i64(results, result_at + 16, w.balance_minor[at]!);
    write_i64(results, result_at + 24, w.available_minor[at]!);
    results.setUint8(result_at + 32, w.status[at]!);
    results.setUint8(result_at + 33, RESULT_FLAG_REPLAYED);
    results.setUint16(result_at + 34, 0, true);
    results.setUint32(result_at + 36, 0, true);
  }

  /** Expires the holds whose timeout has passed in engine time: each is an event of its own. */
  private expire_due_holds(): void {
    const holds = this.holds;
    const a = this.accounts;
    for (let n = 0; n < EXPIRIES_PER_ENTRY_MAX; n++) {
      const hold = holds.next_expired(this.engine_time_ms);
      if (hold === -1) return;
      const slot = holds.account_slot[hold]!;
      a.add_held_minor(slot, -holds.amount_minor[hold]!);
      a.add_open_hold_count(slot, -1);
      holds.close(hold, HoldState.expired, this.engine_time_ms);
      holds.finish_close(hold);
      const sequence = ++this.last_sequence;
      a.set_sequence(slot, sequence);
      this.write_expiry_record(hold, slot, sequence);
    }
  }

  private write_expiry_record(hold: number, slot: number, sequence: number): void {
    const a = this.accounts;
    const record = this.journal.view;
    const at = this.journal.next_record(sequence);
    record.setUint32(at, 0, true); // an expiry is not an order: id 0
    record.setUint32(at + 4, 0, true);
    record.setUint32(at + 8, a.id_lo(slot), true);
    record.setUint32(at + 12, a.id_hi(slot), true);
    write_i64(record, at + 16, this.holds.amount_minor[hold]!);
    record.setUint32(at + 24, this.holds.id_lo[hold]!, true);
    record.setUint32(at + 28, this.holds.id_hi[hold]!, true);
    record.setUint32(at + 32, a.partner(slot), true);
    record.setUint16(at + 36, a.currency(slot), true);
    record.setUint8(at + 38, Op.expire_hold);
    record.setUint8(at + 39, 0);
    this.write_outcome(record, at, sequence, a.balance_minor(slot), a.held_minor(slot), 0,
      Status.ok);
  }
}
