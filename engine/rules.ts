// The business rules of one group, one op at a time (docs/design.md section 2). Each rule decides a
// Status from the current order (decoded into the o_* fields by GroupEngine) and, on ok, applies it.
// Outcomes are values: a rule never throws for a business reason. Inside a linked chain every change
// is logged first so the chain can be rolled back (see save_account and the hold logs).

import { assert, assert_never } from "../common/assert.ts";
import {
  BALANCE_MINOR_MAX, BATCH_ORDERS_MAX, CURRENCY_CODE_MAX, HOLD_TIMEOUT_MS_MAX,
} from "../common/constants.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { is_op } from "../schema/vocabulary.ts";
import { AccountTable } from "./accounts.ts";
import { HoldState } from "../schema/hold_state.ts";
import { HoldTable } from "./holds.ts";
import { IdempotencyWindow } from "./idempotency.ts";

export interface GroupLimits {
  accounts_max: number;
  holds_max: number;
  /** Entries of the idempotency window: a power of two. */
  idempotency_entries_max: number;
  idempotency_window_ms: number;
}

// A chain touches at most two accounts per order.
const UNDO_ACCOUNTS_MAX = BATCH_ORDERS_MAX * 2;

export class GroupRules {
  readonly accounts: AccountTable;
  readonly holds: HoldTable;
  readonly window: IdempotencyWindow;
  engine_time_ms = 0;

  // The order being decided.
  protected o_id_hi = 0;
  protected o_id_lo = 0;
  protected o_account_hi = 0;
  protected o_account_lo = 0;
  /** -1 when the amount exceeds AMOUNT_MINOR_MAX. */
  protected o_amount = 0;
  protected o_ref_hi = 0;
  protected o_ref_lo = 0;
  protected o_partner = 0;
  protected o_currency = 0;
  protected o_op = 0;
  /**
   * The slots of the order's account and of a transfer's target as the batch's prefetch found them
   * before any order applied (-1: not there then, so looked up now: an earlier order of the batch
   * may have opened it). Slots never move, and only accounts opened after the prefetch can go (a
   * chain's roll-back): a slot found then is still that account's.
   */
  protected o_account_prefetched = -1;
  protected o_target_prefetched = -1;
  /** Outputs of the rule: the slots it touched (-1: none). */
  protected o_account_slot = -1;
  protected o_counter_slot = -1;

  protected in_chain = false;
  private readonly undo_slot = new Int32Array(UNDO_ACCOUNTS_MAX);
  private readonly undo_balance = new Float64Array(UNDO_ACCOUNTS_MAX);
  private readonly undo_held = new Float64Array(UNDO_ACCOUNTS_MAX);
  private readonly undo_open_holds = new Uint32Array(UNDO_ACCOUNTS_MAX);
  private undo_count = 0;
  private readonly opened_holds = new Int32Array(BATCH_ORDERS_MAX);
  private opened_hold_count = 0;
  /** Accounts a chain opened: always the newest slots. */
  private opened_account_count = 0;
  private readonly closed_holds = new Int32Array(BATCH_ORDERS_MAX);
  private closed_hold_count = 0;

  constructor(limits: GroupLimits) {
    this.accounts = new AccountTable(limits.accounts_max);
    this.holds = new HoldTable(limits.holds_max);
    this.window = new IdempotencyWindow(limits.idempotency_entries_max, limits.idempotency_window_ms);
  }

  protected execute(): Status {
    this.o_account_slot = -1;
    this.o_counter_slot = -1;
    if (this.o_partner === 0) return Status.invalid;
    const op = this.o_op;
    if (!is_op(op)) return Status.op_unknown; // a byte no Op names
    switch (op) {
      case Op.credit: return this.credit();
      case Op.debit: return this.debit();
      case Op.check: return this.check();
      case Op.hold: return this.hold();
      case Op.capture: return this.capture();
      case Op.release: return this.release();
      case Op.transfer: return this.transfer();
      case Op.open_account: return this.open_account();
      case Op.freeze: return this.set_frozen(true);
      case Op.unfreeze: return this.set_frozen(false);
      case Op.set_overdraft: return this.set_overdraft();
      case Op.close_account: return this.close_account();
      case Op.none: return Status.op_unknown;
      case Op.expire_hold: return Status.op_unknown; // the engine's own event, never a client's
      default: return assert_never(op, "op");
    }
  }

  /**
   * Ops that may sit in a linked chain: money movements, checks, and opening an account (so an
   * account and its opening balance arrive together or not at all). Not the other administration.
   */
  protected static chainable(op: number): boolean {
    if (!is_op(op)) return false;
    switch (op) {
      case Op.credit: case Op.debit: case Op.check: case Op.hold: case Op.capture:
      case Op.release: case Op.transfer: case Op.open_account:
        return true;
      case Op.none: case Op.freeze: case Op.unfreeze: case Op.set_overdraft:
      case Op.close_account: case Op.expire_hold:
        return false;
      default:
        return assert_never(op, "op");
    }
  }

  private positive_amount(): Status {
    if (this.o_amount === -1) return Status.amount_out_of_range;
    if (this.o_amount === 0) return Status.amount_invalid;
    return Status.ok;
  }

  /** Finds the partner's account and checks it is not closed and matches. */
  private resolve_account(check_currency: boolean): Status {
    // Account ids are each partner's own: another partner's account of the same id is not found.
    const slot = this.o_account_prefetched !== -1 ? this.o_account_prefetched
      : this.accounts.find(this.o_partner, this.o_account_hi, this.o_account_lo);
    if (slot === -1) return Status.account_not_found;
    this.o_account_slot = slot;
    if (this.accounts.state(slot) === AccountState.closed) return Status.account_closed;
    if (check_currency && this.accounts.currency(slot) !== this.o_currency) {
      return Status.currency_mismatch;
    }
    return Status.ok;
  }

  private is_frozen(slot: number): boolean {
    return this.accounts.state(slot) === AccountState.frozen;
  }

  /** Would crediting `amount` keep balance + overdraft limit exact? */
  private credit_fits(slot: number, amount: number): boolean {
    const a = this.accounts;
    return a.balance_minor(slot) + a.overdraft_limit_minor(slot) <= BALANCE_MINOR_MAX - amount;
  }

  private credit(): Status {
    const status = this.positive_amount() || this.resolve_account(true);
    if (status !== Status.ok) return status;
    const slot = this.o_account_slot;
    if (!this.credit_fits(slot, this.o_amount)) return Status.balance_out_of_range;
    this.save_account(slot);
    this.accounts.add_balance_minor(slot, this.o_amount);
    return Status.ok;
  }

  private debit(): Status {
    const status = this.positive_amount() || this.resolve_account(true);
    if (status !== Status.ok) return status;
    const slot = this.o_account_slot;
    if (this.is_frozen(slot)) return Status.account_frozen;
    if (this.accounts.available_minor(slot) < this.o_amount) return Status.insufficient_funds;
    this.save_account(slot);
    this.accounts.add_balance_minor(slot, -this.o_amount);
    return Status.ok;
  }

  private check(): Status {
    const status = this.positive_amount() || this.resolve_account(true);
    if (status !== Status.ok) return status;
    const available = this.accounts.available_minor(this.o_account_slot);
    return available < this.o_amount ? Status.insufficient_funds : Status.ok;
  }

  private hold(): Status {
    const status = this.positive_amount() || this.resolve_account(true);
    if (status !== Status.ok) return status;
    const slot = this.o_account_slot;
    if (this.is_frozen(slot)) return Status.account_frozen;
    if (this.o_ref_hi !== 0 || this.o_ref_lo > HOLD_TIMEOUT_MS_MAX) return Status.invalid;
    if (this.holds.is_full()) return Status.limit_exceeded;
    if (this.accounts.available_minor(slot) < this.o_amount) return Status.insufficient_funds;
    this.save_account(slot);
    this.accounts.add_held_minor(slot, this.o_amount);
    this.accounts.add_open_hold_count(slot, 1);
    const expires_at_ms = this.o_ref_lo === 0 ? 0 : this.engine_time_ms + this.o_ref_lo;
    const hold = this.holds.open(this.o_partner, this.o_id_hi, this.o_id_lo, slot, this.o_amount,
      expires_at_ms);
    if (this.in_chain) this.opened_holds[this.opened_hold_count++] = hold;
    return Status.ok;
  }

  /** The open hold named by ref on the order's account, or a status saying why there is none. */
  private resolve_hold(): number {
    const hold = this.holds.find(this.o_partner, this.o_ref_hi, this.o_ref_lo);
    if (hold === -1) return -Status.hold_not_found;
    if (this.holds.account_slot[hold] !== this.o_account_slot) return -Status.hold_not_found;
    const state = this.holds.state[hold];
    if (state === HoldState.expired) return -Status.hold_expired;
    if (state !== HoldState.open) return -Status.hold_settled;
    const expires_at_ms = this.holds.expires_at_ms[hold]!;
    // Due but not yet expired (expiries per entry are capped): it is expired all the same.
    if (expires_at_ms !== 0 && expires_at_ms <= this.engine_time_ms) return -Status.hold_expired;
    return hold;
  }

  private capture(): Status {
    const status = this.positive_amount() || this.resolve_account(true);
    if (status !== Status.ok) return status;
    const slot = this.o_account_slot;
    if (this.is_frozen(slot)) return Status.account_frozen;
    const hold = this.resolve_hold();
    if (hold < 0) return -hold as Status;
    const held_amount = this.holds.amount_minor[hold]!;
    if (this.o_amount > held_amount) return Status.capture_exceeds_hold;
    this.save_account(slot);
    this.accounts.add_balance_minor(slot, -this.o_amount);
    this.close_hold(hold, HoldState.captured);
    return Status.ok;
  }

  private release(): Status {
    if (this.o_amount !== 0) return Status.amount_invalid;
    const status = this.resolve_account(true);
    if (status !== Status.ok) return status;
    const hold = this.resolve_hold();
    if (hold < 0) return -hold as Status;
    this.save_account(this.o_account_slot);
    this.close_hold(hold, HoldState.released);
    return Status.ok;
  }

  private close_hold(hold: number, state: HoldState): void {
    const slot = this.holds.account_slot[hold]!;
    this.accounts.add_held_minor(slot, -this.holds.amount_minor[hold]!);
    this.accounts.add_open_hold_count(slot, -1);
    this.holds.close(hold, state, this.engine_time_ms);
    if (this.in_chain) this.closed_holds[this.closed_hold_count++] = hold;
    else this.holds.finish_close(hold);
  }

  private transfer(): Status {
    const status = this.positive_amount() || this.resolve_account(true);
    if (status !== Status.ok) return status;
    if (this.o_ref_hi === this.o_account_hi && this.o_ref_lo === this.o_account_lo) {
      return Status.same_account;
    }
    const source = this.o_account_slot;
    if (this.is_frozen(source)) return Status.account_frozen;
    // The target is looked up among the order's partner's accounts, so another partner's account
    // is not found wherever it lives: how partners are grouped never changes the answer.
    const target = this.o_target_prefetched !== -1 ? this.o_target_prefetched
      : this.accounts.find(this.o_partner, this.o_ref_hi, this.o_ref_lo);
    if (target === -1) return Status.account_not_found;
    this.o_counter_slot = target;
    if (this.accounts.state(target) === AccountState.closed) return Status.account_closed;
    if (this.accounts.currency(target) !== this.o_currency) return Status.currency_mismatch;
    if (this.accounts.available_minor(source) < this.o_amount) return Status.insufficient_funds;
    if (!this.credit_fits(target, this.o_amount)) return Status.balance_out_of_range;
    this.save_account(source);
    this.save_account(target);
    this.accounts.add_balance_minor(source, -this.o_amount);
    this.accounts.add_balance_minor(target, this.o_amount);
    return Status.ok;
  }

  private open_account(): Status {
    if (this.o_currency === 0 || this.o_currency > CURRENCY_CODE_MAX) return Status.currency_invalid;
    const kind = this.o_ref_lo;
    if (this.o_ref_hi !== 0 || kind < AccountKind.partner || kind > AccountKind.user) {
      return Status.invalid;
    }
    if (this.o_amount === -1) return Status.amount_out_of_range;
    const existing = this.accounts.find(this.o_partner, this.o_account_hi, this.o_account_lo);
    if (existing !== -1) {
      this.o_account_slot = existing;
      return Status.account_exists;
    }
    if (this.accounts.is_full()) return Status.limit_exceeded;
    this.o_account_slot = this.accounts.open(this.o_account_hi, this.o_account_lo, this.o_partner,
      this.o_currency, kind as AccountKind, this.o_amount);
    if (this.in_chain) this.opened_account_count++;
    return Status.ok;
  }

  private set_frozen(frozen: boolean): Status {
    if (this.o_amount !== 0) return Status.amount_invalid;
    const status = this.resolve_account(false);
    if (status !== Status.ok) return status;
    this.accounts.set_state(this.o_account_slot, frozen ? AccountState.frozen : AccountState.open);
    return Status.ok;
  }

  private set_overdraft(): Status {
    if (this.o_amount === -1) return Status.amount_out_of_range;
    const status = this.resolve_account(false);
    if (status !== Status.ok) return status;
    const slot = this.o_account_slot;
    const a = this.accounts;
    if (a.balance_minor(slot) > BALANCE_MINOR_MAX - this.o_amount) {
      return Status.balance_out_of_range;
    }
    // Lowering the limit below what is already used would make available negative.
    if (a.held_minor(slot) > a.balance_minor(slot) + this.o_amount) {
      return Status.insufficient_funds;
    }
    a.set_overdraft_limit_minor(slot, this.o_amount);
    return Status.ok;
  }

  private close_account(): Status {
    if (this.o_amount !== 0) return Status.amount_invalid;
    const status = this.resolve_account(false);
    if (status !== Status.ok) return status;
    const slot = this.o_account_slot;
    const a = this.accounts;
    if (a.balance_minor(slot) !== 0 || a.held_minor(slot) !== 0 || a.open_hold_count(slot) !== 0) {
      return Status.account_not_empty;
    }
    a.set_state(slot, AccountState.closed);
    return Status.ok;
  }

  private save_account(slot: number): void {
    if (!this.in_chain) return;
    assert(this.undo_count < UNDO_ACCOUNTS_MAX, "chain undo log full");
    const at = this.undo_count++;
    this.undo_slot[at] = slot;
    this.undo_balance[at] = this.accounts.balance_minor(slot);
    this.undo_held[at] = this.accounts.held_minor(slot);
    this.undo_open_holds[at] = this.accounts.open_hold_count(slot);
  }

  protected begin_chain(): void {
    assert(!this.in_chain, "chains do not nest");
    this.in_chain = true;
    this.undo_count = 0;
    this.opened_hold_count = 0;
    this.closed_hold_count = 0;
    this.opened_account_count = 0;
  }

  protected commit_chain(): void {
    for (let i = 0; i < this.closed_hold_count; i++) this.holds.finish_close(this.closed_holds[i]!);
    this.in_chain = false;
  }

  /** Restores every account and hold the chain touched, newest change first. */
  protected roll_back_chain(): void {
    for (let at = this.undo_count - 1; at >= 0; at--) {
      const slot = this.undo_slot[at]!;
      this.accounts.set_balance_minor(slot, this.undo_balance[at]!);
      this.accounts.set_held_minor(slot, this.undo_held[at]!);
      this.accounts.set_open_hold_count(slot, this.undo_open_holds[at]!);
    }
    for (let i = this.closed_hold_count - 1; i >= 0; i--) this.holds.unclose(this.closed_holds[i]!);
    for (let i = this.opened_hold_count - 1; i >= 0; i--) this.holds.unopen(this.opened_holds[i]!);
    for (let i = 0; i < this.opened_account_count; i++) this.accounts.unopen_last();
    this.in_chain = false;
  }
}
