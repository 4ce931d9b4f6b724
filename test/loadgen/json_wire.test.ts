// loadgen's JSON form of a batch and of its results (loadgen/json_wire.ts) against the server's own
// codec (schema/json.ts): a batch written by loadgen parses into the very Order structs it came
// from, and results the server writes as JSON come back as the very Result structs.

import { describe, expect, test } from "bun:test";
import { ORDER_FLAG_LINKED, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { json_results_into, order_batch_json } from "../../loadgen/json_wire.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { parse_batch_json, results_to_json } from "../../schema/json.ts";
import { write_result_fields } from "../../schema/layout.ts";

const COUNT = 20;

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
    expect(() => json_results_into('{"results":[{"status":"nope","id":"1","sequence":"1",' +
      '"balance":"0","available":"0","replayed":false}]}', back)).toThrow("unknown status");
  });
});
