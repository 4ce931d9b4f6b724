// The layouts of ring slots between the main thread and the engine workers (64-byte header, then
// the orders or results). The orders and results are the wire structs, copied verbatim.

import { assert } from "./assert.ts";
import { RING_SLOT_HEADER_BYTES } from "./constants.ts";

export const SlotKind = { batch: 1, query_account: 2, query_order: 3 } as const;
export type SlotKind = (typeof SlotKind)[keyof typeof SlotKind];

const SLOT_KINDS: readonly number[] = Object.values(SlotKind);

export function is_slot_kind(value: number): value is SlotKind {
  return SLOT_KINDS.includes(value);
}

// Request slot (main -> engine).
export const REQUEST_KIND = 0; // u8 SlotKind
export const REQUEST_MODE = 1; // u8 Mode
export const REQUEST_GROUP = 4; // u32
export const REQUEST_TOKEN = 8; // u32: the pending request's index on the main thread
export const REQUEST_PART = 12; // u32: which part of the request (a batch split by group)
export const REQUEST_COUNT = 16; // u32: orders in the slot
export const REQUEST_QUERY_ID = 24; // u64: the account or order id of a query
export const REQUEST_QUERY_PARTNER = 32; // u32
export const REQUEST_BODY = RING_SLOT_HEADER_BYTES;

// Result slot (engine -> main).
export const RESULT_KIND = 0; // u8 SlotKind
export const RESULT_FOUND = 1; // u8: a query found what it asked for
export const RESULT_GROUP = 4; // u32
export const RESULT_TOKEN = 8; // u32
export const RESULT_PART = 12; // u32
export const RESULT_COUNT = 16; // u32
export const RESULT_REQUIRED_SEQUENCE = 24; // f64: reply only once the group is durable up to it
export const RESULT_BODY = RING_SLOT_HEADER_BYTES;

// Journal slot (engine -> journal worker): the entries of one engine cycle.
export const JOURNAL_SLOT_HEADER_BYTES = 8; // u32 size of the entries that follow

// Body of an account query result.
export const ACCOUNT_PARTNER = 0; // u32
export const ACCOUNT_CURRENCY = 4; // u16
export const ACCOUNT_KIND = 6; // u8
export const ACCOUNT_STATE = 7; // u8
export const ACCOUNT_OVERDRAFT = 8; // f64
export const ACCOUNT_BALANCE = 16; // f64
export const ACCOUNT_HELD = 24; // f64
export const ACCOUNT_AVAILABLE = 32; // f64
export const ACCOUNT_SEQUENCE = 40; // f64
export const ACCOUNT_BYTES = 48;

assert(REQUEST_QUERY_PARTNER + 4 <= RING_SLOT_HEADER_BYTES, "request header fits");
assert(RESULT_REQUIRED_SEQUENCE + 8 <= RING_SLOT_HEADER_BYTES, "result header fits");
