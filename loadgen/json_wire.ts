// The HTTP API's JSON form for `loadgen --format json` (schema/json_batch.ts is the server's side):
// the same 40-byte Order structs the FlatBuffers path sends, written as a JSON batch, and a JSON
// reply's results written back into Result structs, so the run loop, the statuses and the end check
// are the same for both formats. 64-bit values travel as decimal strings, as the API asks.

import { ORDER_FLAG_LINKED, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { u64_text, type ResultJson } from "../schema/json.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import {
  ORDER_ACCOUNT_OFFSET, ORDER_AMOUNT_OFFSET, ORDER_CURRENCY_OFFSET, ORDER_FLAGS_OFFSET,
  ORDER_ID_OFFSET, ORDER_OP_OFFSET, ORDER_PARTNER_OFFSET, ORDER_REF_OFFSET, write_result_fields,
} from "../schema/layout.ts";

export type WireFormat = "flatbuffers" | "json";

/** `count` Order structs as the body of POST /v1/batches in JSON. */
export function order_batch_json(mode: Mode, orders: Uint8Array, count: number): string {
  const view = new DataView(orders.buffer, orders.byteOffset, count * ORDER_SIZE_BYTES);
  const parts: string[] = [];
  for (let k = 0; k < count; k++) {
    const at = k * ORDER_SIZE_BYTES;
    const op = Op[view.getUint8(at + ORDER_OP_OFFSET)];
    if (op === undefined) throw new Error(`order ${k}: an op the schema does not name`);
    const linked = (view.getUint8(at + ORDER_FLAGS_OFFSET) & ORDER_FLAG_LINKED) !== 0;
    parts.push(`{"id":"${u64_text(view, at + ORDER_ID_OFFSET)}","op":"${op}",` +
      `"partner":${view.getUint32(at + ORDER_PARTNER_OFFSET, true)},` +
      `"account":"${u64_text(view, at + ORDER_ACCOUNT_OFFSET)}",` +
      `"amount":"${u64_text(view, at + ORDER_AMOUNT_OFFSET)}",` +
      `"currency":${view.getUint16(at + ORDER_CURRENCY_OFFSET, true)},` +
      `"ref":"${u64_text(view, at + ORDER_REF_OFFSET)}"${linked ? ',"linked":true' : ""}}`);
  }
  return `{"mode":"${mode === Mode.accepted ? "accepted" : "committed"}","orders":[${parts.join(",")}]}`;
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
    write_result_fields(target, k * RESULT_SIZE_BYTES, {
      order_id: BigInt(result.id), sequence: BigInt(result.sequence),
      balance: BigInt(result.balance), available: BigInt(result.available), status,
      replayed: result.replayed,
    });
  });
  return results.length;
}
