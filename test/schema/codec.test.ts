// Round trips of every message type through the encoders and decode_frame, with the flatc-generated
// accessors (and flatc itself) as independent readers and writers.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BATCH_ORDERS_MAX,
  ERROR_MESSAGE_LENGTH_MAX,
  ORDER_SIZE_BYTES,
} from "../../common/constants.ts";
import { RESULT_SIZE_BYTES } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import {
  batch_frame_size_bytes,
  decode_frame,
  encode_account_info,
  encode_account_query,
  encode_ping,
  encode_batch_results,
  encode_error,
  encode_hello,
  encode_hello_ok,
  encode_order_batch,
  encode_order_query,
  encode_order_status,
  write_batch_results,
  type DecodedFrame,
  type DecodeError,
} from "../../schema/codec.ts";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../../schema/generated/balance/wire/account-state.ts";
import { BatchResults } from "../../schema/generated/balance/wire/batch-results.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Message } from "../../schema/generated/balance/wire/message.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { OrderBatch } from "../../schema/generated/balance/wire/order-batch.ts";
import { ProtocolVersion } from "../../schema/generated/balance/wire/protocol-version.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { read_order_fields, read_result_fields } from "../../schema/layout.ts";
import { SCHEMA_PATH } from "../../scripts/generate-schema.ts";
import {
  builder_batch_results,
  builder_order_batch,
  generated_frame,
  random_orders,
  random_results,
} from "./fixtures.ts";

function decoded<T extends DecodedFrame["type"]>(
  frame: Uint8Array,
  type: T,
): Extract<DecodedFrame, { type: T }> {
  const result: DecodedFrame | DecodeError = decode_frame(frame);
  if (result.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(result)}`);
  return result as Extract<DecodedFrame, { type: T }>;
}

const U64_MAX = 2n ** 64n - 1n;

describe("OrderBatch", () => {
  test("encode_order_batch -> decode_frame gives the orders' bytes in place", () => {
    const prng = new Prng(11);
    for (const count of [1, 2, 20, BATCH_ORDERS_MAX]) {
      const orders = random_orders(prng, count);
      const frame = encode_order_batch(U64_MAX, Mode.accepted, orders, count);
      expect(frame.length).toBe(batch_frame_size_bytes(count));
      const batch = decoded(frame, "order_batch");
      expect(batch.request_id).toBe(U64_MAX);
      expect(batch.mode).toBe(Mode.accepted);
      expect(batch.order_count).toBe(count);
      expect(batch.orders_byte_offset % 8).toBe(0);
      const end = batch.orders_byte_offset + count * ORDER_SIZE_BYTES;
      expect(frame.subarray(batch.orders_byte_offset, end)).toEqual(orders);
    }
  });

  test("the generated accessors read the hand-written frame", () => {
    const orders = random_orders(new Prng(12), 3);
    const frame = encode_order_batch(42n, Mode.committed, orders, 3);
    const root = generated_frame(frame);
    expect(root.messageType()).toBe(Message.OrderBatch);
    const batch: OrderBatch = root.message(new OrderBatch());
    expect(batch.requestId()).toBe(42n);
    expect(batch.mode()).toBe(Mode.committed);
    expect(batch.ordersLength()).toBe(3);
    const view = new DataView(orders.buffer);
    for (let i = 0; i < 3; i++) {
      const expected = read_order_fields(view, i * ORDER_SIZE_BYTES);
      const order = batch.orders(i);
      expect(order?.id()).toBe(expected.id);
      expect(order?.ref()).toBe(expected.ref);
      expect(order?.flags()).toBe(expected.flags);
    }
  });

  test("a Builder-made batch decodes to the same bytes, defaults left out included", () => {
    const prng = new Prng(13);
    const orders = random_orders(prng, 20);
    for (const mode of [undefined, Mode.committed, Mode.accepted]) {
      const frame = builder_order_batch(0n, mode, orders, 20);
      const batch = decoded(frame, "order_batch");
      expect(batch.request_id).toBe(0n);
      expect(batch.mode).toBe(mode ?? Mode.committed);
      const end = batch.orders_byte_offset + 20 * ORDER_SIZE_BYTES;
      expect(frame.subarray(batch.orders_byte_offset, end)).toEqual(orders);
    }
  });
});

describe("BatchResults", () => {
  test("encode_batch_results round trip, and the generated accessors agree", () => {
    const prng = new Prng(21);
    for (const count of [0, 1, 20, BATCH_ORDERS_MAX]) {
      const results = random_results(prng, count);
      const frame = encode_batch_results(7n, results, count);
      const decoded_results = decoded(frame, "batch_results");
      expect(decoded_results.request_id).toBe(7n);
      expect(decoded_results.result_count).toBe(count);
      const start = decoded_results.results_byte_offset;
      expect(frame.subarray(start, start + count * RESULT_SIZE_BYTES)).toEqual(results);
      const generated: BatchResults = generated_frame(frame).message(new BatchResults());
      expect(generated.resultsLength()).toBe(count);
      if (count > 0) {
        const expected = read_result_fields(new DataView(results.buffer), 0);
        expect(generated.results(0)?.balance()).toBe(expected.balance);
        expect(generated.results(0)?.status()).toBe(expected.status);
      }
    }
  });

  test("write_batch_results into a larger buffer at an offset", () => {
    const results = random_results(new Prng(22), 5);
    const target: Uint8Array = new Uint8Array(1000).fill(0xee);
    const size_bytes = write_batch_results(target, 12, 99n, results, 5);
    expect(size_bytes).toBe(batch_frame_size_bytes(5));
    const frame = target.subarray(12, 12 + size_bytes);
    const decoded_results = decoded(frame, "batch_results");
    expect(decoded_results.request_id).toBe(99n);
    expect(frame.subarray(64, 64 + 200)).toEqual(results);
    expect(target[11]).toBe(0xee);
    expect(target[12 + size_bytes]).toBe(0xee);
  });

  test("a Builder-made BatchResults decodes to the same bytes", () => {
    const results = random_results(new Prng(23), 20);
    const frame = builder_batch_results(5n, results, 20);
    const decoded_results = decoded(frame, "batch_results");
    const start = decoded_results.results_byte_offset;
    expect(frame.subarray(start, start + 20 * RESULT_SIZE_BYTES)).toEqual(results);
  });
});

describe("per-request messages", () => {
  test("Hello and HelloOk", () => {
    const token = "eyJhbGciOi.é✓.signature";
    const hello = decoded(encode_hello(ProtocolVersion.v1, token), "hello");
    expect(hello).toEqual({ type: "hello", protocol_version: ProtocolVersion.v1, token });
    expect(decoded(encode_hello(ProtocolVersion.unknown, ""), "hello").token).toBe("");
    const fields = {
      protocol_version: ProtocolVersion.v1,
      partner: 0xffff_ffff,
      internal: true,
      frame_size_max: 65536,
      in_flight_max: 256,
      batch_orders_max: 128,
    };
    expect(decoded(encode_hello_ok(fields), "hello_ok")).toEqual({ type: "hello_ok", ...fields });
    const zero = { ...fields, partner: 0, internal: false, in_flight_max: 0 };
    expect(decoded(encode_hello_ok(zero), "hello_ok")).toEqual({ type: "hello_ok", ...zero });
  });

  test("Ping and Pong carry their nonce", () => {
    expect(decoded(encode_ping(U64_MAX), "ping")).toEqual({ type: "ping", nonce: U64_MAX });
    expect(decoded(encode_ping(5n, true), "pong")).toEqual({ type: "pong", nonce: 5n });
  });

  test("AccountQuery and AccountInfo", () => {
    const query = decoded(encode_account_query(1n, U64_MAX), "account_query");
    expect(query).toEqual({ type: "account_query", request_id: 1n, account: U64_MAX, partner: 0 });
    const named = decoded(encode_account_query(3n, 42n, 0xffff_ffff), "account_query");
    expect(named).toEqual({ type: "account_query", request_id: 3n, account: 42n, partner: 0xffff_ffff });
    const info = {
      request_id: 2n,
      account: 123_456_789_012_345n,
      partner: 7,
      kind: AccountKind.provider,
      currency: 978,
      state: AccountState.frozen,
      overdraft_limit: 500n,
      balance: -(2n ** 53n - 1n),
      held: 0n,
      available: 2n ** 63n - 1n,
      sequence: 2n ** 40n,
    };
    const decoded_info = decoded(encode_account_info(info), "account_info");
    expect(decoded_info).toEqual({ type: "account_info", ...info });
  });

  test("OrderQuery and OrderStatus, found and not found", () => {
    const query = decoded(encode_order_query(3n, 2n ** 62n + 5n, 9), "order_query");
    const order_id = 2n ** 62n + 5n;
    expect(query).toEqual({ type: "order_query", request_id: 3n, order_id, partner: 9 });
    const result = {
      order_id: 2n ** 62n + 5n,
      sequence: 77n,
      balance: -3n,
      available: 100n,
      status: Status.capture_exceeds_hold,
      replayed: true,
    };
    const found = { request_id: 4n, found: true, result };
    const decoded_found = decoded(encode_order_status(found), "order_status");
    expect(decoded_found).toEqual({ type: "order_status", ...found });
    const missing = { request_id: 5n, found: false, result: null };
    expect(decoded(encode_order_status(missing), "order_status")).toEqual({
      type: "order_status",
      ...missing,
    });
  });

  test("Error, its message cut at ERROR_MESSAGE_LENGTH_MAX", () => {
    const error = decoded(encode_error(6n, ErrorCode.busy, "ring full", 25), "error");
    expect(error).toEqual({
      type: "error",
      request_id: 6n,
      code: ErrorCode.busy,
      message: "ring full",
      retry_after_ms: 25,
    });
    const long = decoded(encode_error(0n, ErrorCode.malformed_frame, "x".repeat(5000), 0), "error");
    expect(long.message.length).toBe(ERROR_MESSAGE_LENGTH_MAX);
  });
});

describe("interoperability with flatc", () => {
  // flatc turns our frames into JSON and back into binaries of its own layout (C++ builder): the
  // decoder must read those too, to the same bytes.
  test("flatc json -> binary of our frames decodes to the same content", () => {
    const work_dir = mkdtempSync(join(tmpdir(), "balance-flatc-"));
    try {
      const prng = new Prng(31);
      const orders = random_orders(prng, 20);
      const results = random_results(prng, 20);
      const frames = {
        batch: encode_order_batch(2n ** 63n, Mode.accepted, orders, 20),
        results: encode_batch_results(17n, results, 20),
        error: encode_error(1n, ErrorCode.batch_too_large, "too many", 0),
      };
      for (const [name, frame] of Object.entries(frames)) {
        writeFileSync(join(work_dir, `${name}.bal`), frame);
        const binary_path = join(work_dir, `${name}.bal`);
        const to_json = Bun.spawnSync(
          ["flatc", "--json", "--strict-json", "-o", work_dir, SCHEMA_PATH, "--", binary_path],
        );
        expect(to_json.exitCode).toBe(0);
        const out_dir = join(work_dir, "out");
        const json_path = join(work_dir, `${name}.json`);
        const to_binary = Bun.spawnSync(
          ["flatc", "--binary", "-o", out_dir, SCHEMA_PATH, json_path],
        );
        expect(to_binary.exitCode).toBe(0);
        const rebuilt: Uint8Array = new Uint8Array(readFileSync(join(out_dir, `${name}.bal`)));
        const ours = decode_frame(frame);
        const theirs = decode_frame(rebuilt);
        expect(theirs.type).toBe(ours.type);
        if (ours.type === "order_batch" && theirs.type === "order_batch") {
          expect(theirs.request_id).toBe(ours.request_id);
          expect(theirs.mode).toBe(ours.mode);
          const start = theirs.orders_byte_offset;
          expect(rebuilt.subarray(start, start + 800)).toEqual(orders);
        }
        if (ours.type === "batch_results" && theirs.type === "batch_results") {
          const start = theirs.results_byte_offset;
          expect(rebuilt.subarray(start, start + 800)).toEqual(results);
        }
        if (ours.type === "error") expect(theirs).toEqual(ours);
      }
    } finally {
      rmSync(work_dir, { recursive: true, force: true });
    }
  });
});
