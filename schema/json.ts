// The JSON forms of the HTTP API, for curl and debugging: a batch in (schema/json_batch.ts),
// results and account figures out. 64-bit values go out as decimal strings, enums by their schema
// names.

import { AccountKind } from "./generated/balance/wire/account-kind.ts";
import { AccountState } from "./generated/balance/wire/account-state.ts";
import { Status } from "./generated/balance/wire/status.ts";
import { assert } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, RESULT_FLAG_REPLAYED, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { ascii, put, put_safe_i64, put_u64 } from "./json_digits.ts";
import {
  RESULT_AVAILABLE_OFFSET, RESULT_BALANCE_OFFSET, RESULT_FLAGS_OFFSET, RESULT_ORDER_ID_OFFSET,
  RESULT_SEQUENCE_OFFSET, RESULT_STATUS_OFFSET,
} from "./layout.ts";
import type { AccountInfoFields } from "./messages.ts";

export { parse_batch_json, parse_batch_json_bytes, type JsonBatch } from "./json_batch.ts";

export type ResultJson = {
  id: string;
  status: string;
  sequence: string;
  balance: string;
  available: string;
  replayed: boolean;
};

export type AccountInfoJson = {
  account: string;
  partner: number;
  kind: string;
  currency: number;
  state: string;
  overdraft_limit: string;
  balance: string;
  held: string;
  available: string;
  sequence: string;
};

// A value a newer peer may send that this build has no name for still gets a readable one.
function enum_name(names: Record<number, string | undefined>, value: number): string {
  return names[value] ?? `unknown_${value}`;
}

const U32_RANGE = 2 ** 32;
const SAFE_HIGH_WORD_MAX = 2 ** 21; // below it, high * 2^32 + low is below 2^53: exact

/**
 * The decimal text of the u64 at `offset`, without a bigint (this runs for every result of every
 * JSON reply): 2^32 = 42,949 * 10^5 + 67,296, so high * 2^32 + low is (high * 42,949 + carry) *
 * 10^5 + rest, each part exact in a double.
 */
export function u64_text(view: DataView, offset: number): string {
  const low = view.getUint32(offset, true);
  const high = view.getUint32(offset + 4, true);
  if (high < SAFE_HIGH_WORD_MAX) return String(high * U32_RANGE + low);
  const low_part = high * 67_296 + low;
  const rest = low_part % 100_000;
  return `${high * 42_949 + Math.floor(low_part / 100_000)}${String(rest).padStart(5, "0")}`;
}

/** The decimal text of an i64 the engine keeps within +-(2^53 - 1) (money, sequences). */
function safe_i64_text(view: DataView, offset: number): string {
  return String(view.getInt32(offset + 4, true) * U32_RANGE + view.getUint32(offset, true));
}

// `count` Result structs from `byte_offset` of `view` (a reply frame or a ring slot).
export function results_to_json(view: DataView, byte_offset: number, count: number): ResultJson[] {
  const results: ResultJson[] = [];
  for (let i = 0; i < count; i++) {
    const at = byte_offset + i * RESULT_SIZE_BYTES;
    results.push({
      id: u64_text(view, at + RESULT_ORDER_ID_OFFSET),
      status: enum_name(Status, view.getUint8(at + RESULT_STATUS_OFFSET)),
      sequence: safe_i64_text(view, at + RESULT_SEQUENCE_OFFSET),
      balance: safe_i64_text(view, at + RESULT_BALANCE_OFFSET),
      available: safe_i64_text(view, at + RESULT_AVAILABLE_OFFSET),
      replayed: (view.getUint8(at + RESULT_FLAGS_OFFSET) & RESULT_FLAG_REPLAYED) !== 0,
    });
  }
  return results;
}

/**
 * The literal pieces of a JSON reply as results_reply_json_bytes writes them, in order, around the
 * values (exported: loadgen reads its replies back by these same pieces, loadgen/json_reply.ts).
 */
export const REPLY_PIECES = {
  open: ascii('{"results":['),
  result_open: ascii('{"id":"'),
  after_id: ascii('","status":"'),
  after_status: ascii('","sequence":"'),
  after_sequence: ascii('","balance":"'),
  after_balance: ascii('","available":"'),
  close_replayed: ascii('","replayed":true}'),
  close_not_replayed: ascii('","replayed":false}'),
  comma: ascii(","),
  close: ascii("]}"),
} as const;
/** Each status byte's name as bytes (enum_name's: unknown_N for a byte the schema lacks). */
export const STATUS_NAMES: readonly Uint8Array[] = Array.from({ length: 256 },
  (_, status) => ascii(enum_name(Status, status)));
/** One result at most: a 20-digit id, three 17-character figures, the longest status name. */
const RESULT_JSON_BYTES_MAX = 256;
assert(STATUS_NAMES.every((name) => name.length <= 32), "status names fit RESULT_JSON_BYTES_MAX");
const reply_scratch = new Uint8Array(REPLY_PIECES.open.length + REPLY_PIECES.close.length +
  BATCH_ORDERS_MAX * RESULT_JSON_BYTES_MAX);

/**
 * The bytes of `{ "results": results_to_json(...) }` as JSON.stringify writes it, written directly
 * as bytes: every value is digits, a schema name or a boolean, none needs escaping, and no object
 * or string is built per result. As a string (a rope of a template per result) it cost the main
 * thread ~12% more CPU per HTTP JSON request than these bytes (docs/performance.md, "The HTTP edge:
 * the JSON reply as bytes"). A new array each call: the Response keeps it until it is sent.
 */
export function results_reply_json_bytes(view: DataView, byte_offset: number, count: number)
  : Uint8Array {
  assert(count >= 0 && count <= BATCH_ORDERS_MAX, "a batch's results");
  const target = reply_scratch;
  const pieces = REPLY_PIECES;
  let k = put(target, 0, pieces.open);
  for (let i = 0; i < count; i++) {
    const at = byte_offset + i * RESULT_SIZE_BYTES;
    if (i > 0) k = put(target, k, pieces.comma);
    k = put_u64(target, put(target, k, pieces.result_open), view, at + RESULT_ORDER_ID_OFFSET);
    const status_name = STATUS_NAMES[view.getUint8(at + RESULT_STATUS_OFFSET)]!;
    k = put(target, put(target, k, pieces.after_id), status_name);
    k = put_safe_i64(target, put(target, k, pieces.after_status), view,
      at + RESULT_SEQUENCE_OFFSET);
    k = put_safe_i64(target, put(target, k, pieces.after_sequence), view,
      at + RESULT_BALANCE_OFFSET);
    k = put_safe_i64(target, put(target, k, pieces.after_balance), view,
      at + RESULT_AVAILABLE_OFFSET);
    const replayed = (view.getUint8(at + RESULT_FLAGS_OFFSET) & RESULT_FLAG_REPLAYED) !== 0;
    k = put(target, k, replayed ? pieces.close_replayed : pieces.close_not_replayed);
  }
  k = put(target, k, pieces.close);
  return target.slice(0, k);
}

export function account_info_to_json(info: AccountInfoFields): AccountInfoJson {
  return {
    account: info.account.toString(),
    partner: info.partner,
    kind: enum_name(AccountKind, info.kind),
    currency: info.currency,
    state: enum_name(AccountState, info.state),
    overdraft_limit: info.overdraft_limit.toString(),
    balance: info.balance.toString(),
    held: info.held.toString(),
    available: info.available.toString(),
    sequence: info.sequence.toString(),
  };
}
