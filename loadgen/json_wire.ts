// The HTTP API's JSON form for `loadgen --format json` (schema/json_batch.ts is the server's side):
// the same 40-byte Order structs the FlatBuffers path sends, written as a JSON batch, and a JSON
// reply's results written back into Result structs, so the run loop, the statuses and the end check
// are the same for both formats. 64-bit values travel as decimal strings, as the API asks.

import {
  ORDER_FLAG_LINKED, ORDER_SIZE_BYTES, RESULT_FLAG_REPLAYED, RESULT_SIZE_BYTES,
} from "../common/constants.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import type { ResultJson } from "../schema/json.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import {
  RESULT_AVAILABLE_OFFSET, RESULT_BALANCE_OFFSET, RESULT_FLAGS_OFFSET, RESULT_ORDER_ID_OFFSET,
  RESULT_RESERVED16_OFFSET, RESULT_RESERVED32_OFFSET, RESULT_SEQUENCE_OFFSET, RESULT_STATUS_OFFSET,
  write_i64, write_u64,
  ORDER_ACCOUNT_OFFSET, ORDER_AMOUNT_OFFSET, ORDER_CURRENCY_OFFSET, ORDER_FLAGS_OFFSET,
  ORDER_ID_OFFSET, ORDER_OP_OFFSET, ORDER_PARTNER_OFFSET, ORDER_REF_OFFSET,
} from "../schema/layout.ts";
import { ascii, put, put_digits, put_safe, put_u64 } from "../schema/json_digits.ts";

export type WireFormat = "flatbuffers" | "json";

// The body is written as bytes, digit by digit (schema/json_digits.ts): building it as strings (a
// decimal string per 64-bit field, then the whole text encoded) was a third of loadgen's CPU in a
// `--format json` run (`bun --cpu-prof`: u64_text 19%, the body's strings 11%, the encoding 2%),
// CPU that the service under test shares on one machine (docs/performance.md).
const ORDER_OPEN = ascii('{"id":"');
const AFTER_ID = ascii('","op":"');
const AFTER_OP = ascii('","partner":');
const AFTER_PARTNER = ascii(',"account":"');
const AFTER_ACCOUNT = ascii('","amount":"');
const AFTER_AMOUNT = ascii('","currency":');
const AFTER_CURRENCY = ascii(',"ref":"');
const ORDER_CLOSE = ascii('"}');
const LINKED_CLOSE = ascii('","linked":true}');
const COMMA = ascii(",");
const BATCH_CLOSE = ascii("]}");
const BATCH_OPEN_COMMITTED = ascii('{"mode":"committed","orders":[');
const BATCH_OPEN_ACCEPTED = ascii('{"mode":"accepted","orders":[');
/** Each op's name as bytes, by op number (undefined: not an op the schema names). */
const OP_NAMES: (Uint8Array | undefined)[] = Array.from({ length: 256 },
  (_, op) => Op[op] === undefined ? undefined : ascii(Op[op]!));
/** The longest order: four 20-digit values, a 10-digit partner, a 5-digit currency, the names. */
export const JSON_ORDER_BYTES_MAX = 256;
const U32_RANGE = 2 ** 32;

/** `count` Order structs as the body of POST /v1/batches in JSON, written at target[at..]. Returns
 * where the body ends; the target has room for JSON_ORDER_BYTES_MAX per order and the frame. */
export function write_order_batch_json(mode: Mode, orders: Uint8Array, count: number,
  target: Uint8Array, at: number): number {
  const view = new DataView(orders.buffer, orders.byteOffset, count * ORDER_SIZE_BYTES);
  let k = put(target, at, mode === Mode.accepted ? BATCH_OPEN_ACCEPTED : BATCH_OPEN_COMMITTED);
  for (let i = 0; i < count; i++) {
    const o = i * ORDER_SIZE_BYTES;
    const op = OP_NAMES[view.getUint8(o + ORDER_OP_OFFSET)];
    if (op === undefined) throw new Error(`order ${i}: an op the schema does not name`);
    if (i > 0) k = put(target, k, COMMA);
    k = put(target, k, ORDER_OPEN);
    k = put_u64(target, k, view, o + ORDER_ID_OFFSET);
    k = put(target, put(target, k, AFTER_ID), op);
    k = put_safe(target, put(target, k, AFTER_OP), view.getUint32(o + ORDER_PARTNER_OFFSET, true));
    k = put_u64(target, put(target, k, AFTER_PARTNER), view, o + ORDER_ACCOUNT_OFFSET);
    k = put_u64(target, put(target, k, AFTER_ACCOUNT), view, o + ORDER_AMOUNT_OFFSET);
    k = put_digits(target, put(target, k, AFTER_AMOUNT),
      view.getUint16(o + ORDER_CURRENCY_OFFSET, true), 0);
    k = put_u64(target, put(target, k, AFTER_CURRENCY), view, o + ORDER_REF_OFFSET);
    const linked = (view.getUint8(o + ORDER_FLAGS_OFFSET) & ORDER_FLAG_LINKED) !== 0;
    k = put(target, k, linked ? LINKED_CLOSE : ORDER_CLOSE);
  }
  return put(target, k, BATCH_CLOSE);
}

/** The same body as a string (tests, and any caller without a buffer). */
export function order_batch_json(mode: Mode, orders: Uint8Array, count: number): string {
  const target = new Uint8Array(JSON_ORDER_BYTES_MAX * (count + 1));
  return new TextDecoder().decode(target.subarray(0,
    write_order_batch_json(mode, orders, count, target, 0)));
}

/**
 * Writes the results of a JSON reply ({"results": [...]}) as Result structs into `target`; returns
 * how many. Throws on a body that is not such a reply, or a status name this build does not know.
 */
export function json_results_into(text: string, target: DataView): number {
  const parsed = JSON.parse(text) as { results?: ResultJson[] };
  const results = parsed.results;
  if (!Array.isArray(results)) throw new Error("a JSON reply without results");
  if (results.length * RESULT_SIZE_BYTES > target.byteLength) {
    throw new Error(`a JSON reply of ${results.length} results`);
  }
  results.forEach((result, k) => {
    const status = Status[result.status as keyof typeof Status];
    if (typeof status !== "number") throw new Error(`unknown status "${result.status}"`);
    const at = k * RESULT_SIZE_BYTES;
    // Numbers, not bigints (4% of a run's CPU): the figures are within +-(2^53 - 1).
    put_u64_text(target, at + RESULT_ORDER_ID_OFFSET, result.id);
    write_u64(target, at + RESULT_SEQUENCE_OFFSET, safe_integer(result.sequence));
    write_i64(target, at + RESULT_BALANCE_OFFSET, safe_integer(result.balance));
    write_i64(target, at + RESULT_AVAILABLE_OFFSET, safe_integer(result.available));
    target.setUint8(at + RESULT_STATUS_OFFSET, status);
    target.setUint8(at + RESULT_FLAGS_OFFSET, result.replayed ? RESULT_FLAG_REPLAYED : 0);
    target.setUint16(at + RESULT_RESERVED16_OFFSET, 0, true);
    target.setUint32(at + RESULT_RESERVED32_OFFSET, 0, true);
  });
  return results.length;
}

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

function safe_integer(text: string): number {
  const value = DECIMAL.test(text.startsWith("-") ? text.slice(1) : text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new Error(`"${text}" is not a safe integer`);
  return value;
}

/** A u64's decimal text into view[offset] (little-endian), without a bigint: the digits before
 * the last five (below 10^15: exact) times 10^5, plus the last five, carried over 2^32. */
function put_u64_text(view: DataView, offset: number, text: string): void {
  if (!DECIMAL.test(text)) throw new Error(`"${text}" is not a u64`);
  if (text.length <= 15) return write_u64(view, offset, Number(text));
  const head = Number(text.slice(0, -5));
  const head_high = Math.floor(head / U32_RANGE);
  const low_part = (head - head_high * U32_RANGE) * 100_000 + Number(text.slice(-5));
  const carry = Math.floor(low_part / U32_RANGE);
  const high = head_high * 100_000 + carry;
  if (high >= U32_RANGE) throw new Error(`"${text}" is not a u64`);
  view.setUint32(offset, low_part - carry * U32_RANGE, true);
  view.setUint32(offset + 4, high, true);
}
