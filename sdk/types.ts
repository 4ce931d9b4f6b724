// The SDK's public types: one request shape per op (what the methods take), the typed result of an
// order, an account's figures, and the client's options. Enums are the schema's generated ones
// (schema/generated), never copies: Op, Status, Mode, AccountKind, AccountState, ErrorCode.

import { assert, assert_never } from "../common/assert.ts";
import { ORDER_FLAG_LINKED } from "../common/constants.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import type { OrderFields, ResultFields } from "../schema/layout.ts";
import type { AccountInfoFields } from "../schema/messages.ts";

export { AccountKind, AccountState, ErrorCode, Mode, Op, Status };

/** Minor units: a bigint, or a number that is a non-negative safe integer. */
export type Amount = bigint | number;
/** A u64 (account number, order id): a bigint, or a safe-integer number. */
export type U64 = bigint | number;

/** Fields every order takes. `partner` defaults to the client's (option, or the token's). */
interface OrderBase {
  account: U64;
  partner?: number;
  /** An explicit order id (the idempotency key); the client mints a time-ordered one otherwise. */
  id?: bigint;
  /** All-or-nothing with the next order of the same submit() call (a linked chain). */
  linked?: boolean;
}

export interface MoneyInput extends OrderBase { amount: Amount; currency: number }
export interface HoldInput extends MoneyInput { hold_timeout_ms?: number }
export interface CaptureInput extends MoneyInput { hold: bigint }
export interface ReleaseInput extends OrderBase { hold: bigint; currency: number }
export interface TransferInput extends MoneyInput { to: U64 }
export interface OpenAccountInput extends OrderBase {
  kind: AccountKind | "partner" | "provider" | "user";
  currency: number;
  overdraft_limit?: Amount;
}
export interface SetOverdraftInput extends OrderBase { overdraft_limit: Amount }
export type AdminInput = OrderBase;

/** One order of submit(): the method's input plus its op's name. */
export type OrderRequest =
  | ({ op: "credit" | "debit" | "check" } & MoneyInput)
  | ({ op: "hold" } & HoldInput)
  | ({ op: "capture" } & CaptureInput)
  | ({ op: "release" } & ReleaseInput)
  | ({ op: "transfer" } & TransferInput)
  | ({ op: "open_account" } & OpenAccountInput)
  | ({ op: "set_overdraft" } & SetOverdraftInput)
  | ({ op: "freeze" | "unfreeze" | "close_account" } & AdminInput);

export type ModeName = "committed" | "accepted";

/** Per-call options (the last argument of every order method and of submit()). */
export interface CallOptions {
  /** How long the call may take, retries included (default: the client's timeout_ms). */
  timeout_ms?: number;
  /**
   * committed (default): the final results, once durable. accepted: the server's answer as soon
   * as the orders are in its engine's ring: status `pending` (sequence and figures 0), or a
   * refusal it could make at once; the outcome is then read with order() or from the events.
   */
  mode?: ModeName;
}

/** One order's outcome. Business outcomes (insufficient_funds, ...) are results, not errors. */
export interface OrderResult {
  id: bigint;
  status: Status;
  /** The schema's name of `status` ("ok", "insufficient_funds", ...). */
  status_name: string;
  /** status === Status.ok */
  ok: boolean;
  /** The order's event number in its group (0 while pending). */
  sequence: bigint;
  /** The account's balance and available amount after the order, in minor units. */
  balance: bigint;
  available: bigint;
  /** The server answered with the result of an earlier attempt of the same id (applied once). */
  replayed: boolean;
}

export interface AccountInfo {
  partner: number;
  account: bigint;
  kind: AccountKind;
  kind_name: string;
  currency: number;
  state: AccountState;
  state_name: string;
  overdraft_limit: bigint;
  balance: bigint;
  held: bigint;
  available: bigint;
  /** The group's durable sequence these figures reflect. */
  sequence: bigint;
}

/** A value this build has no name for still gets a readable one. */
export function enum_name(names: Record<number, string | undefined>, value: number): string {
  return names[value] ?? `unknown_${value}`;
}

export function order_result(fields: ResultFields): OrderResult {
  return {
    id: fields.order_id,
    status: fields.status,
    status_name: enum_name(Status, fields.status),
    ok: fields.status === Status.ok,
    sequence: fields.sequence,
    balance: fields.balance,
    available: fields.available,
    replayed: fields.replayed,
  };
}

export function account_info(fields: AccountInfoFields): AccountInfo {
  return {
    partner: fields.partner,
    account: fields.account,
    kind: fields.kind,
    kind_name: enum_name(AccountKind, fields.kind),
    currency: fields.currency,
    state: fields.state,
    state_name: enum_name(AccountState, fields.state),
    overdraft_limit: fields.overdraft_limit,
    balance: fields.balance,
    held: fields.held,
    available: fields.available,
    sequence: fields.sequence,
  };
}

export function mode_of(name: ModeName | undefined): Mode {
  return name === "accepted" ? Mode.accepted : Mode.committed;
}

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffff_ffff;
const U16_MAX = 0xffff;

function u64(value: U64, what: string): bigint {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${what} must be a non-negative safe integer or a bigint, got ${value}`);
    }
    return BigInt(value);
  }
  if (value < 0n || value > U64_MAX) throw new RangeError(`${what} must fit a u64, got ${value}`);
  return value;
}

function small(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} must be an integer in 0..${max}, got ${value}`);
  }
  return value;
}

function kind_of(kind: OpenAccountInput["kind"]): AccountKind {
  if (typeof kind === "number") return kind;
  return AccountKind[kind];
}

/** The op's `amount` and `ref` fields as schema/balance.fbs defines them. */
type OpFields = { op: Op; amount: bigint; ref: bigint; currency: number };

function op_fields(request: OrderRequest): OpFields {
  switch (request.op) {
    case "credit":
    case "debit":
    case "check":
      return { op: Op[request.op], amount: u64(request.amount, "amount"), ref: 0n,
        currency: request.currency };
    case "hold":
      return { op: Op.hold, amount: u64(request.amount, "amount"),
        ref: u64(request.hold_timeout_ms ?? 0, "hold_timeout_ms"), currency: request.currency };
    case "capture":
      return { op: Op.capture, amount: u64(request.amount, "amount"),
        ref: u64(request.hold, "hold"), currency: request.currency };
    case "release":
      return { op: Op.release, amount: 0n, ref: u64(request.hold, "hold"),
        currency: request.currency };
    case "transfer":
      return { op: Op.transfer, amount: u64(request.amount, "amount"), ref: u64(request.to, "to"),
        currency: request.currency };
    case "open_account":
      return { op: Op.open_account, amount: u64(request.overdraft_limit ?? 0, "overdraft_limit"),
        ref: BigInt(kind_of(request.kind)), currency: request.currency };
    case "set_overdraft":
      return { op: Op.set_overdraft, amount: u64(request.overdraft_limit, "overdraft_limit"),
        ref: 0n, currency: 0 };
    case "freeze":
    case "unfreeze":
    case "close_account":
      return { op: Op[request.op], amount: 0n, ref: 0n, currency: 0 };
    default:
      return assert_never(request, "order request");
  }
}

/**
 * The wire fields of a request; `id` is 0n when the caller gave none (the batcher mints one).
 * Throws RangeError on a value that does not fit its wire field: a programming error of the caller.
 */
export function order_fields(request: OrderRequest, default_partner: number): OrderFields {
  const partner = request.partner ?? default_partner;
  assert(partner > 0,
    "an order needs a partner: pass `partner`, or set the client's `partner` option");
  const fields = op_fields(request);
  return {
    id: request.id === undefined ? 0n : u64(request.id, "id"),
    account: u64(request.account, "account"),
    amount: fields.amount,
    ref: fields.ref,
    partner: small(partner, U32_MAX, "partner"),
    currency: small(fields.currency, U16_MAX, "currency"),
    op: fields.op,
    flags: request.linked === true ? ORDER_FLAG_LINKED : 0,
  };
}
