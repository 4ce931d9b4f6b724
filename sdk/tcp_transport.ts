// The TCP transport over node:net, or node:tls for tls:// (Bun and Node alike; sdk/tls.ts): one
// connection, Hello first, then requests pipelined with per-connection request ids
// (docs/protocol.md). The connection is made lazily and made again after a loss; requests
// unanswered when it drops come back as `lost` (batches) and the core decides what to resend. A
// Ping goes out when nothing was heard for keepalive_ms; a peer that stays silent for another
// keepalive_ms is taken as dead and the connection is dropped.

import { connect as net_connect, type Socket } from "node:net";
import { connect as tls_connect } from "node:tls";
import { ProtocolVersion } from "../schema/generated/balance/wire/protocol-version.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import {
  batch_frame_size_bytes, decode_frame, encode_account_query, encode_hello, encode_order_query,
  encode_ping, encode_routing_map_query, write_order_batch,
} from "../schema/codec.ts";
import type { RoutingMap } from "../schema/routing_map.ts";
import type { ResultFields } from "../schema/layout.ts";
import type { DecodedFrame, HelloOkFields } from "../schema/messages.ts";
import { is_retryable } from "./errors.ts";
import { FrameReader, LENGTH_PREFIX_BYTES, with_length_prefix } from "./frame_reader.ts";
import {
  parsed_map, type BatchOutcome, type NodeTransport, type ReadOutcome, type TransportLimits,
  type WireBatch,
} from "./transport.ts";
import { tls_connect_options, type TlsOptions } from "./tls.ts";
import { account_info, type AccountInfo } from "./types.ts";
import { batch_results, token_of, type TokenSource } from "./wire.ts";

export interface TcpTransportOptions {
  host: string;
  port: number;
  token?: TokenSource;
  /** Used until HelloOk says the server's; the smaller of the two applies. */
  limits: TransportLimits;
  connect_timeout_ms: number;
  keepalive_ms: number;
  /** TCP over TLS (a tls:// address), the server checked as this says (sdk/tls.ts). */
  tls?: TlsOptions;
}

/**
 * Whether a batch refused with `code` may have been applied. TCP has no status line to tell a ring
 * full (`busy` before the engine) from a batch not durable in time (also `busy`, after it), so
 * every temporary refusal counts as unknown: the batch is resent with the same ids either way, and
 * a `replayed` answer to the resend is then taken as this batch's own.
 */
function applied_of(code: ErrorCode): "no" | "unknown" {
  return is_retryable(code) ? "unknown" : "no";
}

/** Requests kept back from in_flight_max for reads, so reads pass while batches fill the pipe. */
const READS_RESERVED = 8;

type Unreachable = Extract<BatchOutcome, { kind: "unreachable" }>;

/** An answer to one request: the decoded frame and its bytes (valid only during the call). */
type Waiter = {
  on_frame: (frame: DecodedFrame, bytes: Uint8Array) => void;
  on_lost: (message: string) => void;
  timer: ReturnType<typeof setTimeout>;
};

class Connection {
  readonly reader = new FrameReader();
  readonly waiters = new Map<bigint, Waiter>();
  hello_ok: HelloOkFields | null = null;
  open = true;
  next_request_id = 1n;
  last_heard_ms = Date.now();
  ping_outstanding = false;
  /** Why the server is closing the session (an Error outside any request), if it said. */
  session_error: { code: ErrorCode; message: string } | null = null;

  constructor(readonly socket: Socket) {}

  request_id(): bigint {
    return this.next_request_id++;
  }
}

export class TcpTransport implements NodeTransport {
  private current: Connection | null = null;
  private connecting: Promise<Connection | Unreachable> | null = null;
  private hello_ok: HelloOkFields | null = null;
  private closed = false;
  private keepalive: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly options: TcpTransportOptions) {}

  limits(): TransportLimits {
    const own = this.options.limits;
    if (this.hello_ok === null) return own;
    const server_in_flight = Math.max(1, this.hello_ok.in_flight_max - READS_RESERVED);
    return {
      batch_orders_max: Math.min(own.batch_orders_max, this.hello_ok.batch_orders_max),
      in_flight_max: Math.min(own.in_flight_max, server_in_flight),
    };
  }

  token_partner(): number {
    return this.hello_ok?.partner ?? 0;
  }

  /** Connects now (the first connection): the HelloOk, or why there is none. */
  async open(): Promise<HelloOkFields | Unreachable> {
    const connection = await this.connection();
    if ("kind" in connection) return connection;
    return connection.hello_ok!;
  }

  async send_batch(batch: WireBatch): Promise<BatchOutcome> {
    const connection = await this.connection();
    if ("kind" in connection) return connection;
    const request_id = connection.request_id();
    const bytes = new Uint8Array(LENGTH_PREFIX_BYTES + batch_frame_size_bytes(batch.count));
    const size_bytes = write_order_batch(bytes, LENGTH_PREFIX_BYTES, request_id, batch.mode,
      batch.orders_bytes, batch.count);
    new DataView(bytes.buffer).setUint32(0, size_bytes, true);
    return new Promise<BatchOutcome>((resolve) => {
      const lost = (message: string) => resolve({ kind: "lost", message });
      this.wait(connection, request_id, batch.timeout_ms, lost, (frame, frame_bytes) => {
        if (frame.type === "error") {
          return resolve({ kind: "refused", code: frame.code, message: frame.message,
            retry_after_ms: frame.retry_after_ms, applied: applied_of(frame.code) });
        }
        if (frame.type !== "batch_results") {
          return resolve({ kind: "lost", message: `a ${frame.type} answered a batch` });
        }
        // accepted mode's one answer (every order pending) as committed mode's final one
        return resolve({ kind: "results", results: batch_results(frame_bytes, frame) });
      });
      connection.socket.write(bytes);
    });
  }

  async read_account(partner: number, account: bigint, timeout_ms: number)
    : Promise<ReadOutcome<AccountInfo>> {
    return this.read(timeout_ms, (id) => encode_account_query(id, account, partner), (frame) =>
      frame.type === "account_info" ? account_info(frame) : null);
  }

  async read_order(partner: number, order_id: bigint, timeout_ms: number)
    : Promise<ReadOutcome<ResultFields>> {
    return this.read(timeout_ms, (id) => encode_order_query(id, order_id, partner), (frame) => {
      if (frame.type !== "order_status") return null;
      return frame.found && frame.result !== null ? frame.result : "not_found";
    });
  }

  async read_map(timeout_ms: number): Promise<ReadOutcome<RoutingMap>> {
    const answer = await this.read(timeout_ms, encode_routing_map_query, (frame) =>
      frame.type === "routing_map_reply" ? frame.json : null);
    return answer.kind === "found" ? parsed_map(answer.value) : answer;
  }

  close(): void {
    this.closed = true;
    if (this.keepalive !== null) clearInterval(this.keepalive);
    this.keepalive = null;
    if (this.current !== null) this.drop(this.current, "the client was closed");
  }

  private async read<T>(timeout_ms: number, encode: (request_id: bigint) => Uint8Array,
    value_of: (frame: DecodedFrame) => T | "not_found" | null): Promise<ReadOutcome<T>> {
    const connection = await this.connection();
    if ("kind" in connection) return connection;
    const request_id = connection.request_id();
    return new Promise<ReadOutcome<T>>((resolve) => {
      const lost = (message: string) => resolve({ kind: "lost", message });
      this.wait(connection, request_id, timeout_ms, lost, (frame) => {
        if (frame.type === "error") {
          if (frame.code === ErrorCode.not_found) return resolve({ kind: "not_found" });
          return resolve({ kind: "refused", code: frame.code, message: frame.message,
            retry_after_ms: frame.retry_after_ms });
        }
        const value = value_of(frame);
        if (value === null) {
          return resolve({ kind: "lost", message: `a ${frame.type} answered a read` });
        }
        if (value === "not_found") return resolve({ kind: "not_found" });
        return resolve({ kind: "found", value });
      });
      connection.socket.write(with_length_prefix(encode(request_id)));
    });
  }

  /** Registers a request, answered by one frame; timeouts and a lost connection resolve it `lost`. */
  private wait(connection: Connection, request_id: bigint, timeout_ms: number,
    on_lost: (message: string) => void,
    on_frame: (frame: DecodedFrame, bytes: Uint8Array) => void): void {
    const timer = setTimeout(() => {
      connection.waiters.delete(request_id);
      on_lost(`no answer within ${timeout_ms} ms`);
    }, timeout_ms);
    connection.waiters.set(request_id, {
      timer,
      on_lost,
      on_frame: (frame, bytes) => {
        on_frame(frame, bytes);
        clearTimeout(timer);
        connection.waiters.delete(request_id);
      },
    });
  }

  private connection(): Promise<Connection | Unreachable> {
    if (this.closed) {
      return Promise.resolve({ kind: "unreachable", message: "the client is closed" });
    }
    if (this.current !== null && this.current.open) return Promise.resolve(this.current);
    if (this.connecting === null) {
      this.connecting = this.dial().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  /** Opens a socket, sends Hello, waits for HelloOk. */
  private async dial(): Promise<Connection | Unreachable> {
    let token: string;
    try {
      token = (await token_of(this.options.token)) ?? "";
    } catch (error) {
      return { kind: "unreachable", message: `the token source failed: ${String(error)}` };
    }
    return new Promise((resolve) => {
      const { host, port, tls } = this.options;
      const socket = tls === undefined ? net_connect({ host, port })
        : tls_connect({ host, port, ...tls_connect_options(tls) });
      socket.setNoDelay(true);
      const connection = new Connection(socket);
      let settled = false;
      const settle = (value: Connection | Unreachable) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        const limit_ms = this.options.connect_timeout_ms;
        settle({ kind: "unreachable", message: `no HelloOk within ${limit_ms} ms` });
        this.drop(connection, "connect timeout");
      }, this.options.connect_timeout_ms);
      // Over TLS, Hello waits for the handshake: the token goes only to a verified server.
      socket.on(tls === undefined ? "connect" : "secureConnect", () => {
        socket.write(with_length_prefix(encode_hello(ProtocolVersion.v1, token)));
      });
      socket.on("data", (chunk: Buffer) => {
        const hello = this.received(connection, chunk);
        if (hello === "hello_ok") {
          this.current = connection;
          this.hello_ok = connection.hello_ok;
          this.start_keepalive();
          settle(connection);
        } else if (hello !== null) {
          settle(hello);
        }
      });
      socket.on("error", (error) => {
        // Before HelloOk the error is the answer (a refused connection, a certificate that did
        // not verify): say it rather than "closed".
        settle({ kind: "unreachable", message: error.message });
        this.drop(connection, error.message);
      });
      socket.on("close", () => {
        const session = connection.session_error;
        settle(session === null
          ? { kind: "unreachable", message: "the connection closed before HelloOk" }
          : { kind: "unreachable", message: session.message, code: session.code });
        this.drop(connection, session?.message ?? "the connection closed");
      });
    });
  }

  /** Parses what arrived; before HelloOk, says how the handshake went (null: not yet). */
  private received(connection: Connection, chunk: Uint8Array): "hello_ok" | Unreachable | null {
    connection.last_heard_ms = Date.now();
    connection.reader.push(chunk);
    let handshake: "hello_ok" | Unreachable | null = null;
    for (;;) {
      const bytes = connection.reader.next();
      if (bytes === "incomplete") break;
      if (bytes === "bad_length") {
        this.drop(connection, "the server broke the framing");
        return { kind: "unreachable", message: "the server broke the framing" };
      }
      const frame = decode_frame(bytes);
      if (frame.type === "decode_error") {
        this.drop(connection, `undecodable frame: ${frame.message}`);
        return { kind: "unreachable", message: frame.message };
      }
      const outcome = this.dispatch(connection, frame, bytes);
      if (outcome !== null) handshake = outcome;
    }
    return handshake;
  }

  private dispatch(connection: Connection, frame: DecodedFrame, bytes: Uint8Array)
    : "hello_ok" | Unreachable | null {
    if (connection.hello_ok === null) {
      if (frame.type === "hello_ok") {
        connection.hello_ok = frame;
        return "hello_ok";
      }
      if (frame.type === "error") {
        connection.session_error = { code: frame.code, message: frame.message };
        return { kind: "unreachable", message: frame.message, code: frame.code };
      }
      this.drop(connection, `a ${frame.type} before HelloOk`);
      return { kind: "unreachable", message: `a ${frame.type} before HelloOk` };
    }
    if (frame.type === "pong") {
      connection.ping_outstanding = false;
      return null;
    }
    const request_id = "request_id" in frame ? frame.request_id : 0n;
    const waiter = connection.waiters.get(request_id);
    if (waiter !== undefined) {
      waiter.on_frame(frame, bytes);
    } else if (frame.type === "error") {
      // Not an answer to a request: the session ends (token revoked or expired, shutdown, ...).
      connection.session_error = { code: frame.code, message: frame.message };
    }
    return null;
  }

  /** Ends a connection: every request waiting on it is answered `lost`. */
  private drop(connection: Connection, message: string): void {
    if (this.current === connection) this.current = null;
    if (!connection.open) return;
    connection.open = false;
    connection.socket.destroy();
    const waiters = [...connection.waiters.values()];
    connection.waiters.clear();
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.on_lost(`connection lost: ${message}`);
    }
  }

  private start_keepalive(): void {
    if (this.keepalive !== null) return;
    this.keepalive = setInterval(() => this.keep_alive(), this.options.keepalive_ms);
    this.keepalive.unref?.();
  }

  private keep_alive(): void {
    const connection = this.current;
    if (connection === null || !connection.open) return;
    if (Date.now() - connection.last_heard_ms < this.options.keepalive_ms) return;
    if (connection.ping_outstanding) return this.drop(connection, "the server stopped answering");
    connection.ping_outstanding = true;
    connection.socket.write(with_length_prefix(encode_ping(connection.next_request_id)));
  }
}
