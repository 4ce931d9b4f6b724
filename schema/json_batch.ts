// The JSON form of an OrderBatch, for curl and debugging, parsed into the same 40-byte Order
// structs the FlatBuffers path yields. 64-bit numbers travel as decimal strings (JSON numbers lose
// precision past 2^53); JSON integers up to 2^53 - 1 are accepted too. Anything else is refused
// with a message naming the order and the field: floats, negatives, non-numeric strings, values
// over the field's width, unknown ops, and unknown fields (they are usually typos, and a typo must
// not become a 0).
//
// Only the wire is checked here; the meaning (amount > 0, currencies, limits) is the engine's,
// which answers it per order with a Status, exactly as for a FlatBuffers batch.
//
// {"mode": "committed" | "accepted" (default committed),
//  "orders": [{"id": "123", "op": "credit", "partner": 7, "account": "42", "amount": "100",
//              "currency": 978, "ref": "0", "linked": false}]}
// Friendly aliases, mapped as schema/balance.fbs documents: open_account {kind, overdraft_limit},
// set_overdraft {overdraft_limit}, hold {timeout_ms}, capture / release {hold}, transfer {to}.

import {
  BATCH_ORDERS_MAX,
  HTTP_BODY_SIZE_BYTES_MAX,
  ORDER_FLAG_LINKED,
} from "../common/constants.ts";
import { ORDER_SIZE_BYTES } from "../common/constants.ts";
import { ErrorCode } from "./generated/balance/wire/error-code.ts";
import { Mode } from "./generated/balance/wire/mode.ts";
import { Op } from "./generated/balance/wire/op.ts";
import {
  ORDER_ACCOUNT_OFFSET,
  ORDER_AMOUNT_OFFSET,
  ORDER_CURRENCY_OFFSET,
  ORDER_FLAGS_OFFSET,
  ORDER_ID_OFFSET,
  ORDER_OP_OFFSET,
  ORDER_PARTNER_OFFSET,
  ORDER_REF_OFFSET,
} from "./layout.ts";
import type { DecodeError } from "./messages.ts";
import { parse_batch_json_fast } from "./json_batch_fast.ts";
import {
  ACCOUNT_KINDS, ALIASES, BASE_FIELDS, CLIENT_OPS, KIND_ALIAS, NO_ALIASES, type Alias,
} from "./json_batch_fields.ts";

export type JsonBatch = {
  type: "json_batch";
  mode: Mode;
  orders_bytes: Uint8Array; // order_count Order structs, contiguous
  order_count: number;
};

const U64_MAX = 2n ** 64n - 1n;
const U32_MAX = 2n ** 32n - 1n;
const U16_MAX = 2n ** 16n - 1n;
const U64_MAX_NUMBER = Number(U64_MAX);
const QUOTED_INPUT_LENGTH_MAX = 40; // error messages quote at most this much of the input

// A JSON number that is not a plain safe integer (1.5, 1e3, -1, 2^60): kept with its source text so
// the error can say what was sent, instead of a silently rounded value.
class NonIntegerNumber {
  constructor(readonly source: string) {}
}

const PLAIN_INTEGER = /^(0|[1-9][0-9]*)$/;

function revive_number(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number") return value;
  const source = context?.source ?? String(value);
  if (PLAIN_INTEGER.test(source) && Number.isSafeInteger(value)) return value;
  return new NonIntegerNumber(source);
}

// Every JSON number with a fraction or an exponent has a digit right before its "." or "e": a body
// without that pattern holds integers only, and parses without the reviver (~10x slower). A string
// matching it ("1.5" as text) only costs the slower path, never a wrong answer.
const FRACTION_OR_EXPONENT = /[0-9][.eE]/;

function parse_json(text: string): unknown {
  if (FRACTION_OR_EXPONENT.test(text)) return JSON.parse(text, revive_number);
  return JSON.parse(text);
}

function refuse(message: string): DecodeError {
  return { type: "decode_error", error: ErrorCode.malformed_frame, message };
}

function quoted(text: string): string {
  if (text.length <= QUOTED_INPUT_LENGTH_MAX) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, QUOTED_INPUT_LENGTH_MAX))}...`;
}

function is_object(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Decimal strings of up to this many digits are below 2^53: read as a number, not a bigint. */
const SAFE_DECIMAL_DIGITS = 15;

// An unsigned integer of at most `max`, from a decimal string or a safe JSON integer; a string is
// the error message (without the field's name) when it is neither. A number when it is below
// 2^53 (no bigint is made for the usual ids and amounts), a bigint above.
// `max_number` is `max` as a number (U64_MAX rounds up to 2^64, above every safe integer anyway): a
// number compared with a bigint takes a slow generic path.
function parse_unsigned(value: unknown, max: bigint, max_number: number): Unsigned | string {
  let parsed: Unsigned;
  if (typeof value === "number") {
    // Negative or unsafe integers reach here when the reviver was skipped.
    if (value < 0 || Object.is(value, -0)) return `must not be negative, got ${value}`;
    if (!Number.isSafeInteger(value)) {
      return `integers over 2^53 - 1 must go as decimal strings, got ${value}`;
    }
    parsed = value;
  } else if (typeof value === "string") {
    if (!is_plain_integer(value)) {
      return `must be a decimal string of digits (no sign, no leading zeros), got ${quoted(value)}`;
    }
    parsed = value.length <= SAFE_DECIMAL_DIGITS ? Number(value) : BigInt(value);
  } else if (value instanceof NonIntegerNumber) {
    const hint = value.source.startsWith("-") ? "must not be negative" : "must be an integer";
    const source = value.source.slice(0, QUOTED_INPUT_LENGTH_MAX);
    return `${hint}; integers over 2^53 - 1 go as decimal strings, got ${source}`;
  } else {
    return `must be a decimal string or a JSON integer, got ${typeof value}`;
  }
  const over = typeof parsed === "number" ? parsed > max_number : parsed > max;
  if (over) return `exceeds the maximum ${max}, got ${parsed}`;
  return parsed;
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;

/** PLAIN_INTEGER's test without a regular expression (it runs for most fields of every order). */
function is_plain_integer(text: string): boolean {
  if (text.length === 0) return false;
  if (text.charCodeAt(0) === DIGIT_0) return text.length === 1;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < DIGIT_0 || code > DIGIT_9) return false;
  }
  return true;
}

/** An order's unsigned field: a number below 2^53, a bigint from there up. */
type Unsigned = number | bigint;

function write_u64(view: DataView, offset: number, value: Unsigned): void {
  if (typeof value === "bigint") {
    view.setBigUint64(offset, value, true);
    return;
  }
  view.setUint32(offset, value % U32_RANGE, true);
  view.setUint32(offset + 4, Math.floor(value / U32_RANGE), true);
}

const UTF8 = new TextDecoder();

/**
 * A body's batch from its bytes: the fast path (schema/json_batch_fast.ts) when it takes the body,
 * the full parser over its text otherwise. Both give the same orders for every body the fast path
 * takes; only the full parser refuses.
 */
export function parse_batch_json_bytes(bytes: Uint8Array): JsonBatch | DecodeError {
  return parse_batch_json_fast(bytes) ?? parse_batch_json(UTF8.decode(bytes));
}

export function parse_batch_json(text: string): JsonBatch | DecodeError {
  if (text.length > HTTP_BODY_SIZE_BYTES_MAX) {
    return {
      type: "decode_error",
      error: ErrorCode.frame_too_large,
      message: `body exceeds ${HTTP_BODY_SIZE_BYTES_MAX} bytes`,
    };
  }
  let body: unknown;
  try {
    body = parse_json(text);
  } catch (thrown) {
    const reason = thrown instanceof SyntaxError ? thrown.message : String(thrown);
    return refuse(`invalid JSON: ${reason}`);
  }
  if (!is_object(body)) return refuse("the body must be a JSON object with \"orders\"");
  for (const key of Object.keys(body)) {
    if (key !== "mode" && key !== "orders") return refuse(`unknown field ${quoted(key)}`);
  }
  const mode = parse_mode(body.mode);
  if (typeof mode === "object") return mode;
  const orders = body.orders;
  if (!Array.isArray(orders)) return refuse("\"orders\" must be an array");
  if (orders.length === 0) {
    const message = "the batch holds no orders";
    return { type: "decode_error", error: ErrorCode.batch_empty, message };
  }
  if (orders.length > BATCH_ORDERS_MAX) {
    return {
      type: "decode_error",
      error: ErrorCode.batch_too_large,
      message: `the batch holds ${orders.length} orders, more than ${BATCH_ORDERS_MAX}`,
    };
  }
  // The buffer first: a Uint8Array's .buffer, asked for later, is materialized at a cost.
  const buffer = new ArrayBuffer(orders.length * ORDER_SIZE_BYTES);
  const orders_bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  for (let index = 0; index < orders.length; index++) {
    const offset = index * ORDER_SIZE_BYTES;
    const error = write_json_order(view, offset, orders[index], index);
    if (error !== null) return refuse(error);
  }
  return { type: "json_batch", mode, orders_bytes, order_count: orders.length };
}

function parse_mode(value: unknown): Mode | DecodeError {
  if (value === undefined) return Mode.committed;
  if (value === "committed") return Mode.committed;
  if (value === "accepted") return Mode.accepted;
  return refuse(`"mode" must be "committed" or "accepted"`);
}

type OrderNumbers = {
  id: Unsigned;
  account: Unsigned;
  amount: Unsigned;
  ref: Unsigned;
  partner: Unsigned;
  currency: Unsigned;
};

const U32_RANGE = 2 ** 32;

/** Each field: its width's maximum (and as a number), whether it must be given. */
const ORDER_FIELDS: readonly [keyof OrderNumbers, bigint, number, boolean][] = [
  ["id", U64_MAX, U64_MAX_NUMBER, true], ["partner", U32_MAX, Number(U32_MAX), true],
  ["account", U64_MAX, U64_MAX_NUMBER, true], ["amount", U64_MAX, U64_MAX_NUMBER, false],
  ["currency", U16_MAX, Number(U16_MAX), false], ["ref", U64_MAX, U64_MAX_NUMBER, false],
];

/** The fields an order of each op may carry: the base fields and the op's aliases. */
const FIELDS_OF_OP: ReadonlyMap<Op, ReadonlySet<string>> = new Map([...CLIENT_OPS.values()].map(
  (op) => [op, new Set([...BASE_FIELDS, ...(ALIASES.get(op) ?? []).map((alias) => alias.name)])]));

/** An order's name in error messages, made only for an error. */
function order_name(index: number): string {
  return `orders[${index}]`;
}

// Writes one order's 40 bytes; returns an error message naming the order and the field, or null.
function write_json_order(
  view: DataView,
  offset: number,
  order: unknown,
  index: number,
): string | null {
  if (!is_object(order)) return `${order_name(index)}: must be an object`;
  if (typeof order.op !== "string") return `${order_name(index)}.op: missing, or not a string`;
  const op = CLIENT_OPS.get(order.op);
  if (op === undefined) {
    if (order.op === "expire_hold") {
      return `${order_name(index)}.op: "expire_hold" is engine-generated, not a client op`;
    }
    return `${order_name(index)}.op: unknown op ${quoted(order.op)}`;
  }
  const fields = FIELDS_OF_OP.get(op)!;
  // for-in, not Object.keys: no array per order. A parsed JSON object has no inherited
  // enumerable keys, so both see the same keys.
  for (const key in order) {
    if (!fields.has(key)) {
      return `${order_name(index)}: unknown field ${quoted(key)} for op "${order.op}"`;
    }
  }
  const numbers = order_numbers(order, ALIASES.get(op) ?? NO_ALIASES, index);
  if (typeof numbers === "string") return numbers;
  const linked = order.linked === undefined ? false : order.linked;
  if (typeof linked !== "boolean") return `${order_name(index)}.linked: must be true or false`;
  write_u64(view, offset + ORDER_ID_OFFSET, numbers.id);
  write_u64(view, offset + ORDER_ACCOUNT_OFFSET, numbers.account);
  write_u64(view, offset + ORDER_AMOUNT_OFFSET, numbers.amount);
  write_u64(view, offset + ORDER_REF_OFFSET, numbers.ref);
  view.setUint32(offset + ORDER_PARTNER_OFFSET, Number(numbers.partner), true);
  view.setUint16(offset + ORDER_CURRENCY_OFFSET, Number(numbers.currency), true);
  view.setUint8(offset + ORDER_OP_OFFSET, op);
  view.setUint8(offset + ORDER_FLAGS_OFFSET, linked ? ORDER_FLAG_LINKED : 0);
  return null;
}

function order_numbers(
  order: Record<string, unknown>,
  aliases: readonly Alias[],
  index: number,
): OrderNumbers | string {
  const numbers: OrderNumbers = { id: 0, account: 0, amount: 0, ref: 0, partner: 0, currency: 0 };
  for (const [name, max, max_number, required] of ORDER_FIELDS) {
    const value = order[name];
    if (value === undefined) {
      if (required) return `${order_name(index)}.${name}: missing`;
      continue;
    }
    const parsed = parse_unsigned(value, max, max_number);
    if (typeof parsed === "string") return `${order_name(index)}.${name}: ${parsed}`;
    numbers[name] = parsed;
  }
  for (const alias of aliases) {
    const value = order[alias.name];
    if (value === undefined) continue;
    if (order[alias.target] !== undefined) {
      return `${order_name(index)}: give "${alias.name}" or "${alias.target}", not both`;
    }
    const parsed = alias.name === KIND_ALIAS ? parse_kind(value)
      : parse_unsigned(value, U64_MAX, U64_MAX_NUMBER);
    if (typeof parsed === "string") return `${order_name(index)}.${alias.name}: ${parsed}`;
    numbers[alias.target] = parsed;
  }
  return numbers;
}

function parse_kind(value: unknown): Unsigned | string {
  const kind = typeof value === "string" ? ACCOUNT_KINDS.get(value) : undefined;
  if (kind === undefined) return `must be "partner", "provider" or "user"`;
  return kind;
}
