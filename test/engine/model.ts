// A reference model of one group, written from docs/design.md section 2 and the comments of
// schema/balance.fbs, to check GroupEngine against: BigInt money, plain Maps, whole-state copies
// for linked chains, no typed arrays, no hashing. Slow and obvious on purpose. Where the design
// leaves an order of checks open, the model follows the engine's documented choice (noted inline),
// so that statuses can be compared exactly.
//
// The idempotency window, as engine/idempotency.ts documents it (written here from that text, not
// from its code): ids are counted in time buckets of bucket_ms (the power of two at or above
// (W + skew) / (256 - 4)) by the creation time they carry; the budget of capacity ids is pages of
// page_entries (the largest power of two up to 1,024 leaving 4,096 pages, at least 1), a bucket
// taking whole pages as it fills. A fresh id is busy when neither its bucket's last page nor a
// free page has room; a chain is busy when the pages its fresh ids add are more than are free;
// bucket n is forgotten whole once n < floor((engine time - W) / bucket_ms).
//
// Account ids and order ids (so hold ids) are each partner's own: every map is keyed by
// (partner, id), and nothing one partner does is visible to another.

import {
  BATCH_ORDERS_MAX, CURRENCY_CODE_MAX, HOLD_TIMEOUT_MS_MAX, ORDER_FLAG_LINKED,
  ORDER_ID_FUTURE_SKEW_MS_MAX, ORDER_ID_TIME_SHIFT_BITS,
} from "../../common/constants.ts";
import type { GroupLimits } from "../../engine/rules.ts";
import { AccountState } from "../../schema/generated/balance/wire/account-state.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";

export const MONEY_MAX = 2n ** 53n - 1n;

export interface ModelOrder {
  id: bigint;
  op: number;
  partner: number;
  account: bigint;
  amount: bigint;
  ref: bigint;
  currency: number;
  flags: number;
}

export interface ModelResult {
  status: Status;
  sequence: number;
  balance: bigint;
  available: bigint;
  replayed: boolean;
}

export interface ModelAccount {
  partner: number;
  currency: number;
  state: AccountState;
  balance: bigint;
  held: bigint;
  overdraft: bigint;
}

type HoldPhase = "open" | "captured" | "released" | "expired";

export interface ModelHold {
  partner: number;
  id: bigint;
  account: bigint;
  amount: bigint;
  /** Engine time at which it expires; 0: never. */
  expires_at_ms: number;
  phase: HoldPhase;
  closed_at_ms: number;
}

interface Remembered {
  payload: string;
  result: ModelResult;
  /** The time bucket the id is counted in. */
  bucket: number;
}

/** Time buckets of the idempotency window (engine/idempotency.ts: 256, 4 of them margin). */
export const MODEL_WINDOW_BUCKETS = 256;
const MODEL_WINDOW_BUCKET_MARGIN = 4;

/** Width in ms of one time bucket of the window. */
export function model_bucket_ms(window_ms: number): number {
  const span_ms = (window_ms + ORDER_ID_FUTURE_SKEW_MS_MAX) /
    (MODEL_WINDOW_BUCKETS - MODEL_WINDOW_BUCKET_MARGIN);
  let bucket_ms = 1; // the smallest power of two that covers the span
  while (bucket_ms < span_ms) bucket_ms *= 2;
  return bucket_ms;
}

/** The key of a partner's account, hold or order id in the model's maps. */
export function model_key(partner: number, id: bigint): string {
  return `${partner}/${id}`;
}

/** Outcome of looking at an order's id before its rules. */
type Screen = { kind: "fresh" } | { kind: "replayed"; result: ModelResult } |
  { kind: "refused"; status: Status };

function id_time_ms(id: bigint): number {
  return Number(id >> BigInt(ORDER_ID_TIME_SHIFT_BITS));
}

/** Everything of an order but its id: a retry must repeat it exactly (flags included). */
function payload_of(order: ModelOrder): string {
  return [order.op, order.partner, order.account, order.amount, order.ref, order.currency,
    order.flags].join("/");
}

/** Statuses about the id itself, or about room: not remembered, so a retry is decided anew. */
function remembered(status: Status): boolean {
  return status !== Status.id_invalid && status !== Status.expired &&
    status !== Status.id_conflict && status !== Status.busy;
}

// Money movements, checks, and opening an account (with its opening balance, atomically).
function is_chainable(op: number): boolean {
  return op === Op.credit || op === Op.debit || op === Op.check || op === Op.hold ||
    op === Op.capture || op === Op.release || op === Op.transfer || op === Op.open_account;
}

function copy_accounts(accounts: Map<string, ModelAccount>): Map<string, ModelAccount> {
  const copy = new Map<string, ModelAccount>();
  for (const [id, account] of accounts) copy.set(id, { ...account });
  return copy;
}

function copy_holds(holds: Map<string, ModelHold>): Map<string, ModelHold> {
  const copy = new Map<string, ModelHold>();
  for (const [id, hold] of holds) copy.set(id, { ...hold });
  return copy;
}

export class GroupModel {
  /** Keyed by model_key(partner, id), as are holds and the window. */
  accounts = new Map<string, ModelAccount>();
  holds = new Map<string, ModelHold>();
  /** The idempotency window: order -> the first answer, and how many ids each bucket holds. */
  readonly window = new Map<string, Remembered>();
  readonly bucket_counts = new Map<number, number>();
  readonly bucket_ms: number;
  /** The window's budget is pages of page_entries ids; a bucket takes whole pages as it fills. */
  readonly page_entries: number;
  readonly pages: number;
  sequence = 0;
  now_ms = 0;
  /** Hold expiries, in the order they happened (each an event with its own sequence). */
  readonly expiries: { partner: number; hold: bigint; sequence: number }[] = [];

  constructor(readonly limits: GroupLimits) {
    this.bucket_ms = model_bucket_ms(limits.idempotency_window_ms);
    const capacity = limits.idempotency_entries_max;
    // The largest power of two up to 1,024 that leaves at least 4,096 pages (at least 1).
    let page_entries = 1;
    while (page_entries * 2 <= 1024 && page_entries * 2 * 4096 <= capacity) page_entries *= 2;
    this.page_entries = page_entries;
    this.pages = capacity / page_entries;
  }

  private pages_of(count: number): number {
    return Math.ceil(count / this.page_entries);
  }

  private free_pages(): number {
    let used = 0;
    for (const count of this.bucket_counts.values()) used += this.pages_of(count);
    return this.pages - used;
  }

  /** The time bucket an id is counted in. */
  bucket_of(id: bigint): number {
    return Math.floor(id_time_ms(id) / this.bucket_ms);
  }

  /** Ids the window can still take into this id's bucket: its last page's rest, free pages. */
  room_for(id: bigint): number {
    const count = this.bucket_counts.get(this.bucket_of(id)) ?? 0;
    const last_page_rest = count % this.page_entries === 0 ? 0
      : this.page_entries - count % this.page_entries;
    return last_page_rest + this.free_pages() * this.page_entries;
  }

  /** Whether these ids (a chain's, all new) fit at once: the pages they add are free. */
  fits(ids: bigint[]): boolean {
    const adding = new Map<number, number>();
    for (const id of ids) adding.set(this.bucket_of(id), (adding.get(this.bucket_of(id)) ?? 0) + 1);
    let pages = 0;
    for (const [bucket, more] of adding) {
      const count = this.bucket_counts.get(bucket) ?? 0;
      pages += this.pages_of(count + more) - this.pages_of(count);
    }
    return pages <= this.free_pages();
  }

  available(account: ModelAccount): bigint {
    return account.balance - account.held + account.overdraft;
  }

  tick(now_ms: number): void {
    this.advance(now_ms);
    this.expire_due();
  }

  apply_batch(orders: ModelOrder[], now_ms: number): ModelResult[] {
    if (orders.length < 1 || orders.length > BATCH_ORDERS_MAX) throw new Error("batch size");
    this.advance(now_ms);
    this.expire_due();
    const results: ModelResult[] = [];
    let k = 0;
    while (k < orders.length) {
      let end = k;
      while (end < orders.length && (orders[end]!.flags & ORDER_FLAG_LINKED) !== 0) end++;
      if (end === k) {
        results.push(this.single(orders[k]!));
        k++;
        continue;
      }
      const open = end === orders.length;
      if (!open) end++;
      results.push(...this.chain(orders.slice(k, end), open));
      k = end;
    }
    return results;
  }

  private advance(now_ms: number): void {
    if (now_ms < this.now_ms) throw new Error("time goes backwards");
    this.now_ms = now_ms;
    const cutoff_ms = now_ms - this.limits.idempotency_window_ms;
    // The window forgets whole buckets: those ending before the cutoff's bucket.
    const first_live = Math.floor(cutoff_ms / this.bucket_ms);
    for (const bucket of [...this.bucket_counts.keys()]) {
      if (bucket < first_live) this.bucket_counts.delete(bucket);
    }
    for (const [id, known] of this.window) {
      if (known.bucket < first_live) this.window.delete(id);
    }
    // Settled holds are remembered (hold_settled / hold_expired) for the window, then forgotten.
    for (const [id, hold] of this.holds) {
      if (hold.phase !== "open" && hold.closed_at_ms < cutoff_ms) this.holds.delete(id);
    }
  }

  private expire_due(): void {
    const due = [...this.holds.values()].filter((hold) =>
      hold.phase === "open" && hold.expires_at_ms !== 0 && hold.expires_at_ms <= this.now_ms);
    // Earliest expiry first; ties by hold id, then partner (the engine's documented order).
    due.sort((a, b) => a.expires_at_ms - b.expires_at_ms || (a.id < b.id ? -1 : a.id > b.id ? 1 :
      a.partner - b.partner));
    for (const hold of due) {
      this.accounts.get(model_key(hold.partner, hold.account))!.held -= hold.amount;
      hold.phase = "expired";
      hold.closed_at_ms = this.now_ms;
      this.sequence++;
      this.expiries.push({ partner: hold.partner, hold: hold.id, sequence: this.sequence });
    }
  }

  private screen(order: ModelOrder): Screen {
    if (order.id === 0n) return { kind: "refused", status: Status.id_invalid };
    const created_ms = id_time_ms(order.id);
    if (created_ms > this.now_ms + ORDER_ID_FUTURE_SKEW_MS_MAX) {
      return { kind: "refused", status: Status.id_invalid };
    }
    if (created_ms < this.now_ms - this.limits.idempotency_window_ms) {
      return { kind: "refused", status: Status.expired };
    }
    const known = this.window.get(model_key(order.partner, order.id));
    if (known !== undefined) {
      if (known.payload !== payload_of(order)) return { kind: "refused", status: Status.id_conflict };
      return { kind: "replayed", result: { ...known.result, replayed: true } };
    }
    if (this.room_for(order.id) <= 0) return { kind: "refused", status: Status.busy };
    return { kind: "fresh" };
  }

  /** Gives an order its sequence and its result (figures of its own account, if visible). */
  private emit(order: ModelOrder, status: Status,
    figures = this.figures(order)): ModelResult {
    this.sequence++;
    const result = { status, sequence: this.sequence, ...figures, replayed: false };
    if (remembered(status)) {
      const bucket = this.bucket_of(order.id);
      const count = this.bucket_counts.get(bucket) ?? 0;
      const key = model_key(order.partner, order.id);
      if (this.window.has(key) || this.room_for(order.id) <= 0) {
        throw new Error("model: recording an id twice, or into a full window");
      }
      this.window.set(key, { payload: payload_of(order), result, bucket });
      this.bucket_counts.set(bucket, count + 1);
    }
    return result;
  }

  /** The figures of the order's partner's account it names; zeros when there is none. */
  private figures(order: ModelOrder): { balance: bigint; available: bigint } {
    const account = this.account_of(order);
    if (account === undefined) return { balance: 0n, available: 0n };
    return { balance: account.balance, available: this.available(account) };
  }

  private single(order: ModelOrder): ModelResult {
    const screen = this.screen(order);
    if (screen.kind === "replayed") return screen.result;
    if (screen.kind === "refused") return this.emit(order, screen.status);
    return this.emit(order, this.decide(order));
  }

  private chain(orders: ModelOrder[], open: boolean): ModelResult[] {
    const screens = orders.map((order) => this.screen(order));
    const refusal = this.chain_refusal(orders, screens, open);
    if (refusal !== Status.ok) return this.refuse_chain(orders, screens, refusal);
    const saved_accounts = copy_accounts(this.accounts);
    const saved_holds = copy_holds(this.holds);
    const statuses: Status[] = [];
    const figures: { balance: bigint; available: bigint }[] = [];
    for (const order of orders) {
      const status = this.decide(order);
      statuses.push(status);
      figures.push(this.figures(order));
      if (status !== Status.ok) break;
    }
    const failed = statuses.at(-1) !== Status.ok;
    if (failed) {
      this.accounts = saved_accounts;
      this.holds = saved_holds;
    }
    return orders.map((order, n) => {
      if (!failed) return this.emit(order, Status.ok, figures[n]!); // figures right after it
      const status = n === statuses.length - 1 ? statuses[n]! : Status.linked_failed;
      return this.emit(order, status);
    });
  }

  private chain_refusal(orders: ModelOrder[], screens: Screen[], open: boolean): Status {
    const partners = new Set(orders.map((order) => order.partner));
    if (partners.size > 1) return Status.cross_partner;
    if (open) return Status.chain_open;
    const ids = new Set(orders.map((order) => order.id));
    if (!orders.every((order) => is_chainable(order.op))) return Status.invalid;
    if (ids.size < orders.length) return Status.invalid;
    if (!screens.every((screen) => screen.kind === "fresh")) return Status.linked_failed;
    if (!this.fits(orders.map((order) => order.id))) return Status.busy;
    return Status.ok;
  }

  /** A refused chain: each order answered in turn, as a single order would be, but not applied. */
  private refuse_chain(orders: ModelOrder[], screens: Screen[], refusal: Status): ModelResult[] {
    return orders.map((order, n) => {
      let screen = screens[n]!;
      if (screen.kind === "fresh") screen = this.screen(order); // an earlier order may share its id
      if (screen.kind === "replayed") return screen.result;
      if (screen.kind === "refused") return this.emit(order, screen.status);
      return this.emit(order, refusal);
    });
  }

  // --- The rules ---------------------------------------------------------------------------------

  private decide(order: ModelOrder): Status {
    if (order.partner === 0) return Status.invalid;
    switch (order.op) {
      case Op.credit: return this.credit(order);
      case Op.debit: return this.debit(order);
      case Op.check: return this.check(order);
      case Op.hold: return this.hold(order);
      case Op.capture: return this.capture(order);
      case Op.release: return this.release(order);
      case Op.transfer: return this.transfer(order);
      case Op.open_account: return this.open_account(order);
      case Op.freeze: return this.set_state(order, AccountState.frozen);
      case Op.unfreeze: return this.set_state(order, AccountState.open);
      case Op.set_overdraft: return this.set_overdraft(order);
      case Op.close_account: return this.close_account(order);
      default: return Status.op_unknown;
    }
  }

  /** The order's partner's account it names. */
  private account_of(order: ModelOrder): ModelAccount | undefined {
    return this.accounts.get(model_key(order.partner, order.account));
  }

  private amount_status(amount: bigint): Status {
    if (amount > MONEY_MAX) return Status.amount_out_of_range;
    if (amount === 0n) return Status.amount_invalid;
    return Status.ok;
  }

  /** Order of checks (engine's choice): exists (for the order's partner), closed, currency. */
  private account_status(order: ModelOrder, check_currency: boolean): Status {
    const account = this.account_of(order);
    if (account === undefined) return Status.account_not_found;
    if (account.state === AccountState.closed) return Status.account_closed;
    if (check_currency && account.currency !== order.currency) return Status.currency_mismatch;
    return Status.ok;
  }

  private credit(order: ModelOrder): Status {
    const status = this.amount_status(order.amount) || this.account_status(order, true);
    if (status !== Status.ok) return status;
    const account = this.account_of(order)!;
    if (account.balance + account.overdraft + order.amount > MONEY_MAX) {
      return Status.balance_out_of_range;
    }
    account.balance += order.amount;
    return Status.ok;
  }

  private debit(order: ModelOrder): Status {
    const status = this.amount_status(order.amount) || this.account_status(order, true);
    if (status !== Status.ok) return status;
    const account = this.account_of(order)!;
    if (account.state === AccountState.frozen) return Status.account_frozen;
    if (this.available(account) < order.amount) return Status.insufficient_funds;
    account.balance -= order.amount;
    return Status.ok;
  }

  private check(order: ModelOrder): Status {
    const status = this.amount_status(order.amount) || this.account_status(order, true);
    if (status !== Status.ok) return status;
    const account = this.account_of(order)!;
    return this.available(account) < order.amount ? Status.insufficient_funds : Status.ok;
  }

  private hold(order: ModelOrder): Status {
    const status = this.amount_status(order.amount) || this.account_status(order, true);
    if (status !== Status.ok) return status;
    const account = this.account_of(order)!;
    if (account.state === AccountState.frozen) return Status.account_frozen;
    if (order.ref > BigInt(HOLD_TIMEOUT_MS_MAX)) return Status.invalid;
    if (this.holds.size >= this.limits.holds_max) return Status.limit_exceeded;
    if (this.available(account) < order.amount) return Status.insufficient_funds;
    account.held += order.amount;
    const expires_at_ms = order.ref === 0n ? 0 : this.now_ms + Number(order.ref);
    this.holds.set(model_key(order.partner, order.id), { partner: order.partner, id: order.id,
      account: order.account, amount: order.amount, expires_at_ms, phase: "open",
      closed_at_ms: 0 });
    return Status.ok;
  }

  /** The open hold `ref` of the order's account, or the status saying why there is none. */
  private hold_status(order: ModelOrder): Status {
    const hold = this.holds.get(model_key(order.partner, order.ref));
    if (hold === undefined || hold.account !== order.account) return Status.hold_not_found;
    if (hold.phase === "expired") return Status.hold_expired;
    if (hold.phase !== "open") return Status.hold_settled;
    if (hold.expires_at_ms !== 0 && hold.expires_at_ms <= this.now_ms) return Status.hold_expired;
    return Status.ok;
  }

  private settle(hold: ModelHold, phase: HoldPhase): void {
    this.accounts.get(model_key(hold.partner, hold.account))!.held -= hold.amount;
    hold.phase = phase;
    hold.closed_at_ms = this.now_ms;
  }

  private capture(order: ModelOrder): Status {
    const status = this.amount_status(order.amount) || this.account_status(order, true);
    if (status !== Status.ok) return status;
    const account = this.account_of(order)!;
    if (account.state === AccountState.frozen) return Status.account_frozen;
    const hold_status = this.hold_status(order);
    if (hold_status !== Status.ok) return hold_status;
    const hold = this.holds.get(model_key(order.partner, order.ref))!;
    if (order.amount > hold.amount) return Status.capture_exceeds_hold;
    account.balance -= order.amount; // the rest of the hold is released
    this.settle(hold, "captured");
    return Status.ok;
  }

  private release(order: ModelOrder): Status {
    if (order.amount !== 0n) return Status.amount_invalid;
    const status = this.account_status(order, true) || this.hold_status(order);
    if (status !== Status.ok) return status;
    this.settle(this.holds.get(model_key(order.partner, order.ref))!, "released");
    return Status.ok;
  }

  private transfer(order: ModelOrder): Status {
    const status = this.amount_status(order.amount) || this.account_status(order, true);
    if (status !== Status.ok) return status;
    if (order.ref === order.account) return Status.same_account;
    const source = this.account_of(order)!;
    if (source.state === AccountState.frozen) return Status.account_frozen;
    // The target is the order's partner's account: another partner's is simply not found.
    const target = this.accounts.get(model_key(order.partner, order.ref));
    if (target === undefined) return Status.account_not_found;
    if (target.state === AccountState.closed) return Status.account_closed;
    if (target.currency !== order.currency) return Status.currency_mismatch;
    if (this.available(source) < order.amount) return Status.insufficient_funds;
    if (target.balance + target.overdraft + order.amount > MONEY_MAX) {
      return Status.balance_out_of_range;
    }
    source.balance -= order.amount;
    target.balance += order.amount;
    return Status.ok;
  }

  private open_account(order: ModelOrder): Status {
    if (order.currency === 0 || order.currency > CURRENCY_CODE_MAX) return Status.currency_invalid;
    if (order.ref < 1n || order.ref > 3n) return Status.invalid; // AccountKind partner..user
    if (order.amount > MONEY_MAX) return Status.amount_out_of_range;
    const key = model_key(order.partner, order.account);
    if (this.accounts.has(key)) return Status.account_exists;
    if (this.accounts.size >= this.limits.accounts_max) return Status.limit_exceeded;
    this.accounts.set(key, { partner: order.partner, currency: order.currency,
      state: AccountState.open, balance: 0n, held: 0n, overdraft: order.amount });
    return Status.ok;
  }

  private set_state(order: ModelOrder, state: AccountState): Status {
    if (order.amount !== 0n) return Status.amount_invalid;
    const status = this.account_status(order, false);
    if (status !== Status.ok) return status;
    this.account_of(order)!.state = state;
    return Status.ok;
  }

  private set_overdraft(order: ModelOrder): Status {
    if (order.amount > MONEY_MAX) return Status.amount_out_of_range;
    const status = this.account_status(order, false);
    if (status !== Status.ok) return status;
    const account = this.account_of(order)!;
    if (account.balance + order.amount > MONEY_MAX) return Status.balance_out_of_range;
    // available = balance - held + limit may not go negative.
    if (account.balance - account.held + order.amount < 0n) return Status.insufficient_funds;
    account.overdraft = order.amount;
    return Status.ok;
  }

  private close_account(order: ModelOrder): Status {
    if (order.amount !== 0n) return Status.amount_invalid;
    const status = this.account_status(order, false);
    if (status !== Status.ok) return status;
    const account = this.account_of(order)!;
    const open_holds = [...this.holds.values()].some((hold) =>
      hold.partner === order.partner && hold.account === order.account && hold.phase === "open");
    if (account.balance !== 0n || account.held !== 0n || open_holds) {
      return Status.account_not_empty;
    }
    account.state = AccountState.closed;
    return Status.ok;
  }
}
