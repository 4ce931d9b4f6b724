// The layouts of ring slots between the main thread and the engine workers (64-byte header, then
// the orders or results). The orders and results are the wire structs, copied verbatim.
//
// A batch slot carries one request's orders for one engine worker, whatever groups they belong to:
// in runs, one per group (the router's parts of that worker, in the request's part order), each
// run's group and order count in the run table after the orders' room. The result slot answers it
// run by run in the same order, each run's results followed by nothing, and the run table there
// holds what each run's reply must wait for: its group's sequence once the run was applied. One
// slot per worker, not per group: a request of many partners costs the main thread and the engine
// one slot, one result slot and one wake whatever the number of groups (docs/performance.md).

import { assert } from "./assert.ts";
import {
  BATCH_ORDERS_MAX, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES, RING_RUN_ENTRY_BYTES,
  RING_SLOT_HEADER_BYTES,
} from "./constants.ts";

export const SlotKind = { batch: 1, query_account: 2, query_order: 3 } as const;
export type SlotKind = (typeof SlotKind)[keyof typeof SlotKind];

const SLOT_KINDS: readonly number[] = Object.values(SlotKind);

export function is_slot_kind(value: number): value is SlotKind {
  return SLOT_KINDS.includes(value);
}

// Request slot (main -> engine).
export const REQUEST_KIND = 0; // u8 SlotKind
export const REQUEST_MODE = 1; // u8 Mode
export const REQUEST_GROUP = 4; // u32: a query's group
export const REQUEST_TOKEN = 8; // u32: the pending request's index on the main thread
export const REQUEST_PART = 12; // u32: the request's part (one group's orders) of the first run
export const REQUEST_COUNT = 16; // u32: orders in the slot, all runs
export const REQUEST_RUNS = 20; // u32: runs in a batch slot
export const REQUEST_QUERY_ID = 24; // u64: the account or order id of a query
export const REQUEST_QUERY_PARTNER = 32; // u32
export const REQUEST_BODY = RING_SLOT_HEADER_BYTES;
/** Per run: u32 group, u32 orders; run r's orders follow those of runs 0..r-1 in the body. */
export const REQUEST_RUN_TABLE = REQUEST_BODY + BATCH_ORDERS_MAX * ORDER_SIZE_BYTES;
export const RUN_GROUP = 0;
export const RUN_COUNT = 4;

// Result slot (engine -> main).
export const RESULT_KIND = 0; // u8 SlotKind
export const RESULT_FOUND = 1; // u8: a query found what it asked for
export const RESULT_GROUP = 4; // u32: a query's group
export const RESULT_TOKEN = 8; // u32
export const RESULT_PART = 12; // u32: as the request's
export const RESULT_COUNT = 16; // u32: results in the slot, all runs
export const RESULT_RUNS = 20; // u32: as the request's
/** A query's: reply only once its group is durable up to it (a batch's runs: the run table). */
export const RESULT_REQUIRED_SEQUENCE = 24; // f64
export const RESULT_BODY = RING_SLOT_HEADER_BYTES;
/** Per run: f64, its group's sequence once the run was applied (durable before the reply). */
export const RESULT_RUN_TABLE = RESULT_BODY + BATCH_ORDERS_MAX * RESULT_SIZE_BYTES;

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
assert(RING_RUN_ENTRY_BYTES === RUN_COUNT + 4, "a run entry: group, then orders");
assert(RESULT_RUN_TABLE % 8 === 0, "the result run table's f64s stay aligned");
