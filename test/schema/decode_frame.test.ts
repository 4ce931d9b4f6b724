// decode_frame on hostile input: it must refuse with the right ErrorCode, or decode to something
// that lies inside the frame, and never throw or read outside `bytes`. Frames are placed inside
// larger buffers of sentinel bytes, so a read past the frame's end would change what is decoded.

import { describe, expect, test } from "bun:test";
import * as flatbuffers from "flatbuffers";
import {
  BATCH_ORDERS_MAX,
  FRAME_SIZE_BYTES_MAX,
  ORDER_SIZE_BYTES,
  RESULT_SIZE_BYTES,
} from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import {
  decode_frame,
  encode_account_info,
  encode_batch_results,
  encode_error,
  encode_hello,
  encode_order_batch,
  encode_order_status,
  type DecodedFrame,
  type DecodeError,
} from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Frame } from "../../schema/generated/balance/wire/frame.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { builder_order_batch, random_orders, random_results } from "./fixtures.ts";

const PAD_BYTES = 24;

function decode_padded(frame: Uint8Array, sentinel: number, context: string) {
  const padded = new Uint8Array(PAD_BYTES + frame.length + PAD_BYTES).fill(sentinel);
  padded.set(frame, PAD_BYTES);
  try {
    return decode_frame(padded.subarray(PAD_BYTES, PAD_BYTES + frame.length));
  } catch (thrown) {
    throw new Error(`decode_frame threw (${context}): ${String(thrown)}`);
  }
}

// Decodes `frame` inside buffers padded with two different sentinels: a read past the frame would
// make the two results differ. Then checks that decoded ranges stay inside the frame.
function decode_checked(frame: Uint8Array, context: string): DecodedFrame | DecodeError {
  const result = decode_padded(frame, 0xee, context);
  if (!Bun.deepEquals(result, decode_padded(frame, 0x11, context))) {
    throw new Error(`decode_frame read bytes outside the frame (${context})`);
  }
  check_inside(result, frame.length, context);
  return result;
}

function check_inside(result: DecodedFrame | DecodeError, length: number, context: string): void {
  let end = 0;
  if (result.type === "order_batch") {
    end = result.orders_byte_offset + result.order_count * ORDER_SIZE_BYTES;
    if (result.order_count < 1 || result.order_count > BATCH_ORDERS_MAX) {
      throw new Error(`order_count ${result.order_count} out of limits (${context})`);
    }
    if (result.mode !== Mode.committed && result.mode !== Mode.accepted) {
      throw new Error(`unknown mode decoded (${context})`);
    }
  }
  if (result.type === "batch_results") {
    end = result.results_byte_offset + result.result_count * RESULT_SIZE_BYTES;
  }
  if (end > length) throw new Error(`decoded range ends at ${end} past ${length} (${context})`);
}

function expect_error(result: DecodedFrame | DecodeError, code: ErrorCode): void {
  if (result.type !== "decode_error") throw new Error(`expected error ${ErrorCode[code]}, decoded`);
  expect(ErrorCode[result.error]).toBe(ErrorCode[code]);
}

function valid_frames(): Uint8Array[] {
  const prng = new Prng(1);
  return [
    encode_order_batch(5n, Mode.accepted, random_orders(prng, 3), 3),
    builder_order_batch(6n, undefined, random_orders(prng, 2), 2),
    encode_batch_results(7n, random_results(prng, 2), 2),
    encode_hello(1, "token-é"),
    encode_error(8n, ErrorCode.busy, "slow down", 10),
    encode_order_status({
      request_id: 9n,
      found: true,
      result: {
        order_id: 1n, sequence: 2n, balance: 3n, available: 4n, status: 0, replayed: false,
      },
    }),
    encode_account_info({
      request_id: 1n, account: 2n, partner: 3, kind: 1, currency: 978, state: 1,
      overdraft_limit: 0n, balance: 5n, held: 0n, available: 5n, sequence: 9n,
    }),
  ];
}

describe("size and identifier", () => {
  test("empty input and inputs shorter than the header are malformed", () => {
    for (let length = 0; length < 8; length++) {
      const result = decode_checked(new Uint8Array(length), `length ${length}`);
      expect_error(result, ErrorCode.malformed_frame);
    }
  });

  test("over FRAME_SIZE_BYTES_MAX is frame_too_large; a frame of exactly the max decodes", () => {
    const frame = encode_order_batch(1n, Mode.committed, random_orders(new Prng(2), 1), 1);
    const at_max = new Uint8Array(FRAME_SIZE_BYTES_MAX);
    at_max.set(frame);
    expect(decode_checked(at_max, "at max").type).toBe("order_batch");
    const over_max = new Uint8Array(FRAME_SIZE_BYTES_MAX + 1);
    over_max.set(frame);
    expect_error(decode_checked(over_max, "over max"), ErrorCode.frame_too_large);
  });

  test("a wrong file identifier is wrong_identifier", () => {
    const frame = encode_hello(1, "t");
    for (let i = 4; i < 8; i++) {
      const corrupt = frame.slice();
      corrupt[i] = (corrupt[i] ?? 0) ^ 0x20;
      expect_error(decode_checked(corrupt, `identifier byte ${i}`), ErrorCode.wrong_identifier);
    }
  });
});

describe("truncation and corruption", () => {
  test("every truncation of a batch frame is refused; of any frame, never throws", () => {
    for (const [index, frame] of valid_frames().entries()) {
      for (let length = 0; length < frame.length; length++) {
        const result = decode_checked(frame.subarray(0, length), `frame ${index} cut at ${length}`);
        if (index < 3) expect(result.type).toBe("decode_error");
      }
    }
  });

  test("every single-byte corruption decodes or is refused, inside the frame", () => {
    for (const [index, frame] of valid_frames().entries()) {
      for (let pos = 0; pos < frame.length; pos++) {
        for (let value = 0; value < 256; value++) {
          const corrupt = frame.slice();
          corrupt[pos] = value;
          decode_checked(corrupt, `frame ${index} byte ${pos} = ${value}`);
        }
      }
    }
  });

  test("10,000 seeded random byte strings, and 10,000 mutations of valid frames", () => {
    const seed = Number(process.env.FUZZ_SEED ?? 0x0bad_5eed);
    const prng = new Prng(seed);
    const frames = valid_frames();
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const bytes = i % 2 === 0 ? random_bytes(prng) : mutated(prng, frames);
      const result = decode_checked(bytes, `seed ${seed} iteration ${i}`);
      counts.set(result.type, (counts.get(result.type) ?? 0) + 1);
    }
    // Mutations keep many frames valid, so the fuzz reaches every decoder, not just the header
    // check (seed 0x0bad5eed: ~16,000 refused, ~1,500 order batches, the rest other types).
    expect(counts.get("decode_error") ?? 0).toBeGreaterThan(10_000);
    expect(counts.get("order_batch") ?? 0).toBeGreaterThan(200);
    expect(counts.size).toBeGreaterThan(5);
  });
});

// Random bytes, half of them with "BAL1" and a small root offset so they reach the table checks.
function random_bytes(prng: Prng): Uint8Array {
  const bytes = new Uint8Array(prng.int_below(300));
  for (let i = 0; i < bytes.length; i++) bytes[i] = prng.int_below(256);
  if (bytes.length >= 8 && prng.int_below(2) === 0) {
    bytes.set([prng.int_below(64), 0, 0, 0, 0x42, 0x41, 0x4c, 0x31]);
  }
  return bytes;
}

function mutated(prng: Prng, frames: Uint8Array[]): Uint8Array {
  const bytes = (frames[prng.int_below(frames.length)] ?? new Uint8Array()).slice();
  const mutation_count = 1 + prng.int_below(4);
  for (let m = 0; m < mutation_count; m++) {
    const pos = 8 + prng.int_below(Math.max(1, bytes.length - 8));
    if (pos < bytes.length) bytes[pos] = prng.int_below(256);
  }
  return bytes;
}

describe("batch limits and fields", () => {
  test("an empty orders vector, or none at all, is batch_empty", () => {
    const empty = builder_order_batch(1n, 0, new Uint8Array(), 0);
    expect_error(decode_checked(empty, "empty"), ErrorCode.batch_empty);
    const no_vector = builder_order_batch(1n, 0, new Uint8Array(), 0, true);
    expect_error(decode_checked(no_vector, "no vector"), ErrorCode.batch_empty);
  });

  test("129 orders is batch_too_large; 128 and 1 decode", () => {
    const prng = new Prng(3);
    const over_count = BATCH_ORDERS_MAX + 1;
    const over = builder_order_batch(1n, 0, random_orders(prng, over_count), over_count);
    expect_error(decode_checked(over, "129"), ErrorCode.batch_too_large);
    for (const count of [1, BATCH_ORDERS_MAX]) {
      const frame = builder_order_batch(1n, 1, random_orders(prng, count), count);
      const result = decode_checked(frame, `${count}`);
      expect(result.type === "order_batch" && result.order_count).toBe(count);
    }
  });

  test("an unknown mode is malformed_frame", () => {
    for (const mode of [2, 255]) {
      const frame = builder_order_batch(1n, mode, random_orders(new Prng(4), 1), 1);
      expect_error(decode_checked(frame, `mode ${mode}`), ErrorCode.malformed_frame);
    }
  });

  test("a frame with no message, or an unknown message type, is malformed_frame", () => {
    const builder = new flatbuffers.Builder(64);
    Frame.startFrame(builder);
    Frame.finishFrameBuffer(builder, Frame.endFrame(builder));
    expect_error(decode_checked(builder.asUint8Array(), "no message"), ErrorCode.malformed_frame);
    const frame = encode_hello(1, "t");
    // The hand-written batch header puts the message type at byte 24.
    const batch = encode_order_batch(1n, 0, random_orders(new Prng(5), 1), 1);
    for (const type of [0, 14, 255]) { // 1..13 are Hello..RoutingMapReply
      const corrupt = batch.slice();
      corrupt[24] = type;
      expect_error(decode_checked(corrupt, `type ${type}`), ErrorCode.malformed_frame);
    }
    expect(decode_checked(frame, "hello").type).toBe("hello");
  });
});
