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
  /**
   * Times these orders were sent again with the same ids after a not_primary or a lost node
   * (--seeds): a `replayed` answer is then the original result, not an anomaly.
   */
  resends = 0;

  constructor(readonly capacity: number = BATCH_ORDERS_MAX) {
    this.bytes = new Uint8Array(capacity * ORDER_SIZE_BYTES);
    this.view = new DataView(this.bytes.buffer);
    this.words = new Uint32Array(this.bytes.buffer);
    this.account = new Int32Array(capacity);
    this.target = new Int32Array(capacity);
    this.hold_amount = new Float64Array(capacity);
  }

  /** Becomes a copy of `source`'s request (its orders, indexes, send time and resends). */
  copy_from(source: RequestRecord): void {
    assert(source.count <= this.capacity, "the copy fits its record");
    this.kind = source.kind;
    this.count = source.count;
    this.bytes.set(source.orders());
    this.account.set(source.account.subarray(0, source.count));
    this.target.set(source.target.subarray(0, source.count));
    this.hold_amount.set(source.hold_amount.subarray(0, source.count));
    this.query_account = source.query_account;
    this.query_partner = source.query_partner;
    this.query_account_id = source.query_account_id;
    this.sent_at_ms = source.sent_at_ms;
    this.measured = source.measured;
    this.resends = source.resends;
  }

  /** A new record holding a copy of `source` (allocates: a resend, not the hot path). */
  static copy_of(source: RequestRecord): RequestRecord {
    const copy = new RequestRecord(Math.max(1, source.count));
    copy.copy_from(source);
    return copy;
  }

  /** The bytes of the orders written so far. */
  orders(): Uint8Array {
    return this.bytes.subarray(0, this.count * ORDER_SIZE_BYTES);
  }
}
