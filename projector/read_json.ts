// The read API's JSON, in the service's conventions (schema/json.ts): 64-bit values (ids, money,
// sequences, engine times) as decimal strings, u32 values (partner, group) and currencies as
// numbers, enums by their schema names.

import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import type { AccountView, EventView } from "./read_queries.ts";

export interface AccountJson {
  account: string;
  partner: number;
  group: number;
  kind: string;
  currency: number;
  state: string;
  overdraft_limit: string;
  balance: string;
  held: string;
  available: string;
  /** The last event that changed the account. */
  last_sequence: string;
  /** The group's applied sequence: the figures are current as of this event. */
  applied_sequence: string;
}

export interface EventJson {
  sequence: string;
  group: number;
  engine_time_ms: string;
  order_id: string;
  /** The account the order named (for a received transfer: the source). */
  account: string;
  op: string;
  status: string;
  amount: string;
  ref: string;
  currency: number;
  /** The named account's figures after the event. */
  balance_after: string;
  held_after: string;
  /** A transfer's target balance after it; "0" for other ops. */
  counter_balance_after: string;
}

export interface HistoryEventJson extends EventJson {
  /** "account": the order named this account; "transfer_target": a transfer it received. */
  role: "account" | "transfer_target";
  /** This account's own balance after the event, whichever side of it the account was. */
  account_balance_after: string;
}

// A value a newer projector wrote that this build has no name for still gets a readable one.
function enum_name(names: Record<number, string | undefined>, value: number): string {
  return names[value] ?? `unknown_${value}`;
}

export function account_json(view: AccountView): AccountJson {
  return {
    account: view.account_id.toString(),
    partner: view.partner,
    group: view.group_id,
    kind: enum_name(AccountKind, view.kind),
    currency: view.currency,
    state: enum_name(AccountState, view.state),
    overdraft_limit: String(view.overdraft_limit_minor),
    balance: String(view.balance_minor),
    held: String(view.held_minor),
    available: String(view.available_minor),
    last_sequence: String(view.last_sequence),
    applied_sequence: String(view.applied_sequence),
  };
}

export function event_json(view: EventView): EventJson {
  return {
    sequence: String(view.sequence),
    group: view.group_id,
    engine_time_ms: String(view.engine_time_ms),
    order_id: view.order_id.toString(),
    account: view.account_id.toString(),
    op: enum_name(Op, view.op),
    status: enum_name(Status, view.status),
    amount: view.amount_minor.toString(),
    ref: view.ref.toString(),
    currency: view.currency,
    balance_after: String(view.balance_after_minor),
    held_after: String(view.held_after_minor),
    counter_balance_after: String(view.counter_balance_after_minor),
  };
}

/** An event of `account`'s history: its own order, or a transfer it received. */
export function history_event_json(view: EventView, account: bigint): HistoryEventJson {
  const own = view.account_id === account;
  return {
    ...event_json(view),
    role: own ? "account" : "transfer_target",
    account_balance_after: String(own ? view.balance_after_minor : view.counter_balance_after_minor),
  };
}
