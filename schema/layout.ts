// Byte layout of the wire structs Order and Result (schema/balance.fbs), and BigInt-free helpers to
// read and write their 64-bit fields through a DataView. The hot path (router, engine, replies)
// reads structs in place with these; the generated accessors build a BigInt per 64-bit field and
// are ~50x slower. test/schema/layout.test.ts checks every offset against the flatc-generated
// accessors. FlatBuffers is little-endian, so every access passes `true`.

import { assert } from "../common/assert.ts";
import { ORDER_SIZE_BYTES, RESULT_FLAG_REPLAYED, RESULT_SIZE_BYTES } from "../common/constants.ts";
import type { Op } from "./generated/balance/wire/op.ts";
import type { Status } from "./generated/balance/wire/status.ts";

// struct Order: 40 bytes, 8-aligned.
export const ORDER_ID_OFFSET = 0; // u64
export const ORDER_ACCOUNT_OFFSET = 8; // u64
export const ORDER_AMOUNT_OFFSET = 16; // u64
export const ORDER_REF_OFFSET = 24; // u64
export const ORDER_PARTNER_OFFSET = 32; // u32
export const ORDER_CURRENCY_OFFSET = 36; // u16
export const ORDER_OP_OFFSET = 38; // u8
export const ORDER_FLAGS_OFFSET = 39; // u8
assert(ORDER_FLAGS_OFFSET + 1 === ORDER_SIZE_BYTES, "struct Order is 40 bytes with no padding");

// struct Result: 40 bytes, 8-aligned.
export const RESULT_ORDER_ID_OFFSET = 0; // u64
export const RESULT_SEQUENCE_OFFSET = 8; // u64
export const RESULT_BALANCE_OFFSET = 16; // i64
export const RESULT_AVAILABLE_OFFSET = 24; // i64
export const RESULT_STATUS_OFFSET = 32; // u8
export const RESULT_FLAGS_OFFSET = 33; // u8
export const RESULT_RESERVED16_OFFSET = 34; // u16, zero
export const RESULT_RESERVED32_OFFSET = 36; // u32, zero
assert(RESULT_RESERVED32_OFFSET + 4 === RESULT_SIZE_BYTES, "struct Result is 40 bytes");

const U32_RANGE = 0x1_0000_0000;
// The high u32 half of the largest safe integer, 2^53 - 1.
const SAFE_HIGH_U32_MAX = 0x1f_ffff;

export function read_u64_low_u32(view: DataView, offset: number): number {
  return view.getUint32(offset, true);
}

export function read_u64_high_u32(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true);
}

// The u64 at `offset` as a number, or -1 when it exceeds 2^53 - 1 (it would not be exact).
export function read_u64_safe(view: DataView, offset: number): number {
  const high_u32 = view.getUint32(offset + 4, true);
  if (high_u32 > SAFE_HIGH_U32_MAX) return -1;
  return high_u32 * U32_RANGE + view.getUint32(offset, true);
}

export function write_u64(view: DataView, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, "write_u64 takes a non-negative safe integer");
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / U32_RANGE), true);
}

// Two's complement from a safe integer: the low half is value mod 2^32 (`>>> 0` wraps negatives
// too), the high half the floor of value / 2^32 (negative for negative values). Both divisions are
// exact.
export function write_i64(view: DataView, offset: number, value: number): void {
  assert(Number.isSafeInteger(value), "write_i64 takes a safe integer");
  view.setUint32(offset, value >>> 0, true);
  view.setInt32(offset + 4, Math.floor(value / U32_RANGE), true);
}

// The i64 at `offset` as a number, or NaN when it lies outside +-(2^53 - 1). A -1 sentinel would be
// a valid balance, so signed values use NaN: check with Number.isNaN before use.
export function read_i64_safe(view: DataView, offset: number): number {
  const high_i32 = view.getInt32(offset + 4, true);
  const low_u32 = view.getUint32(offset, true);
  if (high_i32 > SAFE_HIGH_U32_MAX) return NaN;
  if (high_i32 < -SAFE_HIGH_U32_MAX - 1) return NaN;
  // -2^53 itself (high = -2^21, low = 0) is one past the safe range.
  if (high_i32 === -SAFE_HIGH_U32_MAX - 1 && low_u32 === 0) return NaN;
  return high_i32 * U32_RANGE + low_u32;
}

// --- Exact (BigInt) field views: for clients, tests and debugging, never the hot path ----------

export type OrderFields = {
  id: bigint;
  account: bigint;
  amount: bigint;
  ref: bigint;
  partner: number;
  currency: number;
  op: Op;
  flags: number;
};

export type ResultFields = {
  order_id: bigint;
  sequence: bigint;
  balance: bigint;
  available: bigint;
  status: Status;
  replayed: boolean;
};

export function write_order_fields(view: DataView, offset: number, order: OrderFields): void {
  view.setBigUint64(offset + ORDER_ID_OFFSET, order.id, true);
  view.setBigUint64(offset + ORDER_ACCOUNT_OFFSET, order.account, true);
  view.setBigUint64(offset + ORDER_AMOUNT_OFFSET, order.amount, true);
  view.setBigUint64(offset + ORDER_REF_OFFSET, order.ref, true);
  view.setUint32(offset + ORDER_PARTNER_OFFSET, order.partner, true);
  view.setUint16(offset + ORDER_CURRENCY_OFFSET, order.currency, true);
  view.setUint8(offset + ORDER_OP_OFFSET, order.op);
  view.setUint8(offset + ORDER_FLAGS_OFFSET, order.flags);
}

export function read_order_fields(view: DataView, offset: number): OrderFields {
  return {
    id: view.getBigUint64(offset + ORDER_ID_OFFSET, true),
    account: view.getBigUint64(offset + ORDER_ACCOUNT_OFFSET, true),
    amount: view.getBigUint64(offset + ORDER_AMOUNT_OFFSET, true),
    ref: view.getBigUint64(offset + ORDER_REF_OFFSET, true),
    partner: view.getUint32(offset + ORDER_PARTNER_OFFSET, true),
    currency: view.getUint16(offset + ORDER_CURRENCY_OFFSET, true),
    op: view.getUint8(offset + ORDER_OP_OFFSET),
    flags: view.getUint8(offset + ORDER_FLAGS_OFFSET),
  };
}

// Writes all 40 bytes, reserved ones zeroed, so a reused buffer never leaks stale bytes.
export function write_result_fields(view: DataView, offset: number, result: ResultFields): void {
  view.setBigUint64(offset + RESULT_ORDER_ID_OFFSET, result.order_id, true);
  view.setBigUint64(offset + RESULT_SEQUENCE_OFFSET, result.sequence, true);
  view.setBigInt64(offset + RESULT_BALANCE_OFFSET, result.balance, true);
  view.setBigInt64(offset + RESULT_AVAILABLE_OFFSET, result.available, true);
  view.setUint8(offset + RESULT_STATUS_OFFSET, result.status);
  view.setUint8(offset + RESULT_FLAGS_OFFSET, result.replayed ? RESULT_FLAG_REPLAYED : 0);
  view.setUint16(offset + RESULT_RESERVED16_OFFSET, 0, true);
  view.setUint32(offset + RESULT_RESERVED32_OFFSET, 0, true);
}

export function read_result_fields(view: DataView, offset: number): ResultFields {
  const flags = view.getUint8(offset + RESULT_FLAGS_OFFSET);
  return {
    order_id: view.getBigUint64(offset + RESULT_ORDER_ID_OFFSET, true),
    sequence: view.getBigUint64(offset + RESULT_SEQUENCE_OFFSET, true),
    balance: view.getBigInt64(offset + RESULT_BALANCE_OFFSET, true),
    available: view.getBigInt64(offset + RESULT_AVAILABLE_OFFSET, true),
    status: view.getUint8(offset + RESULT_STATUS_OFFSET),
    replayed: (flags & RESULT_FLAG_REPLAYED) !== 0,
  };
}
