// Micro benchmark of the wire codec's hot paths: decode_frame of an OrderBatch plus copying its
// orders into a ring-slot-sized buffer (one Uint8Array.set), and writing BatchResults frames (into
// a reused buffer, and freshly allocated). Also the JSON batch parser and the JSON reply's text,
// the HTTP JSON path.
//
//   bun bench/codec.ts          human summary
//   bun bench/codec.ts --json   one JSON line

import { assert } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { Prng } from "../common/prng.ts";
import {
  batch_frame_size_bytes,
  decode_frame,
  encode_batch_results,
  encode_order_batch,
  write_batch_results,
} from "../schema/codec.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { parse_batch_json, parse_batch_json_bytes, results_reply_json_bytes } from "../schema/json.ts";
import { parse_batch_json_fast } from "../schema/json_batch_fast.ts";

const RUN_MS = 1_000;
const WARMUP_MS = 200;
const FRAMES_DISTINCT = 64; // cycled, so the benchmark is not one frame hot in L1
const CHECK_EVERY_ITERATIONS = 1024; // clock reads are batched

type Measurement = {
  name: string;
  orders_per_frame: number;
  frames_per_s: number;
  orders_per_s: number;
};

// Runs `step(i)` until `duration_ms` has passed; returns iterations per second.
function measure(duration_ms: number, step: (i: number) => void): number {
  const start_ns = Bun.nanoseconds();
  const end_ns = start_ns + duration_ms * 1e6;
  let iterations = 0;
  let now_ns = start_ns;
  while (now_ns < end_ns) {
    for (let i = 0; i < CHECK_EVERY_ITERATIONS; i++) step(iterations + i);
    iterations += CHECK_EVERY_ITERATIONS;
    now_ns = Bun.nanoseconds();
  }
  return iterations / ((now_ns - start_ns) / 1e9);
}

function run(name: string, orders_per_frame: number, step: (i: number) => void): Measurement {
  measure(WARMUP_MS, step);
  const frames_per_s = measure(RUN_MS, step);
  return { name, orders_per_frame, frames_per_s, orders_per_s: frames_per_s * orders_per_frame };
}

function random_bytes(prng: Prng, size_bytes: number): Uint8Array {
  const bytes = new Uint8Array(size_bytes);
  for (let i = 0; i < size_bytes; i++) bytes[i] = prng.int_below(256);
  return bytes;
}

function bench_decode(prng: Prng, count: number): Measurement {
  const frames: Uint8Array[] = [];
  for (let f = 0; f < FRAMES_DISTINCT; f++) {
    const orders = random_bytes(prng, count * ORDER_SIZE_BYTES);
    frames.push(encode_order_batch(BigInt(f), Mode.committed, orders, count));
  }
  const slot = new Uint8Array(BATCH_ORDERS_MAX * ORDER_SIZE_BYTES);
  let copied_orders = 0;
  const measurement = run("decode_frame + copy orders", count, (i) => {
    const frame = frames[i % FRAMES_DISTINCT] as Uint8Array;
    const decoded = decode_frame(frame);
    assert(decoded.type === "order_batch", "the benchmark frames are valid");
    const start = decoded.orders_byte_offset;
    slot.set(frame.subarray(start, start + decoded.order_count * ORDER_SIZE_BYTES));
    copied_orders += decoded.order_count;
  });
  assert(copied_orders > 0, "orders were copied");
  return measurement;
}

function bench_encode(prng: Prng, count: number, into_reused_buffer: boolean): Measurement {
  const results = random_bytes(prng, count * RESULT_SIZE_BYTES);
  const output = new Uint8Array(batch_frame_size_bytes(BATCH_ORDERS_MAX));
  let written_bytes = 0;
  const name = into_reused_buffer ? "write_batch_results (reused buffer)" : "encode_batch_results";
  const measurement = run(name, count, (i) => {
    if (into_reused_buffer) {
      written_bytes += write_batch_results(output, 0, BigInt(i), results, count);
    } else {
      written_bytes += encode_batch_results(BigInt(i), results, count).length;
    }
  });
  assert(written_bytes > 0, "frames were written");
  return measurement;
}

/**
 * A JSON batch's parse: the full parser over the body's text (after decoding it), or the
 * service's entry from the body's bytes (server/http.ts), which takes the fast path for this body.
 */
function bench_json(count: number, entry: "text" | "bytes"): Measurement {
  const orders = [];
  for (let i = 0; i < count; i++) {
    orders.push({ id: String(2n ** 62n + BigInt(i)), op: "credit", partner: 7, account: "42",
      amount: "100", currency: 978 });
  }
  const body = new TextEncoder().encode(JSON.stringify({ mode: "committed", orders }));
  const decoder = new TextDecoder();
  if (entry === "text") {
    return run("parse_batch_json (decode the text, JSON.parse, check)", count, () => {
      const parsed = parse_batch_json(decoder.decode(body));
      assert(parsed.type === "json_batch", "the benchmark body is valid");
    });
  }
  assert(parse_batch_json_fast(body) !== null, "the fast path takes the benchmark body");
  return run("parse_batch_json_bytes (the fast path)", count, () => {
    const parsed = parse_batch_json_bytes(body);
    assert(parsed.type === "json_batch", "the benchmark body is valid");
  });
}

/** The JSON reply of an HTTP JSON batch: the results' text, as server/http.ts writes it. */
function bench_json_reply(prng: Prng, count: number): Measurement {
  const results = new DataView(new ArrayBuffer(FRAMES_DISTINCT * count * RESULT_SIZE_BYTES));
  for (let at = 0; at < results.byteLength; at += 4) results.setUint32(at, prng.next_u32(), true);
  for (let k = 0; k < FRAMES_DISTINCT * count; k++) {
    const at = k * RESULT_SIZE_BYTES;
    results.setUint32(at + 12, 0, true); // sequence, balance, available: safe integers
    results.setInt32(at + 20, 0, true);
    results.setInt32(at + 28, 0, true);
    results.setUint8(at + 32, k % 4); // a status the schema names
  }
  let written_bytes = 0;
  const measurement = run("results_reply_json_bytes", count, (i) => {
    const offset = (i % FRAMES_DISTINCT) * count * RESULT_SIZE_BYTES;
    written_bytes += results_reply_json_bytes(results, offset, count).length;
  });
  assert(written_bytes > 0, "replies were written");
  return measurement;
}

function main(): void {
  const as_json = process.argv.includes("--json");
  const prng = new Prng(0xbe_4c);
  const measurements = [
    bench_decode(prng, 20),
    bench_decode(prng, BATCH_ORDERS_MAX),
    bench_encode(prng, 20, true),
    bench_encode(prng, BATCH_ORDERS_MAX, true),
    bench_encode(prng, 20, false),
    bench_json(20, "text"),
    bench_json(20, "bytes"),
    bench_json_reply(prng, 20),
  ];
  if (as_json) {
    console.log(JSON.stringify({ bench: "codec", bun: Bun.version, run_ms: RUN_MS, measurements }));
    return;
  }
  console.log(`codec benchmark (Bun ${Bun.version}, ${RUN_MS} ms per case)`);
  for (const m of measurements) {
    const frames = `${(m.frames_per_s / 1e6).toFixed(2)} M frames/s`;
    const orders = `${(m.orders_per_s / 1e6).toFixed(1)} M orders/s`;
    const per_frame = `${String(m.orders_per_frame).padStart(3)}/frame`;
    console.log(`  ${m.name.padEnd(38)} ${per_frame}  ${frames}  ${orders}`);
  }
}

main();
