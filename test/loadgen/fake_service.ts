// A stand-in for the service's TCP front door that costs almost nothing: HelloOk to any Hello,
// every OrderBatch answered at once with BatchResults (status ok, ids copied), every AccountQuery
// with an open account of balance 0. Used to measure what loadgen itself costs per order
// (`bun test/loadgen/fake_service.ts PORT`, then loadgen --no-check against it); no state, so
// loadgen's end check would fail against it.

import { BATCH_ORDERS_MAX, ORDER_SIZE_BYTES } from "../../common/constants.ts";
import {
  PROTOCOL_VERSION_CURRENT, decode_frame, encode_account_info, encode_hello_ok,
  write_batch_results,
} from "../../schema/codec.ts";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../../schema/generated/balance/wire/account-state.ts";

const results = new Uint8Array(BATCH_ORDERS_MAX * ORDER_SIZE_BYTES);
const out = new Uint8Array(4 << 20);

export function start_fake_service(port: number) {
  return Bun.listen<{ pending: Uint8Array }>({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(socket) {
        socket.data = { pending: new Uint8Array(0) };
      },
      data(socket, chunk) {
        const state = socket.data;
        const bytes = state.pending.length === 0 ? chunk : concat(state.pending, chunk);
        let at = 0;
        let out_length = 0;
        while (bytes.length - at >= 4) {
          const size = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
          if (bytes.length - at - 4 < size) break;
          const frame = bytes.subarray(at + 4, at + 4 + size);
          at += 4 + size;
          out_length = answer(frame, out_length);
        }
        state.pending = bytes.slice(at);
        socket.write(out.subarray(0, out_length));
      },
    },
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

function put(frame: Uint8Array, at: number): number {
  new DataView(out.buffer).setUint32(at, frame.length, true);
  out.set(frame, at + 4);
  return at + 4 + frame.length;
}

function answer(frame: Uint8Array, at: number): number {
  const decoded = decode_frame(frame);
  switch (decoded.type) {
    case "hello":
      return put(encode_hello_ok({ protocol_version: PROTOCOL_VERSION_CURRENT, partner: 0,
        internal: true, frame_size_max: 65536, in_flight_max: 256, batch_orders_max: 128 }), at);
    case "order_batch": {
      results.fill(0, 0, decoded.order_count * ORDER_SIZE_BYTES);
      for (let k = 0; k < decoded.order_count; k++) {
        const order_at = decoded.orders_byte_offset + k * ORDER_SIZE_BYTES;
        results.set(frame.subarray(order_at, order_at + 8), k * ORDER_SIZE_BYTES);
      }
      const count = decoded.order_count;
      const size = write_batch_results(out, at + 4, decoded.request_id, results, count);
      new DataView(out.buffer).setUint32(at, size, true);
      return at + 4 + size;
    }
    case "account_query":
      return put(encode_account_info({ request_id: decoded.request_id, account: decoded.account,
        partner: decoded.partner, kind: AccountKind.user, currency: 978, state: AccountState.open,
        overdraft_limit: 0n, balance: 2_000_000_000n, held: 0n, available: 2_000_000_000n,
        sequence: 1n }), at);
    default:
      return at;
  }
}

if (import.meta.main) {
  const server = start_fake_service(Number(process.argv[2] ?? 0));
  console.log(`fake service on 127.0.0.1:${server.port}`);
}
