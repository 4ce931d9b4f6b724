// Linked chains seen from the main thread, before a batch is split by group. A chain (a run of
// orders flagged linked, and the order that closes it) is all-or-nothing only inside one engine,
// so one that names more than one partner is refused `cross_partner` here, every order of it, and
// none of it reaches a ring: split by group, each engine would apply its half alone. A chain of
// one partner always lands in one group (one partner = one group), whole and in order, and the
// split keeps every other chain's boundaries too once the refused ones are taken out. A chain (or
// lone order) of a group this node does not lead is refused `not_primary` the same way: the
// client reads the routing map again and resends it, same ids, to the group's primary.

import { assert } from "../common/assert.ts";
import {
  BATCH_ORDERS_MAX, ORDER_FLAG_LINKED, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES,
} from "../common/constants.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import {
  ORDER_FLAGS_OFFSET, ORDER_PARTNER_OFFSET, RESULT_ORDER_ID_OFFSET, RESULT_STATUS_OFFSET,
} from "../schema/layout.ts";

function linked(view: DataView, k: number): boolean {
  return (view.getUint8(k * ORDER_SIZE_BYTES + ORDER_FLAGS_OFFSET) & ORDER_FLAG_LINKED) !== 0;
}

function partner_of(view: DataView, k: number): number {
  return view.getUint32(k * ORDER_SIZE_BYTES + ORDER_PARTNER_OFFSET, true);
}

/**
 * The end (exclusive) of the chain that starts at `first`: past its linked orders and the order
 * that closes it, or `count` when the batch ends inside it (an open chain). A lone order is a
 * chain of one.
 */
export function chain_end(view: DataView, first: number, count: number): number {
  assert(first >= 0 && first < count, "a chain starts inside the batch");
  let end = first;
  while (end < count && linked(view, end)) end++;
  return end === count ? count : end + 1;
}

function names_several_partners(view: DataView, first: number, end: number): boolean {
  const partner = partner_of(view, first);
  for (let k = first + 1; k < end; k++) {
    if (partner_of(view, k) !== partner) return true;
  }
  return false;
}

/**
 * Whether this node leads the group of a partner (router/leadership.ts); null: a single node,
 * which leads every group (no lookup per partner).
 */
export type LeadsPartner = ((partner: number) => boolean) | null;

/**
 * Marks in `refused`, per order, the status its chain is refused with before any ring sees it
 * (0: not refused): cross_partner for a chain that names more than one partner, open chains
 * included; not_primary for a chain whose partner's group this node does not lead (a lone order
 * is a chain of one). Returns how many orders it marked. One pass over the flags and partners;
 * leadership is asked once per run of chains of one partner, and not at all on a single node.
 */
export function mark_refused_chains(view: DataView, count: number, refused: Uint8Array,
  leads_partner: LeadsPartner): number {
  assert(count >= 1 && count <= BATCH_ORDERS_MAX, "batch size checked at the edge");
  assert(refused.length >= count, "one mark per order");
  let refused_count = 0;
  let first = 0;
  let led_partner = -1; // the partner asked last, and whether its group is led
  let led = true;
  while (first < count) {
    const end = chain_end(view, first, count);
    let status = 0;
    if (end - first > 1 && names_several_partners(view, first, end)) {
      status = Status.cross_partner;
    } else if (leads_partner !== null) {
      const partner = partner_of(view, first);
      if (partner !== led_partner) {
        led_partner = partner;
        led = leads_partner(partner);
      }
      if (!led) status = Status.not_primary;
    }
    for (let k = first; k < end; k++) refused[k] = status; // a chain is an order or a few
    if (status !== 0) refused_count += end - first;
    first = end;
  }
  return refused_count;
}

/**
 * Writes the result of every marked order into `target` at `offset` (Result k at offset + k * 40):
 * its id and the status marked; sequence and figures 0, as the orders were never applied nor
 * journaled. The other results are left as they are.
 */
export function write_refused_results(target: Uint8Array, offset: number,
  orders: Uint8Array, count: number, refused: Uint8Array): void {
  assert(offset + count * RESULT_SIZE_BYTES <= target.length, "the results fit the target");
  for (let k = 0; k < count; k++) {
    if (refused[k] === 0) continue;
    const at = offset + k * RESULT_SIZE_BYTES;
    target.fill(0, at, at + RESULT_SIZE_BYTES);
    const source = k * ORDER_SIZE_BYTES;
    target.set(orders.subarray(source, source + 8), at + RESULT_ORDER_ID_OFFSET);
    target[at + RESULT_STATUS_OFFSET] = refused[k]!;
  }
}
