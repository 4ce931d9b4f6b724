// Shared builders for the schema tests: random orders and results, and batches built with the
// flatc-generated Builder API (an independent writer to check the hand-written encoders against).

import * as flatbuffers from "flatbuffers";
import { ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../../common/constants.ts";
import type { Prng } from "../../common/prng.ts";
import { BatchResults } from "../../schema/generated/balance/wire/batch-results.ts";
import { Frame } from "../../schema/generated/balance/wire/frame.ts";
import { Message } from "../../schema/generated/balance/wire/message.ts";
import { OrderBatch } from "../../schema/generated/balance/wire/order-batch.ts";
import { Order } from "../../schema/generated/balance/wire/order.ts";
import { Result } from "../../schema/generated/balance/wire/result.ts";
import { read_order_fields, read_result_fields } from "../../schema/layout.ts";

export function random_u64(prng: Prng): bigint {
  return (BigInt(prng.next_u32()) << 32n) | BigInt(prng.next_u32());
}

// Random bytes are valid Order / Result structs as far as the wire goes: every bit pattern is a
// value, and meaning is the engine's business. Result reserved bytes are zeroed as writers must.
export function random_orders(prng: Prng, count: number): Uint8Array {
  const bytes = new Uint8Array(count * ORDER_SIZE_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = prng.int_below(256);
  return bytes;
}

export function random_results(prng: Prng, count: number): Uint8Array {
  const bytes = new Uint8Array(count * RESULT_SIZE_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = prng.int_below(256);
  for (let i = 0; i < count; i++) {
    bytes.fill(0, i * RESULT_SIZE_BYTES + 34, (i + 1) * RESULT_SIZE_BYTES);
  }
  return bytes;
}

function view_of(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

// An OrderBatch frame made by the generated Builder; `mode` undefined leaves the field out.
export function builder_order_batch(
  request_id: bigint,
  mode: number | undefined,
  orders_bytes: Uint8Array,
  count: number,
  omit_vector = false,
): Uint8Array {
  const builder = new flatbuffers.Builder(1024);
  const view = view_of(orders_bytes);
  let vector = 0;
  if (!omit_vector) {
    OrderBatch.startOrdersVector(builder, count);
    // Vectors are built back to front.
    for (let i = count - 1; i >= 0; i--) {
      const o = read_order_fields(view, i * ORDER_SIZE_BYTES);
      Order.createOrder(
        builder, o.id, o.account, o.amount, o.ref, o.partner, o.currency, o.op, o.flags,
      );
    }
    vector = builder.endVector();
  }
  OrderBatch.startOrderBatch(builder);
  OrderBatch.addRequestId(builder, request_id);
  if (mode !== undefined) {
    // Forced, so a mode equal to the default is written too, and any byte can be tested.
    builder.forceDefaults(true);
    OrderBatch.addMode(builder, mode);
    builder.forceDefaults(false);
  }
  if (!omit_vector) OrderBatch.addOrders(builder, vector);
  const batch = OrderBatch.endOrderBatch(builder);
  Frame.finishFrameBuffer(builder, Frame.createFrame(builder, Message.OrderBatch, batch));
  return builder.asUint8Array();
}

export function builder_batch_results(
  request_id: bigint,
  results_bytes: Uint8Array,
  count: number,
): Uint8Array {
  const builder = new flatbuffers.Builder(1024);
  const view = view_of(results_bytes);
  BatchResults.startResultsVector(builder, count);
  for (let i = count - 1; i >= 0; i--) {
    const r = read_result_fields(view, i * RESULT_SIZE_BYTES);
    const flags = view.getUint8(i * RESULT_SIZE_BYTES + 33);
    Result.createResult(
      builder, r.order_id, r.sequence, r.balance, r.available, r.status, flags, 0, 0,
    );
  }
  const vector = builder.endVector();
  const results = BatchResults.createBatchResults(builder, request_id, vector);
  Frame.finishFrameBuffer(builder, Frame.createFrame(builder, Message.BatchResults, results));
  return builder.asUint8Array();
}

// The generated accessors' view of a frame, for comparing against decode_frame.
export function generated_frame(bytes: Uint8Array): Frame {
  return Frame.getRootAsFrame(new flatbuffers.ByteBuffer(bytes));
}
