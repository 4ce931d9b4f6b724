// Folds a batch of events into one change per account and one per hold, so a batch costs one
// statement per table however many events touch the same account (a partner's account is touched
// by nearly every event of its group). Later events overwrite earlier ones field by field: the
// last value wins, and a field no event set stays null, meaning "keep what the row has".
// Account and order (so hold) ids are each partner's own: changes are keyed by (partner, id).

import { assert, assert_never } from "../common/assert.ts";
import { HoldState } from "../schema/hold_state.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { hold_expires_at_ms, money_of, type ProjectedEvent } from "./event.ts";

/** An account opened in this batch: the row to insert. */
export interface OpenedAccount {
  partner: number;
  kind: number;
  currency: number;
}

export interface AccountChange {
  partner: number;
  account: bigint;
  /** Non-null when the batch opened it: then every figure below is set too. */
  opened: OpenedAccount | null;
  balance_minor: number | null;
  held_minor: number | null;
  overdraft_limit_minor: number | null;
  state: AccountState | null;
  last_sequence: number;
}

/** A hold opened in this batch: the row to insert. */
export interface OpenedHold {
  amount_minor: number;
  expires_at_ms: number | null;
  opened_sequence: number;
}

export interface HoldChange {
  partner: number;
  hold_id: bigint;
  account: bigint;
  opened: OpenedHold | null;
  state: HoldState;
  sequence: number;
}

/**
 * Changes by (partner, id): a map per partner, keyed by the bigint id itself (Map compares
 * bigints by value). A string key per event (`${partner}/${id}`) was measured here as the
 * projector's costliest JavaScript after the COPY text: a bigint formatted and a string hashed
 * for every event.
 */
export class PartnerMap<T> {
  private readonly partners = new Map<number, Map<bigint, T>>();

  get(partner: number, id: bigint): T | undefined {
    return this.partners.get(partner)?.get(id);
  }

  has(partner: number, id: bigint): boolean {
    return this.get(partner, id) !== undefined;
  }

  set(partner: number, id: bigint, value: T): void {
    let ids = this.partners.get(partner);
    if (ids === undefined) {
      ids = new Map();
      this.partners.set(partner, ids);
    }
    ids.set(id, value);
  }

  *values(): IterableIterator<T> {
    for (const ids of this.partners.values()) yield* ids.values();
  }
}

export interface Changes {
  accounts: PartnerMap<AccountChange>;
  holds: PartnerMap<HoldChange>;
}

/** The changes of `events` (already checked, in sequence order). */
export function coalesce(events: readonly ProjectedEvent[]): Changes {
  const changes: Changes = { accounts: new PartnerMap(), holds: new PartnerMap() };
  for (const event of events) {
    if (event.status !== Status.ok) continue;
    coalesce_event(changes, event);
  }
  return changes;
}

function coalesce_event(changes: Changes, event: ProjectedEvent): void {
  const op = event.op;
  switch (op) {
    case Op.check:
      return;
    case Op.open_account:
      return open_account(changes, event);
    case Op.credit:
    case Op.debit:
      account_change(changes, event.partner, event.account, event.sequence).balance_minor =
        event.balance_after_minor;
      return;
    case Op.hold:
      return open_hold(changes, event);
    case Op.capture:
      return close_hold(changes, event, HoldState.captured);
    case Op.release:
      return close_hold(changes, event, HoldState.released);
    case Op.expire_hold:
      return close_hold(changes, event, HoldState.expired);
    case Op.transfer:
      account_change(changes, event.partner, event.account, event.sequence).balance_minor =
        event.balance_after_minor;
      account_change(changes, event.partner, event.ref, event.sequence).balance_minor =
        event.counter_balance_after_minor;
      return;
    case Op.freeze:
      account_change(changes, event.partner, event.account, event.sequence).state =
        AccountState.frozen;
      return;
    case Op.unfreeze:
      account_change(changes, event.partner, event.account, event.sequence).state =
        AccountState.open;
      return;
    case Op.close_account:
      account_change(changes, event.partner, event.account, event.sequence).state =
        AccountState.closed;
      return;
    case Op.set_overdraft:
      account_change(changes, event.partner, event.account, event.sequence).overdraft_limit_minor =
        money_of(event.amount_minor);
      return;
    case Op.none:
      assert(false, `op none recorded as ok at sequence ${event.sequence}`);
      return;
    default:
      assert_never(op, "op");
  }
}

/** The change of an account that must already exist (in the table or earlier in the batch). */
function account_change(changes: Changes, partner: number, account: bigint,
  sequence: number): AccountChange {
  let change = changes.accounts.get(partner, account);
  if (change === undefined) {
    change = {
      partner, account, opened: null, balance_minor: null, held_minor: null,
      overdraft_limit_minor: null, state: null, last_sequence: sequence,
    };
    changes.accounts.set(partner, account, change);
  }
  assert(change.last_sequence <= sequence, "account changes in sequence order");
  change.last_sequence = sequence;
  return change;
}

function open_account(changes: Changes, event: ProjectedEvent): void {
  assert(!changes.accounts.has(event.partner, event.account),
    "an account opened after a change in its batch");
  changes.accounts.set(event.partner, event.account, {
    partner: event.partner,
    account: event.account,
    opened: { partner: event.partner, kind: Number(event.ref), currency: event.currency },
    balance_minor: event.balance_after_minor,
    held_minor: event.held_after_minor,
    overdraft_limit_minor: money_of(event.amount_minor),
    state: AccountState.open,
    last_sequence: event.sequence,
  });
}

function open_hold(changes: Changes, event: ProjectedEvent): void {
  assert(!changes.holds.has(event.partner, event.order_id), "a hold id opened twice in one batch");
  changes.holds.set(event.partner, event.order_id, {
    partner: event.partner,
    hold_id: event.order_id,
    account: event.account,
    opened: {
      amount_minor: money_of(event.amount_minor),
      expires_at_ms: hold_expires_at_ms(event),
      opened_sequence: event.sequence,
    },
    state: HoldState.open,
    sequence: event.sequence,
  });
  account_change(changes, event.partner, event.account, event.sequence).held_minor =
    event.held_after_minor;
}

function close_hold(changes: Changes, event: ProjectedEvent, state: HoldState): void {
  const earlier = changes.holds.get(event.partner, event.ref);
  if (earlier === undefined) {
    changes.holds.set(event.partner, event.ref, { partner: event.partner, hold_id: event.ref,
      account: event.account, opened: null, state, sequence: event.sequence });
  } else {
    assert(earlier.state === HoldState.open, "closing a hold closed earlier in its batch");
    assert(earlier.account === event.account, "a hold closed by an event of another account");
    earlier.state = state;
    earlier.sequence = event.sequence;
  }
  const change = account_change(changes, event.partner, event.account, event.sequence);
  change.balance_minor = event.balance_after_minor;
  change.held_minor = event.held_after_minor;
}
