// Plays the engine for the router's tests: order batches to submit, result slots written from
// the request slots the router placed (each order's id back, a required durable sequence per run).

import {
  ORDER_SIZE_BYTES, RESULT_SIZE_BYTES, RING_RESULT_SLOT_BYTES,
} from "../../common/constants.ts";
import { Ring } from "../../common/ring.ts";
import * as S from "../../common/slots.ts";
import type { Router } from "../../router/router.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { read_result_fields, write_order_fields } from "../../schema/layout.ts";

export const SLOTS = 16;

/** Credits of ids first_id, first_id + 1, ...; `linked` flags the orders at those indexes. */
export function orders_of(partners: number[], linked: number[] = [], first_id = 1): Uint8Array {
  const bytes = new Uint8Array(partners.length * ORDER_SIZE_BYTES);
  const view = new DataView(bytes.buffer);
  partners.forEach((partner, k) => write_order_fields(view, k * ORDER_SIZE_BYTES, {
    id: BigInt(first_id + k), account: 1n, amount: 1n, ref: 0n, partner, currency: 978,
    op: Op.credit, flags: linked.includes(k) ? 1 : 0,
  }));
  return bytes;
}

/**
 * Plays the engine for one slot at the ring's consumer cursor: a result slot with each order's id,
 * every run's reply waiting for `required` durable, handed to the router.
 */
export function answer_next(router: Router, inbound: Ring, results: Ring, required: number): void {
  const at = inbound.slot_offset(inbound.consumer_cursor());
  const cursor = results.claim();
  const out = results.slot_offset(cursor);
  const iv = inbound.view;
  const rv = results.view;
  rv.setUint8(out + S.RESULT_KIND, iv.getUint8(at + S.REQUEST_KIND));
  const fields: [number, number][] = [
    [S.REQUEST_TOKEN, S.RESULT_TOKEN], [S.REQUEST_PART, S.RESULT_PART],
    [S.REQUEST_GROUP, S.RESULT_GROUP], [S.REQUEST_COUNT, S.RESULT_COUNT],
    [S.REQUEST_RUNS, S.RESULT_RUNS],
  ];
  for (const [from, to] of fields) rv.setUint32(out + to, iv.getUint32(at + from, true), true);
  const count = iv.getUint32(at + S.REQUEST_COUNT, true);
  for (let k = 0; k < count; k++) {
    const id = iv.getBigUint64(at + S.REQUEST_BODY + k * ORDER_SIZE_BYTES, true);
    rv.setBigUint64(out + S.RESULT_BODY + k * RESULT_SIZE_BYTES, id, true);
  }
  for (let run = 0; run < iv.getUint32(at + S.REQUEST_RUNS, true); run++) {
    rv.setFloat64(out + S.RESULT_RUN_TABLE + run * 8, required, true);
  }
  rv.setFloat64(out + S.RESULT_REQUIRED_SEQUENCE, required, true);
  results.publish(cursor);
  inbound.release(1);
  router.on_result_slot(results, out);
  results.release(1);
}

/** Plays the engine for every slot in the ring (answer_next). */
export function answer_all(router: Router, inbound: Ring, required: number): void {
  const results = Ring.create({ slot_count: SLOTS, slot_bytes: RING_RESULT_SLOT_BYTES });
  while (inbound.available() > 0) answer_next(router, inbound, results, required);
}

/** Per result: its order id, status name and sequence. */
export function statuses(results: Uint8Array, count: number): [bigint, string, bigint][] {
  const view = new DataView(results.buffer, results.byteOffset, results.byteLength);
  return Array.from({ length: count }, (_, k) => {
    const r = read_result_fields(view, k * RESULT_SIZE_BYTES);
    return [r.order_id, Status[r.status]!, r.sequence];
  });
}
