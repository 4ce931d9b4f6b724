// A TCP connection of the binary protocol (docs/protocol.md): Hello with the token, HelloOk, then
// pipelined requests whose request_id is the slot's tag. Frames are a u32 little-endian length and
// a FlatBuffers Frame; OrderBatch frames are written with write_order_batch straight into the
// reusable send buffer; replies are parsed in a loop from whatever the socket delivered, in place
// when no partial frame is waiting.

import type { Socket } from "bun";
import { connect_options } from "./connection.ts";
import { assert, assert_never } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, FRAME_SIZE_BYTES_MAX } from "../common/constants.ts";
import {
  PROTOCOL_VERSION_CURRENT, batch_frame_size_bytes, decode_frame, encode_account_query,
  encode_hello, write_order_batch,
} from "../schema/codec.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import type { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import type { DecodedFrame, HelloOkFields } from "../schema/messages.ts";
import { RESULT_STATUS_OFFSET } from "../schema/layout.ts";
import {
  ReceiveBuffer, SendBuffer, count_reply, type Connection, type Endpoint, type ReplyHandler,
} from "./connection.ts";

const LENGTH_PREFIX_BYTES = 4;
const CONNECT_TIMEOUT_MS = 10_000;
const RECEIVE_BUFFER_INITIAL_BYTES = 64 * 1024;
const RECEIVE_BUFFER_LIMIT_BYTES = LENGTH_PREFIX_BYTES + FRAME_SIZE_BYTES_MAX;
const QUERY_FRAME_BYTES_MAX = 256;

// Errors that concern one request; every other code ends the session.
const REQUEST_ERRORS: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.forbidden, ErrorCode.batch_empty, ErrorCode.batch_too_large,
  ErrorCode.too_many_in_flight, ErrorCode.busy, ErrorCode.disk_full, ErrorCode.not_ready,
  ErrorCode.shutting_down, ErrorCode.not_found, ErrorCode.not_primary,
]);

export class TcpConnection implements Connection {
  bytes_sent = 0;
  bytes_received = 0;
  readonly reply_counts = new Map<string, number>();
  private readonly out: SendBuffer;
  private readonly pending =
    new ReceiveBuffer(RECEIVE_BUFFER_INITIAL_BYTES, RECEIVE_BUFFER_LIMIT_BYTES);
  private readonly in_flight: Uint8Array;
  private readonly request_ids: bigint[];
  private socket: Socket<undefined> | null = null;
  private hello_ok: HelloOkFields | null = null;
  private on_hello: ((error: string | null) => void) | null = null;

  in_flight_max: number;
  private closed = false;
  private ended_here = false;

  private constructor(in_flight_wanted: number, private readonly handler: ReplyHandler) {
    this.in_flight_max = in_flight_wanted;
    this.in_flight = new Uint8Array(in_flight_wanted);
    this.request_ids = Array.from({ length: in_flight_wanted }, (_, tag) => BigInt(tag));
    const frame_bytes_max = LENGTH_PREFIX_BYTES + batch_frame_size_bytes(BATCH_ORDERS_MAX);
    this.out = new SendBuffer(in_flight_wanted * frame_bytes_max + QUERY_FRAME_BYTES_MAX);
  }

  /** Connects and completes Hello; `in_flight_max` is capped by the server's HelloOk. */
  static async open(endpoint: Endpoint, in_flight_wanted: number, handler: ReplyHandler)
    : Promise<TcpConnection> {
    const connection = new TcpConnection(in_flight_wanted, handler);
    const hello_ok = await connection.connect(endpoint);
    connection.in_flight_max = Math.max(1, Math.min(in_flight_wanted, hello_ok.in_flight_max));
    return connection;
  }

  private connect(endpoint: Endpoint): Promise<HelloOkFields> {
    return new Promise<HelloOkFields>((resolve, reject) => {
      const timer = setTimeout(() => finish(`no HelloOk within ${CONNECT_TIMEOUT_MS} ms`),
        CONNECT_TIMEOUT_MS);
      const finish = (error: string | null) => {
        clearTimeout(timer);
        this.on_hello = null;
        if (error === null) resolve(this.hello_ok!);
        else {
          this.closed = true;
          this.ended_here = true;
          this.socket?.end();
          reject(new Error(`tcp ${endpoint.host}:${endpoint.port}: ${error}`));
        }
      };
      this.on_hello = finish;
      const { tls, ...session } = connect_options<Socket<undefined>>(endpoint, (socket) => {
        socket.setNoDelay(true);
        this.socket = socket;
        this.send_frame(encode_hello(PROTOCOL_VERSION_CURRENT, endpoint.token ?? ""));
        this.flush();
      }, finish);
      Bun.connect({
        hostname: endpoint.host,
        port: endpoint.port,
        ...(tls === undefined ? {} : { tls }),
        socket: {
          ...session,
          data: (_socket, data) => this.on_data(data),
          drain: () => this.flush(),
          close: () => this.on_close("closed by the server"),
          error: (_socket, error) => this.on_close(String(error)),
          connectError: (_socket, error) => finish(`connect failed: ${String(error)}`),
        },
      }).catch((error: unknown) => finish(`connect failed: ${String(error)}`));
    });
  }

  send_batch(tag: number, mode: Mode, orders: Uint8Array, count: number): void {
    this.claim(tag);
    const size_bytes = batch_frame_size_bytes(count);
    const at = this.out.reserve(LENGTH_PREFIX_BYTES + size_bytes);
    const bytes = this.out.bytes;
    bytes[at] = size_bytes & 0xff;
    bytes[at + 1] = (size_bytes >>> 8) & 0xff;
    bytes[at + 2] = (size_bytes >>> 16) & 0xff;
    bytes[at + 3] = size_bytes >>> 24;
    const request_id = this.request_ids[tag]!;
    write_order_batch(bytes, at + LENGTH_PREFIX_BYTES, request_id, mode, orders, count);
    this.out.end = at + LENGTH_PREFIX_BYTES + size_bytes;
  }

  send_account_query(tag: number, partner: number, account: bigint): void {
    this.claim(tag);
    this.send_frame(encode_account_query(this.request_ids[tag]!, account, partner));
  }

  private claim(tag: number): void {
    assert(this.hello_ok !== null && !this.closed, "requests go on an open session");
    assert(tag >= 0 && tag < this.in_flight_max, "a tag names a slot");
    assert(this.in_flight[tag] === 0, "a slot carries one request at a time");
    this.in_flight[tag] = 1;
  }

  private send_frame(frame: Uint8Array): void {
    const at = this.out.reserve(LENGTH_PREFIX_BYTES + frame.length);
    new DataView(this.out.bytes.buffer).setUint32(at, frame.length, true);
    this.out.bytes.set(frame, at + LENGTH_PREFIX_BYTES);
    this.out.end = at + LENGTH_PREFIX_BYTES + frame.length;
  }

  flush(): void {
    const socket = this.socket;
    if (socket === null || this.closed) return;
    this.out.drain_into((chunk) => {
      const written = socket.write(chunk);
      this.bytes_sent += Math.max(0, written);
      return written;
    });
  }

  /** Ends the session; requests still in flight are not reported. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended_here = true;
    this.socket?.end();
  }

  private on_data(data: Uint8Array): void {
    this.bytes_received += data.length;
    try {
      let rest = data;
      if (this.pending.length > 0) rest = this.complete_pending(data);
      const consumed = this.parse(rest);
      if (consumed < rest.length) this.pending.append(rest.subarray(consumed));
    } catch (error) {
      this.fail(`bad reply: ${String(error)}`);
      return;
    }
    this.flush();
  }

  /**
   * Moves bytes from `data` into the partial frame waiting in `pending` until it is whole, handles
   * it, and returns what is left of `data` (parsed in place, without copying).
   */
  private complete_pending(data: Uint8Array): Uint8Array {
    let taken = 0;
    if (this.pending.length < LENGTH_PREFIX_BYTES) {
      taken = Math.min(LENGTH_PREFIX_BYTES - this.pending.length, data.length);
      this.pending.append(data.subarray(0, taken));
      if (this.pending.length < LENGTH_PREFIX_BYTES) return data.subarray(taken);
    }
    const b = this.pending.bytes;
    const size_bytes = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    if (size_bytes > FRAME_SIZE_BYTES_MAX) throw new Error(`frame of ${size_bytes} bytes`);
    const missing = LENGTH_PREFIX_BYTES + size_bytes - this.pending.length;
    const more = Math.min(missing, data.length - taken);
    this.pending.append(data.subarray(taken, taken + more));
    taken += more;
    if (more === missing) {
      const consumed = this.parse(this.pending.bytes.subarray(0, this.pending.length));
      assert(consumed === this.pending.length, "a completed frame is consumed whole");
      this.pending.length = 0;
    }
    return data.subarray(taken);
  }

  /** Handles every whole frame in `bytes`; returns the bytes consumed. */
  private parse(bytes: Uint8Array): number {
    let at = 0;
    while (bytes.length - at >= LENGTH_PREFIX_BYTES && !this.closed) {
      const size_bytes = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) |
        (bytes[at + 3]! << 24)) >>> 0;
      if (size_bytes > FRAME_SIZE_BYTES_MAX) throw new Error(`frame of ${size_bytes} bytes`);
      if (bytes.length - at - LENGTH_PREFIX_BYTES < size_bytes) break;
      const frame = bytes.subarray(at + LENGTH_PREFIX_BYTES, at + LENGTH_PREFIX_BYTES + size_bytes);
      at += LENGTH_PREFIX_BYTES + size_bytes;
      const decoded = decode_frame(frame);
      if (decoded.type === "decode_error") throw new Error(decoded.message);
      this.on_frame(frame, decoded);
    }
    return at;
  }

  private on_frame(frame: Uint8Array, decoded: DecodedFrame): void {
    switch (decoded.type) {
      case "batch_results": {
        const tag = this.release(decoded.request_id, "BatchResults");
        const first_status = decoded.result_count === 0 ? -1
          : frame[decoded.results_byte_offset + RESULT_STATUS_OFFSET];
        const pending = first_status === Status.pending; // accepted mode's one answer
        this.handler.on_batch_results(tag, frame, decoded.results_byte_offset,
          decoded.result_count, pending);
        return;
      }
      case "account_info": {
        const tag = this.release(decoded.request_id, "AccountInfo");
        this.handler.on_account_info(tag, decoded);
        return;
      }
      case "error":
        this.on_error_frame(decoded.request_id, decoded.code, decoded.message);
        return;
      case "hello_ok":
        this.hello_ok = decoded;
        this.on_hello?.(null);
        return;
      case "pong":
        return;
      case "hello": case "order_batch": case "account_query": case "order_query":
      case "order_status": case "ping": case "routing_map_query": case "routing_map_reply":
        throw new Error(`unexpected ${decoded.type} frame`);
      default:
        assert_never(decoded, "frame");
    }
  }

  private on_error_frame(request_id: bigint, code: ErrorCode, message: string): void {
    const name = ErrorCode[code] ?? `error_${code}`;
    if (this.hello_ok === null) {
      this.on_hello?.(`${name}: ${message}`);
      return;
    }
    if (!REQUEST_ERRORS.has(code)) {
      this.fail(`Error ${name}: ${message}`);
      return;
    }
    const tag = this.release(request_id, `Error ${name}`);
    if (code === ErrorCode.not_found) this.handler.on_account_info(tag, null);
    else this.handler.on_refused(tag, `Error ${name}`, false);
  }

  /** The tag of an answered request, out of flight. */
  private release(request_id: bigint, reply: string): number {
    const tag = Number(request_id);
    if (!(tag >= 0 && tag < this.in_flight_max) || this.in_flight[tag] !== 1) {
      throw new Error(`${reply} for request ${request_id}, which is not in flight`);
    }
    this.in_flight[tag] = 0;
    count_reply(this.reply_counts, reply);
    return tag;
  }

  private fail(reason: string): void {
    this.on_close(reason);
    this.socket?.end();
  }

  private on_close(reason: string): void {
    if (this.ended_here) return;
    this.ended_here = true;
    this.closed = true;
    if (this.on_hello !== null) {
      this.on_hello(reason);
      return;
    }
    for (let tag = 0; tag < this.in_flight_max; tag++) {
      if (this.in_flight[tag] === 0) continue;
      this.in_flight[tag] = 0;
      this.handler.on_refused(tag, `connection lost (${reason})`, true);
    }
    this.handler.on_closed(reason);
  }
}
