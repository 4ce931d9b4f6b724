// The journal record: one event of a group (an order with its outcome, or a hold expiry), 80 bytes,
// little-endian. Records follow a journal entry header (schema/journal_entry_layout.ts). Replay
// applies the recorded outcome (balance_after, held_after, ...): it never re-decides an order.
//
//   0  order         40  the order exactly as received (schema struct Order); for an expiry the
//                        engine writes op = expire_hold, account = the hold's account, ref = the hold id
//  40  sequence       8  f64, the event's sequence in its group
//  48  balance_after  8  f64, the account's balance after the event
//  56  held_after     8  f64, the account's held amount after the event
//  64  counter_after  8  f64, transfer: the target account's balance after; else 0
//  72  status         1  Status
//  73  reserved       7  zero

import { assert } from "../common/assert.ts";
import { JOURNAL_RECORD_BYTES, ORDER_SIZE_BYTES } from "../common/constants.ts";

export const RECORD_ORDER = 0;
export const RECORD_SEQUENCE = 40;
export const RECORD_BALANCE_AFTER = 48;
export const RECORD_HELD_AFTER = 56;
export const RECORD_COUNTER_AFTER = 64;
export const RECORD_STATUS = 72;
export const RECORD_RESERVED = 73;
const RECORD_RESERVED_BYTES = 7;

assert(RECORD_SEQUENCE === RECORD_ORDER + ORDER_SIZE_BYTES, "order first in a record");
assert(RECORD_RESERVED + RECORD_RESERVED_BYTES === JOURNAL_RECORD_BYTES, "record layout sums up");
