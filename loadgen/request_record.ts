// One request slot of a connection, reused for every request sent through it: the order bytes as
// sent (results are matched against them), the dense account indexes of each order, the hold
// amount behind each capture or release, and when it was sent.

import { assert } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, ORDER_SIZE_BYTES } from "../common/constants.ts";

/** Order structs as u32 words (the wire is little-endian, and so is every host Bun runs on). */
export const ORDER_WORDS = ORDER_SIZE_BYTES / 4;
assert(new Uint8Array(new Uint32Array([1]).buffer)[0] === 1, "a little-endian host");

export type RequestKind = "idle" | "batch" | "account";

export class RequestRecord {
  kind: RequestKind = "idle";
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly words: Uint32Array;
  count = 0;
  readonly account: Int32Array;
  readonly target: Int32Array;
  readonly hold_amount: Float64Array;
  /** The account a query reads (kind "account"): dense index, partner and id. */
  query_account = -1;
  query_partner = 0;
  query_account_id = 0n;
  sent_at_ms = 0;
  /** A load request (timed and counted), not set-up or clean-up. */
  measured = false;

  constructor(readonly capacity: number = BATCH_ORDERS_MAX) {
    this.bytes = new Uint8Array(capacity * ORDER_SIZE_BYTES);
    this.view = new DataView(this.bytes.buffer);
    this.words = new Uint32Array(this.bytes.buffer);
    this.account = new Int32Array(capacity);
    this.target = new Int32Array(capacity);
    this.hold_amount = new Float64Array(capacity);
  }

  /** The bytes of the orders written so far. */
  orders(): Uint8Array {
    return this.bytes.subarray(0, this.count * ORDER_SIZE_BYTES);
  }
}
