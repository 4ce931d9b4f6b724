// The wire codec in one import: decode_frame for every untrusted frame, and an encoder per message.
// Batches move as raw struct bytes (schema/layout.ts reads them); per-request messages as objects
// with BigInt 64-bit fields (schema/messages.ts). The JSON form of a batch is in schema/json.ts.

import { ProtocolVersion } from "./generated/balance/wire/protocol-version.ts";

export { decode_frame, decode_error, FILE_IDENTIFIER } from "./frame_decode.ts";
export {
  BATCH_FRAME_HEADER_BYTES,
  batch_frame_size_bytes,
  encode_batch_results,
  encode_order_batch,
  write_batch_results,
  write_order_batch,
} from "./frame_encode.ts";
export {
  encode_account_info,
  encode_account_query,
  encode_error,
  encode_hello,
  encode_hello_ok,
  encode_order_query,
  encode_order_status,
  encode_ping,
  encode_routing_map_query,
  encode_routing_map_reply,
} from "./message_encode.ts";
export type * from "./messages.ts";

// The version this build speaks; a Hello naming another is refused with unsupported_version.
export const PROTOCOL_VERSION_CURRENT = ProtocolVersion.v1;
