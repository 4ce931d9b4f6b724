// The JSON batch must yield exactly the Order bytes of the FlatBuffers path, and refuse every bad
// input kind with a message naming the order and the field.

import { describe, expect, test } from "bun:test";
import {
  BATCH_ORDERS_MAX,
  HTTP_BODY_SIZE_BYTES_MAX,
  ORDER_SIZE_BYTES,
} from "../../common/constants.ts";
import {
  decode_frame,
  encode_account_info,
  encode_batch_results,
  encode_order_batch,
} from "../../schema/codec.ts";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import {
  type OrderFields,
  read_order_fields,
  write_order_fields,
  write_result_fields,
} from "../../schema/layout.ts";
import {
  account_info_to_json, parse_batch_json, parse_batch_json_bytes, results_reply_json_bytes, results_to_json, u64_text,
} from "../../schema/json.ts";

function order_bytes(orders: OrderFields[]): Uint8Array {
  const bytes = new Uint8Array(orders.length * ORDER_SIZE_BYTES);
  const view = new DataView(bytes.buffer);
  orders.forEach((order, i) => write_order_fields(view, i * ORDER_SIZE_BYTES, order));
  return bytes;
}

/**
 * The full parser's answer, which the service's entry from the body's bytes (its fast path first)
 * must give too: every case here runs through both.
 */
function parse_both(body: unknown): ReturnType<typeof parse_batch_json> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const result = parse_batch_json(text);
  expect(parse_batch_json_bytes(new TextEncoder().encode(text))).toEqual(result);
  return result;
}

function parsed_ok(body: unknown) {
  const result = parse_both(body);
  if (result.type !== "json_batch") throw new Error(`refused: ${result.message}`);
  return result;
}

function refused(body: unknown, code = ErrorCode.malformed_frame): string {
  const result = parse_both(body);
  if (result.type !== "decode_error") throw new Error(`accepted: ${JSON.stringify(body)}`);
  expect(ErrorCode[result.error]).toBe(ErrorCode[code]);
  return result.message;
}

const credit = { id: "1", op: "credit", partner: 7, account: "42", amount: "100", currency: 978 };

describe("parse_batch_json", () => {
  test("yields the same order bytes as the FlatBuffers path", () => {
    const body = `{"mode":"accepted","orders":[
      {"id":"18446744073709551615","op":"credit","partner":4294967295,"account":"42",
       "amount":"9007199254740993","currency":978,"ref":"0","linked":true},
      {"id":9007199254740991,"op":"transfer","partner":7,"account":"1","amount":5,"currency":840,
       "to":"2"}]}`;
    const parsed = parsed_ok(body);
    expect(parsed.mode).toBe(Mode.accepted);
    const expected = order_bytes([
      { id: 2n ** 64n - 1n, account: 42n, amount: 2n ** 53n + 1n, ref: 0n, partner: 0xffff_ffff,
        currency: 978, op: Op.credit, flags: 1 },
      { id: 2n ** 53n - 1n, account: 1n, amount: 5n, ref: 2n, partner: 7, currency: 840,
        op: Op.transfer, flags: 0 },
    ]);
    expect(parsed.orders_bytes).toEqual(expected);
    const frame = encode_order_batch(1n, parsed.mode, parsed.orders_bytes, parsed.order_count);
    const decoded = decode_frame(frame);
    if (decoded.type !== "order_batch") throw new Error("the frame must decode");
    const start = decoded.orders_byte_offset;
    expect(frame.subarray(start, start + 2 * ORDER_SIZE_BYTES)).toEqual(expected);
  });

  test("mode defaults to committed; optional fields to 0 and false", () => {
    const parsed = parsed_ok({ orders: [{ id: "5", op: "freeze", partner: 1, account: "9" }] });
    expect(parsed.mode).toBe(Mode.committed);
    const order = read_order_fields(new DataView(parsed.orders_bytes.buffer), 0);
    expect(order).toEqual({ id: 5n, account: 9n, amount: 0n, ref: 0n, partner: 1, currency: 0,
      op: Op.freeze, flags: 0 });
  });

  test("friendly fields map onto amount and ref", () => {
    const cases: [Record<string, unknown>, bigint, bigint][] = [
      [{ op: "open_account", kind: "provider", overdraft_limit: "500" }, 500n, 2n], // provider = 2
      [{ op: "set_overdraft", overdraft_limit: 0 }, 0n, 0n],
      [{ op: "hold", amount: "10", timeout_ms: 30000 }, 10n, 30000n],
      [{ op: "capture", amount: "4", hold: "77" }, 4n, 77n],
      [{ op: "release", hold: "78" }, 0n, 78n],
      [{ op: "transfer", amount: "3", to: "99" }, 3n, 99n],
      [{ op: "transfer", amount: "3", ref: "99" }, 3n, 99n],
    ];
    for (const [fields, amount, ref] of cases) {
      const parsed = parsed_ok({ orders: [{ id: "1", partner: 1, account: "2", ...fields }] });
      const order = read_order_fields(new DataView(parsed.orders_bytes.buffer), 0);
      expect([order.amount, order.ref]).toEqual([amount, ref]);
    }
  });

  test("refuses bad numbers, naming the order and the field", () => {
    const bad_values: [unknown, string][] = [
      [1.5, "must be an integer"],
      [-1, "must not be negative"],
      ["-1", "decimal string"],
      ["12a", "decimal string"],
      ["", "decimal string"],
      ["007", "decimal string"],
      [" 1", "decimal string"],
      ["18446744073709551616", "exceeds"],
      [null, "got object"],
      [true, "got boolean"],
    ];
    for (const [value, hint] of bad_values) {
      const message = refused({ orders: [credit, { ...credit, amount: value }] });
      expect(message).toContain("orders[1].amount");
      expect(message).toContain(hint);
    }
    // JSON integers past 2^53 - 1, and floats or exponents that look whole, are refused.
    for (const source of ["9007199254740992", "18446744073709551615", "1e3", "1.0", "100.00",
      "-1", "-0", "1E2"]) {
      const order = `{"id":"1","op":"credit","partner":1,"account":${source}}`;
      const message = refused(`{"orders":[${order}]}`);
      expect(message).toContain("orders[0].account");
    }
    const partner = 4294967296;
    expect(refused({ orders: [{ ...credit, partner }] })).toContain("orders[0].partner");
    expect(refused({ orders: [{ ...credit, currency: 65536 }] })).toContain("orders[0].currency");
  });

  test("refuses unknown ops, unknown fields, missing fields and bad flags", () => {
    expect(refused({ orders: [{ ...credit, op: "recharge" }] })).toContain("unknown op");
    expect(refused({ orders: [{ ...credit, op: "expire_hold" }] })).toContain("engine-generated");
    expect(refused({ orders: [{ ...credit, op: 1 }] })).toContain("orders[0].op");
    expect(refused({ orders: [{ ...credit, ammount: "1" }] })).toContain("field \"ammount\"");
    const to_on_credit = refused({ orders: [{ ...credit, to: "5" }] });
    expect(to_on_credit).toContain("unknown field \"to\" for op \"credit\"");
    expect(refused({ orders: [{ ...credit, id: undefined }] })).toContain("orders[0].id: missing");
    expect(refused({ orders: [{ ...credit, linked: 1 }] })).toContain("orders[0].linked");
    expect(refused({ orders: [{ ...credit, linked: null }] })).toContain("orders[0].linked");
    const both = { id: "1", op: "transfer", partner: 1, account: "2", to: "3", ref: "3" };
    expect(refused({ orders: [both] })).toContain("not both");
    const kind = { id: "1", op: "open_account", partner: 1, account: "2", kind: "merchant" };
    expect(refused({ orders: [kind] })).toContain("orders[0].kind");
    expect(refused({ orders: [credit], request_id: 1 })).toContain("unknown field \"request_id\"");
    expect(refused({ orders: [credit, 5] })).toContain("orders[1]: must be an object");
  });

  test("refuses bad bodies, modes and batch sizes", () => {
    expect(refused("{\"orders\":[")).toContain("invalid JSON");
    expect(refused("[]")).toContain("JSON object");
    expect(refused("null")).toContain("JSON object");
    expect(refused({ orders: "x" })).toContain("array");
    expect(refused({ mode: "fast", orders: [credit] })).toContain("mode");
    refused({ orders: [] }, ErrorCode.batch_empty);
    refused({ orders: Array(BATCH_ORDERS_MAX + 1).fill(credit) }, ErrorCode.batch_too_large);
    const full = parsed_ok({ orders: Array(BATCH_ORDERS_MAX).fill(credit) });
    expect(full.order_count).toBe(BATCH_ORDERS_MAX);
    refused(" ".repeat(HTTP_BODY_SIZE_BYTES_MAX + 1), ErrorCode.frame_too_large);
  });
});

describe("JSON output", () => {
  test("results_to_json reads Result structs in a reply frame", () => {
    const results = new Uint8Array(80);
    const view = new DataView(results.buffer);
    write_result_fields(view, 0, { order_id: 2n ** 64n - 1n, sequence: 10n, balance: -5n,
      available: 95n, status: Status.ok, replayed: true });
    write_result_fields(view, 40, { order_id: 3n, sequence: 11n, balance: 0n, available: 0n,
      status: Status.insufficient_funds, replayed: false });
    const frame = encode_batch_results(1n, results, 2);
    const decoded = decode_frame(frame);
    if (decoded.type !== "batch_results") throw new Error("the frame must decode");
    const frame_view = new DataView(frame.buffer, frame.byteOffset, frame.length);
    expect(results_to_json(frame_view, decoded.results_byte_offset, 2)).toEqual([
      { id: "18446744073709551615", status: "ok", sequence: "10", balance: "-5", available: "95",
        replayed: true },
      { id: "3", status: "insufficient_funds", sequence: "11", balance: "0", available: "0",
        replayed: false },
    ]);
    view.setUint8(32, 200);
    expect(results_to_json(view, 0, 1)[0]?.status).toBe("unknown_200");
  });

  test("results_reply_json_bytes writes what JSON.stringify writes of the results, for any result", () => {
    const count = 2_000;
    const view = new DataView(new ArrayBuffer(count * 40));
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0);
    const safe = () => (next() % 2 === 0 ? 1 : -1) * (next() * 2 ** 21 + (next() & 0x1f_ffff));
    for (let k = 0; k < count; k++) {
      write_result_fields(view, k * 40, {
        order_id: (BigInt(next()) << 32n) | BigInt(next()), sequence: BigInt(next()),
        balance: BigInt(safe()), available: BigInt(safe()),
        status: next() % 64, // unknown values too: they are named unknown_N
        replayed: next() % 2 === 0 });
    }
    // The edges: 0, +-(2^53 - 1), the largest id, each figure one digit short of the next power.
    const edges = [0n, 9n, -9n, 10n, 2n ** 53n - 1n, -(2n ** 53n - 1n), 999_999_999n,
      1_000_000_000n];
    edges.forEach((figure, k) => write_result_fields(view, k * 40, {
      order_id: k === 0 ? 2n ** 64n - 1n : figure < 0n ? -figure : figure,
      sequence: figure < 0n ? 0n : figure,
      balance: figure, available: -figure, status: k, replayed: k % 2 === 0 }));
    const decoder = new TextDecoder();
    let checked = 0;
    for (let first = 0; first + BATCH_ORDERS_MAX <= count; first += 7) {
      for (const n of [0, 1, BATCH_ORDERS_MAX]) {
        const text = decoder.decode(results_reply_json_bytes(view, first * 40, n));
        expect(text).toBe(JSON.stringify({ results: results_to_json(view, first * 40, n) }));
        checked += n;
      }
    }
    expect(checked).toBeGreaterThan(count);
  });

  test("results_reply_json_bytes: each call a new array (a reply keeps its bytes until sent)", () => {
    const view = new DataView(new ArrayBuffer(2 * 40));
    write_result_fields(view, 40, { order_id: 5n, sequence: 6n, balance: 7n, available: 8n,
      status: 0, replayed: false });
    const first = results_reply_json_bytes(view, 0, 1);
    const kept = new TextDecoder().decode(first);
    results_reply_json_bytes(view, 40, 1);
    expect(new TextDecoder().decode(first)).toBe(kept);
    expect(() => results_reply_json_bytes(view, 0, BATCH_ORDERS_MAX + 1)).toThrow();
  });

  test("account_info_to_json names enums and writes 64-bit values as strings", () => {
    const info = { request_id: 1n, account: 2n ** 63n, partner: 7, kind: AccountKind.user,
      currency: 978, state: 2, overdraft_limit: 0n, balance: -10n, held: 5n, available: -15n,
      sequence: 3n };
    const decoded = decode_frame(encode_account_info(info));
    if (decoded.type !== "account_info") throw new Error("the frame must decode");
    expect(account_info_to_json(decoded)).toEqual({ account: "9223372036854775808", partner: 7,
      kind: "user", currency: 978, state: "frozen", overdraft_limit: "0", balance: "-10", held: "5",
      available: "-15", sequence: "3" });
  });
});

describe("u64_text: the decimal of a u64 without a bigint", () => {
  test("edges of each word and of 2^53, and random values, agree with BigInt", () => {
    const view = new DataView(new ArrayBuffer(8));
    const values = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n,
      (2n ** 21n) << 32n, ((2n ** 21n) << 32n) - 1n, 2n ** 63n, 2n ** 64n - 1n, 99_999n << 32n,
      (BigInt(1_796_000_000_000) << 22n) | 12_345n];
    let seed = 12_345n;
    for (let n = 0; n < 2_000; n++) {
      seed = (seed * 6_364_136_223_846_793_005n + 1_442_695_040_888_963_407n) % 2n ** 64n;
      values.push(seed);
    }
    for (const value of values) {
      view.setBigUint64(0, value, true);
      expect(u64_text(view, 0)).toBe(value.toString());
    }
  });
});
