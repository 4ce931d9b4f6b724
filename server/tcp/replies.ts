// The per-request reply frames of the TCP session that are not on the per-order hot path (account
// and order reads), and the request_id of a batch refused while decoding (batch_empty,
// batch_too_large keep the connection open, so the client must learn which request it was).

import { encode_account_info, encode_order_status } from "../../schema/codec.ts";
import {
  MALFORMED, field_pos, follow_offset, table_vtable, u64_field,
} from "../../schema/flatbuffer_read.ts";
import { read_result_fields } from "../../schema/layout.ts";
import { account_info_of } from "../../router/query_results.ts";

// Frame: field 1 is the message table; OrderBatch: field 0 is request_id.
const FRAME_MESSAGE_FIELD = 1;
const UOFFSET_BYTES = 4;

/** AccountInfo from an engine's account record (common/slots.ts ACCOUNT_*). */
export function account_info_frame(request_id: bigint, account: bigint, body: Uint8Array): Uint8Array {
  return encode_account_info(account_info_of(request_id, account, body));
}

/** OrderStatus (found) from an engine's 40-byte Result. */
export function order_status_frame(request_id: bigint, body: Uint8Array): Uint8Array {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return encode_order_status({ request_id, found: true, result: read_result_fields(view, 0) });
}

/**
 * The request_id of an OrderBatch that decode_frame refused for its size (it read the id before
 * the orders, so the tables are in bounds); 0 if it cannot be read. Every offset is checked.
 */
export function batch_request_id(frame: Uint8Array): bigint {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const frame_pos = follow_offset(view, 0);
  if (frame_pos === MALFORMED) return 0n;
  const frame_vtable = table_vtable(view, frame_pos);
  if (frame_vtable === MALFORMED) return 0n;
  const message_field = field_pos(view, frame_pos, frame_vtable, FRAME_MESSAGE_FIELD, UOFFSET_BYTES);
  if (message_field <= 0) return 0n;
  const message_pos = follow_offset(view, message_field);
  if (message_pos === MALFORMED) return 0n;
  const message_vtable = table_vtable(view, message_pos);
  if (message_vtable === MALFORMED) return 0n;
  return u64_field(view, message_pos, message_vtable, 0) ?? 0n;
}
