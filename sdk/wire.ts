// Small wire helpers shared by the two transports, on top of the schema's codecs (schema/codec.ts,
// schema/layout.ts): the Result structs of a decoded BatchResults, and the token source.

import { RESULT_SIZE_BYTES } from "../common/constants.ts";
import { read_result_fields, type ResultFields } from "../schema/layout.ts";
import type { BatchResultsView } from "../schema/messages.ts";

export const FLATBUFFERS_TYPE = "application/x-flatbuffers";

/** The results of a decoded BatchResults frame, as exact BigInt fields. */
export function batch_results(bytes: Uint8Array, frame: BatchResultsView): ResultFields[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const results: ResultFields[] = [];
  for (let k = 0; k < frame.result_count; k++) {
    results.push(read_result_fields(view, frame.results_byte_offset + k * RESULT_SIZE_BYTES));
  }
  return results;
}

/** A bearer token, fixed or fetched for every connection / request (so it can be refreshed). */
export type TokenSource = string | (() => string | Promise<string>) | undefined;

export async function token_of(source: TokenSource): Promise<string | null> {
  if (source === undefined) return null;
  if (typeof source === "string") return source;
  return await source();
}
