// The JSON forms of the HTTP API, for curl and debugging: a batch in (schema/json_batch.ts),
// results and account figures out. 64-bit values go out as decimal strings, enums by their schema
// names.

import { AccountKind } from "./generated/balance/wire/account-kind.ts";
import { AccountState } from "./generated/balance/wire/account-state.ts";
import { Status } from "./generated/balance/wire/status.ts";
import { RESULT_FLAG_REPLAYED, RESULT_SIZE_BYTES } from "../common/constants.ts";
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
 * The text of `{ "results": results_to_json(...) }` as JSON.stringify writes it, written directly:
 * every value is digits, a schema name or a boolean, none needs escaping, and no object is built
 * per result (JSON.stringify of the objects was 5% of the main thread under HTTP JSON load).
 */
export function results_reply_json(view: DataView, byte_offset: number, count: number): string {
  let text = '{"results":[';
  for (let i = 0; i < count; i++) {
    const at = byte_offset + i * RESULT_SIZE_BYTES;
    const replayed = (view.getUint8(at + RESULT_FLAGS_OFFSET) & RESULT_FLAG_REPLAYED) !== 0;
    text += `${i === 0 ? "" : ","}{"id":"${u64_text(view, at + RESULT_ORDER_ID_OFFSET)}",` +
      `"status":"${enum_name(Status, view.getUint8(at + RESULT_STATUS_OFFSET))}",` +
      `"sequence":"${safe_i64_text(view, at + RESULT_SEQUENCE_OFFSET)}",` +
      `"balance":"${safe_i64_text(view, at + RESULT_BALANCE_OFFSET)}",` +
      `"available":"${safe_i64_text(view, at + RESULT_AVAILABLE_OFFSET)}",` +
      `"replayed":${replayed}}`;
  }
  return `${text}]}`;
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
