// A keep-alive HTTP/1.1 connection over a raw socket (Bun.connect), for the service's HTTP API
// (README.md): POST /v1/batches with FlatBuffers OrderBatch bodies, GET account figures as
// FlatBuffers AccountInfo. Requests may be pipelined (`in_flight_max` > 1): HTTP/1.1 answers them
// in order, so tags wait in a FIFO. The request head is built once; the body is written with
// write_order_batch straight into the reusable send buffer. Replies must carry content-length
// (Bun.serve's do for whole bodies); anything else fails the connection loudly. Bun.serve closes a
// connection whose requests are pipelined, so HTTP runs keep one request per connection; each
// request then costs one write and one read system call, most of this client's time.

import type { Socket } from "bun";
import { connect_options } from "./connection.ts";
import { assert, assert_never } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { batch_frame_size_bytes, decode_frame, write_order_batch } from "../schema/codec.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import type { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { RESULT_STATUS_OFFSET } from "../schema/layout.ts";
import {
  ReceiveBuffer, SendBuffer, count_reply, type Connection, type Endpoint, type ReplyHandler,
} from "./connection.ts";
import {
  json_results_into, JSON_ORDER_BYTES_MAX, write_order_batch_json, type WireFormat,
} from "./json_wire.ts";
import { NOT_THIS_FORM, reply_results_into } from "./json_reply.ts";

const CONNECT_TIMEOUT_MS = 10_000;
const HEAD_BYTES_MAX = 512; // a request head: method, path, host, content type, token
const TOKEN_BYTES_MAX = 4096;
const RECEIVE_BUFFER_INITIAL_BYTES = 64 * 1024;
// One request in flight per connection: a read holds at most one reply (and never much more).
const RECEIVE_BUFFER_LIMIT_BYTES = 16 << 20;
const FLATBUFFERS_TYPE = "application/x-flatbuffers";
const JSON_TYPE = "application/json";
const CR = 13;
const LF = 10;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class HttpConnection implements Connection {
  bytes_sent = 0;
  bytes_received = 0;
  readonly reply_counts = new Map<string, number>();
  private readonly out: SendBuffer;
  private readonly pending =
    new ReceiveBuffer(RECEIVE_BUFFER_INITIAL_BYTES, RECEIVE_BUFFER_LIMIT_BYTES);
  private readonly fifo: Int32Array; // tags in the order their requests went out
  private fifo_head = 0;
  private fifo_length = 0;
  private readonly batch_head: Uint8Array; // "POST ... content-length: " (the number follows)
  private readonly authorization: string;
  private socket: Socket<undefined> | null = null;
  private closed = false;
  private ended_here = false;

  /** A JSON batch's body, written here first: its length precedes it in the request head. */
  private readonly json_body = new Uint8Array((BATCH_ORDERS_MAX + 1) * JSON_ORDER_BYTES_MAX);
  /** A JSON reply's results, as Result structs (the FlatBuffers path reads them in place). */
  private readonly json_results = new DataView(
    new ArrayBuffer(BATCH_ORDERS_MAX * RESULT_SIZE_BYTES));

  private constructor(readonly in_flight_max: number, private readonly endpoint: Endpoint,
    private readonly handler: ReplyHandler, private readonly format: WireFormat) {
    assert(in_flight_max >= 1, "at least one request in flight");
    assert((endpoint.token ?? "").length <= TOKEN_BYTES_MAX, "the token fits the request head");
    this.fifo = new Int32Array(in_flight_max);
    this.authorization = endpoint.token === null ? ""
      : `authorization: Bearer ${endpoint.token}\r\n`;
    this.batch_head = encoder.encode(`POST /v1/batches HTTP/1.1\r\n` +
      `host: ${endpoint.host}:${endpoint.port}\r\n` +
      `content-type: ${format === "json" ? JSON_TYPE : FLATBUFFERS_TYPE}\r\n` +
      `${this.authorization}content-length: `);
    const request_bytes_max = HEAD_BYTES_MAX + TOKEN_BYTES_MAX + Math.max(
      batch_frame_size_bytes(BATCH_ORDERS_MAX), BATCH_ORDERS_MAX * JSON_ORDER_BYTES_MAX);
    this.out = new SendBuffer(in_flight_max * request_bytes_max);
  }

  static async open(endpoint: Endpoint, in_flight_max: number, handler: ReplyHandler,
    format: WireFormat = "flatbuffers"): Promise<HttpConnection> {
    const connection = new HttpConnection(in_flight_max, endpoint, handler, format);
    await connection.connect();
    return connection;
  }

  private connect(): Promise<void> {
    const { host, port } = this.endpoint;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`http ${host}:${port}: connect timed out`)),
        CONNECT_TIMEOUT_MS);
      const { tls, ...session } = connect_options<Socket<undefined>>(this.endpoint, (socket) => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        this.socket = socket;
        resolve();
      }, (error) => {
        clearTimeout(timer);
        reject(new Error(`https ${host}:${port}: ${error}`));
      });
      Bun.connect({
        hostname: host,
        port,
        ...(tls === undefined ? {} : { tls }),
        socket: {
          ...session,
          data: (_socket, data) => this.on_data(data),
          drain: () => this.flush(),
          close: () => this.on_close("closed by the server"),
          error: (_socket, error) => this.on_close(String(error)),
          connectError: (_socket, error) => {
            clearTimeout(timer);
            reject(new Error(`http ${host}:${port}: connect failed: ${String(error)}`));
          },
        },
      }).catch((error: unknown) => {
        clearTimeout(timer);
        reject(new Error(`http ${host}:${port}: connect failed: ${String(error)}`));
      });
    });
  }

  send_batch(tag: number, mode: Mode, orders: Uint8Array, count: number): void {
    this.enqueue(tag);
    const json_end = this.format === "json"
      ? write_order_batch_json(mode, orders, count, this.json_body, 0) : -1;
    const body_bytes = json_end === -1 ? batch_frame_size_bytes(count) : json_end;
    const length_text = String(body_bytes);
    const head_bytes = this.batch_head.length + length_text.length + 4;
    const at = this.out.reserve(head_bytes + body_bytes);
    const bytes = this.out.bytes;
    bytes.set(this.batch_head, at);
    let k = at + this.batch_head.length;
    for (let i = 0; i < length_text.length; i++) bytes[k++] = length_text.charCodeAt(i);
    bytes[k++] = CR;
    bytes[k++] = LF;
    bytes[k++] = CR;
    bytes[k++] = LF;
    if (json_end === -1) write_order_batch(bytes, k, 0n, mode, orders, count);
    else bytes.set(this.json_body.subarray(0, json_end), k);
    this.out.end = k + body_bytes;
  }

  send_account_query(tag: number, partner: number, account: bigint): void {
    this.enqueue(tag);
    const head = encoder.encode(`GET /v1/partners/${partner}/accounts/${account} HTTP/1.1\r\n` +
      `host: ${this.endpoint.host}:${this.endpoint.port}\r\naccept: ${FLATBUFFERS_TYPE}\r\n` +
      `${this.authorization}\r\n`);
    const at = this.out.reserve(head.length);
    this.out.bytes.set(head, at);
    this.out.end = at + head.length;
  }

  private enqueue(tag: number): void {
    assert(this.socket !== null && !this.closed, "requests go on an open connection");
    assert(this.fifo_length < this.in_flight_max, "no more than in_flight_max requests in flight");
    assert(tag >= 0 && tag < this.in_flight_max, "a tag names a slot");
    this.fifo[(this.fifo_head + this.fifo_length) % this.in_flight_max] = tag;
    this.fifo_length++;
  }

  private dequeue(): number {
    if (this.fifo_length === 0) throw new Error("a reply with no request in flight");
    const tag = this.fifo[this.fifo_head]!;
    this.fifo_head = (this.fifo_head + 1) % this.in_flight_max;
    this.fifo_length--;
    return tag;
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended_here = true;
    this.socket?.end();
  }

  private on_data(data: Uint8Array): void {
    this.bytes_received += data.length;
    try {
      if (this.pending.length === 0) {
        const consumed = this.parse(data);
        if (consumed < data.length) this.pending.append(data.subarray(consumed));
      } else {
        this.pending.append(data);
        this.pending.consume(this.parse(this.pending.bytes.subarray(0, this.pending.length)));
      }
    } catch (error) {
      this.fail(`bad reply: ${String(error)}`);
      return;
    }
    this.flush();
  }

  /** Handles every whole response in `bytes`; returns the bytes consumed. */
  private parse(bytes: Uint8Array): number {
    let at = 0;
    while (!this.closed) {
      const head_end = find_head_end(bytes, at);
      if (head_end < 0) break;
      const head = parse_head(bytes, at, head_end);
      const body_start = head_end + 4;
      if (bytes.length - body_start < head.content_length) break;
      const body = bytes.subarray(body_start, body_start + head.content_length);
      at = body_start + head.content_length;
      this.on_response(head.status, body);
      if (head.close) {
        this.fail("the server closed the connection (connection: close)");
        break;
      }
    }
    return at;
  }

  private on_response(status: number, body: Uint8Array): void {
    const tag = this.dequeue();
    count_reply(this.reply_counts, String(status));
    if (this.format === "json" && (status === 200 || status === 202) && is_json_results(body)) {
      let count = reply_results_into(body, this.json_results);
      if (count === NOT_THIS_FORM) {
        count = json_results_into(decoder.decode(body), this.json_results);
      }
      const bytes = new Uint8Array(this.json_results.buffer);
      this.handler.on_batch_results(tag, bytes, 0, count,
        count > 0 && bytes[RESULT_STATUS_OFFSET] === Status.pending);
      return;
    }
    if (!is_frame(body)) {
      const reason = `${status} ${json_error(body)}`;
      this.handler.on_refused(tag, reason, outcome_unknown(status));
      return;
    }
    const decoded = decode_frame(body);
    switch (decoded.type) {
      case "batch_results": {
        const first_status = decoded.result_count === 0 ? -1
          : body[decoded.results_byte_offset + RESULT_STATUS_OFFSET];
        this.handler.on_batch_results(tag, body, decoded.results_byte_offset, decoded.result_count,
          first_status === Status.pending);
        return;
      }
      case "account_info":
        this.handler.on_account_info(tag, decoded);
        return;
      case "error":
        if (decoded.code === ErrorCode.not_found && status === 404) {
          this.handler.on_account_info(tag, null);
          return;
        }
        this.handler.on_refused(tag, `${status} ${ErrorCode[decoded.code] ?? decoded.code}`,
          outcome_unknown(status));
        return;
      case "decode_error":
        throw new Error(`undecodable ${status} body: ${decoded.message}`);
      case "hello": case "hello_ok": case "order_batch": case "account_query":
      case "order_query": case "order_status": case "ping": case "pong":
      case "routing_map_query": case "routing_map_reply":
        throw new Error(`unexpected ${decoded.type} frame in a ${status} reply`);
      default:
        assert_never(decoded, "frame");
    }
  }

  private fail(reason: string): void {
    this.on_close(reason);
    this.socket?.end();
  }

  private on_close(reason: string): void {
    if (this.ended_here) return;
    this.ended_here = true;
    this.closed = true;
    while (this.fifo_length > 0) {
      this.handler.on_refused(this.dequeue(), `connection lost (${reason})`, true);
    }
    this.handler.on_closed(reason);
  }
}

/** 504: not durable in time, 500: the server failed mid-way: the orders may have been applied. */
function outcome_unknown(status: number): boolean {
  return status === 504 || status === 500;
}

function is_frame(body: Uint8Array): boolean {
  return body.length >= 8 && body[4] === 0x42 && body[5] === 0x41 && body[6] === 0x4c &&
    body[7] === 0x31; // "BAL1"
}

/** A JSON reply to a batch: {"results": ...}. */
const RESULTS_KEY = new TextEncoder().encode('{"results":');

function is_json_results(body: Uint8Array): boolean {
  if (body.length < RESULTS_KEY.length) return false;
  for (let i = 0; i < RESULTS_KEY.length; i++) if (body[i] !== RESULTS_KEY[i]) return false;
  return true;
}

function json_error(body: Uint8Array): string {
  const text = decoder.decode(body.subarray(0, 512));
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && "error" in parsed) {
      return String((parsed as { error: unknown }).error);
    }
  } catch {
    // not JSON: the text itself, cut short
  }
  return text.slice(0, 80);
}

/** The index of the "\r\n\r\n" that ends a response head starting at `start`, or -1. */
function find_head_end(bytes: Uint8Array, start: number): number {
  for (let i = start; i + 3 < bytes.length; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) {
      return i;
    }
  }
  return -1;
}

interface Head {
  status: number;
  content_length: number;
  close: boolean;
}

const CONTENT_LENGTH = "content-length:";
const TRANSFER_ENCODING = "transfer-encoding:";
const CONNECTION_CLOSE = "connection: close";
const HTTP_VERSION_PREFIX = "HTTP/1.";

/** Whether the line at `start` begins with `name` (ASCII, lower case), ignoring case. */
function line_starts_with(bytes: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start < name.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = bytes[start + i]!;
    const lower = c >= 65 && c <= 90 ? c + 32 : c;
    if (lower !== name.charCodeAt(i)) return false;
  }
  return true;
}

/** The decimal number after the colon of a header line (spaces skipped), or -1. */
function header_number(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && bytes[i] === 32) i++;
  if (i === end) return -1;
  let value = 0;
  for (; i < end; i++) {
    const digit = bytes[i]! - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return value;
}

/** The status line and the headers this client needs, read from the bytes (no strings). */
function parse_head(bytes: Uint8Array, start: number, end: number): Head {
  if (!line_starts_with(bytes, start, end, HTTP_VERSION_PREFIX.toLowerCase()) || end - start < 12) {
    throw new Error("not an HTTP status line");
  }
  const status = (bytes[start + 9]! - 48) * 100 + (bytes[start + 10]! - 48) * 10 +
    (bytes[start + 11]! - 48);
  if (!(status >= 100 && status <= 599)) throw new Error("not an HTTP status code");
  let content_length = -1;
  let close = false;
  let line = start;
  while (line < end) {
    let line_end = line;
    while (line_end < end && bytes[line_end] !== CR) line_end++;
    if (line_starts_with(bytes, line, line_end, CONTENT_LENGTH)) {
      content_length = header_number(bytes, line + CONTENT_LENGTH.length, line_end);
    } else if (line_starts_with(bytes, line, line_end, TRANSFER_ENCODING)) {
      throw new Error("a transfer-encoding reply: this client reads content-length bodies only");
    } else if (line_starts_with(bytes, line, line_end, CONNECTION_CLOSE)) {
      close = true;
    }
    line = line_end + 2;
  }
  if (!(content_length >= 0)) throw new Error("a response without content-length");
  return { status, content_length, close };
}
