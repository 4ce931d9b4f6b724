// loadgen's JSON form of a batch and of its results (loadgen/json_wire.ts, and the reply read from
// its bytes, loadgen/json_reply.ts) against the server's own codec (schema/json.ts): a batch
// written by loadgen parses into the very Order structs it came from, and results the server
// writes as JSON come back as the very Result structs.

import { describe, expect, test } from "bun:test";
import { ORDER_FLAG_LINKED, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { json_results_into, order_batch_json } from "../../loadgen/json_wire.ts";
import { NOT_THIS_FORM, reply_results_into } from "../../loadgen/json_reply.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import {
  parse_batch_json, results_reply_json_bytes, results_to_json,
} from "../../schema/json.ts";
import { write_result_fields } from "../../schema/layout.ts";

const COUNT = 20;
/** u64 values where decimal writing and reading change course: digit counts, 10^5 and 10^9 chunks
 * with zeros inside, 2^31, 2^32, 2^53 and the top. */
const U64_EDGES = [0n, 9n, 10n, 99_999n, 100_000n, 999_999_999n, 1_000_000_000n, 2n ** 31n,
  2n ** 32n - 1n, 2n ** 32n, 10n ** 15n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n,
  10n ** 18n, 10n ** 19n, 10n ** 19n + 1n, 12_345_000_001_000_000_007n, 2n ** 64n - 100_000n,
  2n ** 64n - 1n];

function random_u64(prng: Prng): bigint {
  if (prng.chance(0.3)) return U64_EDGES[prng.int_below(U64_EDGES.length)]!;
  // Every magnitude: a random u64 shifted right by 0..63 bits.
  const value = (BigInt(prng.next_u32()) << 32n) | BigInt(prng.next_u32());
  return value >> BigInt(prng.int_below(64));
}

describe("loadgen JSON bodies", () => {
  test("a batch of every client op, 64-bit extremes and linked flags parses into the same structs", () => {
    const prng = new Prng(5);
    const orders = new Uint8Array(COUNT * ORDER_SIZE_BYTES);
    const view = new DataView(orders.buffer);
    const ops = Object.values(Op).filter((v): v is number => typeof v === "number" && v !== Op.none &&
      v !== Op.expire_hold); // the engine's own op: the JSON form refuses it
    for (let k = 0; k < COUNT; k++) {
      const at = k * ORDER_SIZE_BYTES;
      view.setBigUint64(at, k === 0 ? 2n ** 64n - 1n : BigInt(prng.next_u32()) << 20n, true);
      view.setBigUint64(at + 8, BigInt(prng.next_u32()) * 2n ** 31n + 7n, true);
      view.setBigUint64(at + 16, k === 1 ? 2n ** 53n + 1n : BigInt(prng.next_u32()), true);
      view.setBigUint64(at + 24, BigInt(prng.next_u32()), true);
      view.setUint32(at + 32, prng.next_u32(), true);
      view.setUint16(at + 36, 978, true);
      view.setUint8(at + 38, ops[k % ops.length]!);
      view.setUint8(at + 39, k % 3 === 0 ? ORDER_FLAG_LINKED : 0);
    }
    for (const mode of [Mode.committed, Mode.accepted]) {
      const parsed = parse_batch_json(order_batch_json(mode, orders, COUNT));
      if (parsed.type !== "json_batch") throw new Error(JSON.stringify(parsed));
      expect(parsed.mode).toBe(mode);
      expect(parsed.order_count).toBe(COUNT);
      expect([...parsed.orders_bytes]).toEqual([...orders]);
    }
  });

  test("64-bit values of every magnitude and edge, over 100 batches, parse into the same structs", () => {
    const prng = new Prng(11);
    const orders = new Uint8Array(COUNT * ORDER_SIZE_BYTES);
    const view = new DataView(orders.buffer);
    for (let batch = 0; batch < 100; batch++) {
      for (let k = 0; k < COUNT; k++) {
        const at = k * ORDER_SIZE_BYTES;
        view.setBigUint64(at, random_u64(prng), true);
        view.setBigUint64(at + 8, random_u64(prng), true);
        view.setBigUint64(at + 16, random_u64(prng), true);
        view.setBigUint64(at + 24, random_u64(prng), true);
        view.setUint32(at + 32, prng.chance(0.2) ? 0xffff_ffff : prng.next_u32(), true);
        view.setUint16(at + 36, prng.chance(0.2) ? 0xffff : prng.int_below(1000), true);
        view.setUint8(at + 38, Op.transfer);
        view.setUint8(at + 39, 0);
      }
      const text = order_batch_json(Mode.committed, orders, COUNT);
      const parsed = parse_batch_json(text);
      if (parsed.type !== "json_batch") throw new Error(`${JSON.stringify(parsed)}: ${text}`);
      expect([...parsed.orders_bytes]).toEqual([...orders]);
    }
  });

  test("results written as JSON by the server come back as the same Result structs", () => {
    const results = new DataView(new ArrayBuffer(3 * RESULT_SIZE_BYTES));
    const fields = [
      { order_id: 2n ** 64n - 1n, sequence: 1n, balance: -(2n ** 53n) + 1n, available: 0n,
        status: Status.ok, replayed: false },
      { order_id: 42n, sequence: 2n ** 40n, balance: 2n ** 53n - 1n, available: 5n,
        status: Status.insufficient_funds, replayed: true },
      { order_id: 43n, sequence: 0n, balance: 0n, available: 0n, status: Status.pending,
        replayed: false },
    ];
    fields.forEach((f, k) => write_result_fields(results, k * RESULT_SIZE_BYTES, f));
    const text = JSON.stringify({ results: results_to_json(results, 0, 3) });
    const back = new DataView(new ArrayBuffer(20 * RESULT_SIZE_BYTES));
    expect(json_results_into(text, back)).toBe(3);
    expect([...new Uint8Array(back.buffer, 0, 3 * RESULT_SIZE_BYTES)])
      .toEqual([...new Uint8Array(results.buffer)]);
    expect(() => json_results_into('{"error":"busy"}', back)).toThrow("without results");
    for (const id of ["", "01", "1e5", "-1", "18446744073709551616", "99999999999999999999"]) {
      expect(() => json_results_into(`{"results":[{"status":"ok","id":"${id}","sequence":"1",` +
        '"balance":"0","available":"0","replayed":false}]}', back)).toThrow("is not a u64");
    }
    expect(() => json_results_into('{"results":[{"status":"ok","id":"1","sequence":"1",' +
      '"balance":"9007199254740992","available":"0","replayed":false}]}', back))
      .toThrow("not a safe integer");
    expect(() => json_results_into('{"results":[{"status":"nope","id":"1","sequence":"1",' +
      '"balance":"0","available":"0","replayed":false}]}', back)).toThrow("unknown status");
  });
});

test("result ids of every magnitude and edge come back as the same u64", () => {
  const prng = new Prng(12);
  const results = new DataView(new ArrayBuffer(COUNT * RESULT_SIZE_BYTES));
  const back = new DataView(new ArrayBuffer(COUNT * RESULT_SIZE_BYTES));
  for (let batch = 0; batch < 100; batch++) {
    for (let k = 0; k < COUNT; k++) {
      const safe = BigInt(Math.floor(prng.next_float() * 2 ** 53)) * (prng.chance(0.5) ? -1n : 1n);
      write_result_fields(results, k * RESULT_SIZE_BYTES, { order_id: random_u64(prng),
        sequence: safe < 0n ? -safe : safe, balance: safe, available: -safe,
        status: Status.ok, replayed: prng.chance(0.5) });
    }
    const text = JSON.stringify({ results: results_to_json(results, 0, COUNT) });
    expect(json_results_into(text, back)).toBe(COUNT);
    expect([...new Uint8Array(back.buffer)]).toEqual([...new Uint8Array(results.buffer)]);
  }
});

describe("the reply read from its bytes", () => {
  const STATUSES = Object.values(Status).filter((v): v is number => typeof v === "number");
  const encoder = new TextEncoder();

  /** COUNT results of every status, id magnitude and figure sign, as the server writes them. */
  function random_reply(prng: Prng, results: DataView): Uint8Array {
    for (let k = 0; k < COUNT; k++) {
      const safe = BigInt(Math.floor(prng.next_float() * 2 ** 53)) * (prng.chance(0.5) ? -1n : 1n);
      write_result_fields(results, k * RESULT_SIZE_BYTES, { order_id: random_u64(prng),
        sequence: safe < 0n ? -safe : safe, balance: safe, available: -safe,
        status: STATUSES[prng.int_below(STATUSES.length)]!, replayed: prng.chance(0.5) });
    }
    return results_reply_json_bytes(results, 0, COUNT);
  }

  test("results of every status, id and figure come back as JSON.parse's structs", () => {
    const prng = new Prng(13);
    const results = new DataView(new ArrayBuffer(COUNT * RESULT_SIZE_BYTES));
    const back = new DataView(new ArrayBuffer(COUNT * RESULT_SIZE_BYTES));
    const parsed = new DataView(new ArrayBuffer(COUNT * RESULT_SIZE_BYTES));
    for (let batch = 0; batch < 200; batch++) {
      const body = random_reply(prng, results);
      new Uint8Array(back.buffer).fill(0xaa); // nothing left over from the batch before
      expect(reply_results_into(body, back)).toBe(COUNT);
      expect([...new Uint8Array(back.buffer)]).toEqual([...new Uint8Array(results.buffer)]);
      expect(json_results_into(new TextDecoder().decode(body), parsed)).toBe(COUNT);
      expect([...new Uint8Array(back.buffer)]).toEqual([...new Uint8Array(parsed.buffer)]);
    }
    expect(reply_results_into(encoder.encode('{"results":[]}'), back)).toBe(0);
  });

  test("any other form is left to JSON.parse: never a partial or different answer", () => {
    const prng = new Prng(14);
    const results = new DataView(new ArrayBuffer(COUNT * RESULT_SIZE_BYTES));
    const back = new DataView(new ArrayBuffer(COUNT * RESULT_SIZE_BYTES));
    const body = random_reply(prng, results);
    for (let end = 0; end < body.length; end++) { // every truncation
      expect(reply_results_into(body.subarray(0, end), back)).toBe(NOT_THIS_FORM);
    }
    const small = new DataView(new ArrayBuffer((COUNT - 1) * RESULT_SIZE_BYTES));
    expect(reply_results_into(body, small)).toBe(NOT_THIS_FORM); // more results than room
    const one = (fields: string): Uint8Array => encoder.encode(`{"results":[${fields}]}`);
    const result = (id: string, status: string, sequence: string, balance: string,
      replayed = "false"): string => `{"id":"${id}","status":"${status}",` +
      `"sequence":"${sequence}","balance":"${balance}","available":"0","replayed":${replayed}}`;
    expect(reply_results_into(one(result("7", "ok", "1", "-5", "true")), back)).toBe(1);
    const others = [
      one(result("01", "ok", "1", "0")), one(result("", "ok", "1", "0")),
      one(result("18446744073709551616", "ok", "1", "0")), one(result("1", "nope", "1", "0")),
      one(result("1", "unknown_200", "1", "0")), one(result("1", "ok", "-1", "0")),
      one(result("1", "ok", "1", "-0")), one(result("1", "ok", "1", "9007199254740992")),
      one(result("1", "ok", "1", "1e3")), one(result("1", "ok", "1", "0", "1")),
      one(`${result("1", "ok", "1", "0")},`), one(` ${result("1", "ok", "1", "0")}`),
      encoder.encode(`{"results":[${result("1", "ok", "1", "0")}]} `),
      encoder.encode(`{"results": [${result("1", "ok", "1", "0")}]}`),
      one('{"status":"ok","id":"1","sequence":"1","balance":"0","available":"0",' +
        '"replayed":false}'),
      encoder.encode('{"error":"busy"}'),
    ];
    for (const other of others) expect(reply_results_into(other, back)).toBe(NOT_THIS_FORM);
  });
});
