// One TCP session (docs/protocol.md): Hello first, verified once; then pipelined requests answered
// in any order with their request_id. The data callback only parses frames and hands requests to
// the router; replies are appended to the connection's SendBuffer and written once per tick by the
// server. A connection is never read while its token is being verified or while its queued replies
// exceed the send cap, so one slow client only ever stalls itself. A frame read has a deadline
// from its first byte (TCP_FRAME_TIMEOUT_MS), so dripping bytes does not keep a connection.

import { assert, assert_never } from "../../common/assert.ts";
import {
  BATCH_ORDERS_MAX, FRAME_SIZE_BYTES_MAX, ORDER_SIZE_BYTES, TCP_CLOSE_LINGER_MS,
  TCP_HELLO_TIMEOUT_MS,
} from "../../common/constants.ts";
import type { PendingRequest } from "../../router/pending.ts";
import type { Refusal } from "../../schema/refusal.ts";
import * as S from "../../common/slots.ts";
import {
  batch_frame_size_bytes, decode_frame, encode_error, encode_hello_ok, encode_ping,
  encode_routing_map_reply, PROTOCOL_VERSION_CURRENT, write_batch_results,
} from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import type { DecodedFrame, OrderBatchView } from "../../schema/messages.ts";
import {
  authorize_orders, is_auth_failure, partner_for_read, type AuthFailure, type Principal,
} from "../../auth/principal.ts";
import { not_primary_reply, refusal_reply } from "../../http/replies.ts";
import { FrameReader, READ_ALL, READ_TOO_LARGE } from "./frame_reader.ts";
import { account_info_frame, batch_request_id, order_status_frame } from "./replies.ts";
import { SendBuffer, type Writable } from "./send_buffer.ts";
import type { TcpServerContext } from "./tcp_server.ts";

/** Bun's socket as the connection uses it (pause and resume exist at run time, untyped in 1.4). */
export interface TcpSocket extends Writable {
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
}

export const SessionState = {
  hello: 0, // waiting for Hello
  verifying: 1, // Hello received, token being verified: nothing else is read
  open: 2,
  closing: 3, // a last frame is being flushed, then the socket is ended
  closed: 4,
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** The principal of every connection while AUTH=off: any Hello token is accepted as internal. */
const AUTH_OFF_PRINCIPAL: Principal = {
  kind: "internal", jti: "auth-off", expires_at_ms: Number.POSITIVE_INFINITY,
};

export class TcpConnection {
  state: SessionState = SessionState.hello;
  principal: Principal | null = null;
  /** Requests answered later (router), counted until their final reply is queued. */
  in_flight = 0;
  last_receive_ms: number;
  readonly opened_ms: number;
  close_deadline_ms = Number.POSITIVE_INFINITY;
  /** In the server's list of connections to flush this tick. */
  flush_queued = false;
  readonly send: SendBuffer;
  private readonly reader = new FrameReader(FRAME_SIZE_BYTES_MAX);
  /** Reads held back while the connection is not read (verifying, or over the send cap). */
  private deferred: Uint8Array | null = null;
  private paused = false;
  private readonly on_frame = (frame: Uint8Array): boolean => this.handle_frame(frame);

  constructor(private readonly socket: TcpSocket, private readonly server: TcpServerContext,
    now_ms: number) {
    this.last_receive_ms = now_ms;
    this.opened_ms = now_ms;
    this.send = new SendBuffer(server.send_buffer_limit_bytes);
  }

  // --- Reading ---------------------------------------------------------------------------------

  /** The socket's data callback: parse what arrived, unless the connection is not being read. */
  on_data(chunk: Uint8Array, now_ms: number): void {
    if (this.state >= SessionState.closing) return;
    this.last_receive_ms = now_ms;
    if (this.deferred !== null || !this.readable()) {
      // Not read now (late replies may have filled the send buffer; Bun may deliver a read already
      // under way when paused): held until the reason is gone.
      this.defer(chunk, 0);
      return;
    }
    this.read(chunk, now_ms);
  }

  private read(chunk: Uint8Array, now_ms: number): void {
    const stopped_at = this.reader.push(chunk, now_ms, this.on_frame);
    if (stopped_at === READ_ALL) return;
    if (stopped_at === READ_TOO_LARGE) {
      this.close_with_error(ErrorCode.frame_too_large,
        `a frame of ${this.reader.declared_size_bytes} bytes exceeds ${FRAME_SIZE_BYTES_MAX}`);
      return;
    }
    if (this.state >= SessionState.closing) return;
    this.defer(chunk, stopped_at);
  }

  /** Keeps chunk[from..] for later and stops reading the socket. */
  private defer(chunk: Uint8Array, from: number): void {
    if (from >= chunk.length) {
      if (this.deferred === null) this.deferred = new Uint8Array(0);
    } else if (this.deferred === null) {
      this.deferred = chunk.slice(from);
    } else {
      const joined = new Uint8Array(this.deferred.length + chunk.length - from);
      joined.set(this.deferred, 0);
      joined.set(chunk.subarray(from), this.deferred.length);
      this.deferred = joined;
    }
    if (this.deferred.length > this.server.deferred_bytes_max) {
      this.close_with_error(ErrorCode.frame_too_large, "the client kept sending while not read");
      return;
    }
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Whether the next frame may be read now. */
  private readable(): boolean {
    return this.state !== SessionState.verifying &&
      this.send.queued_bytes <= this.server.config.send_buffer_bytes_max;
  }

  /** Reads again what was held back, once the reason is gone (verified, or drained). */
  resume_reading(): void {
    if (this.deferred === null || this.state >= SessionState.closing || !this.readable()) return;
    const held = this.deferred;
    this.deferred = null;
    const now_ms = performance.now();
    this.reader.restart_held_clock(now_ms);
    this.read(held, now_ms);
    if (this.deferred === null && this.paused && this.state < SessionState.closing) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Handles one frame; returns whether the next one may be read now. */
  private handle_frame(frame: Uint8Array): boolean {
    assert(this.state < SessionState.closing && this.readable(), "frames are read only when readable");
    const decoded = decode_frame(frame);
    if (decoded.type === "decode_error") return this.on_decode_error(frame, decoded.error, decoded.message);
    if (this.state === SessionState.hello) return this.on_hello(decoded);
    assert(this.state === SessionState.open, "requests are read only on an open session");
    this.on_request(frame, decoded);
    this.server.mark_dirty(this);
    return this.state === SessionState.open && this.readable();
  }

  /** Bytes that are not a frame close the connection; a batch of a wrong size is one request's error. */
  private on_decode_error(frame: Uint8Array, code: ErrorCode, message: string): boolean {
    const batch_size = code === ErrorCode.batch_empty || code === ErrorCode.batch_too_large;
    if (!batch_size) {
      this.close_with_error(code, message);
      return false;
    }
    if (this.state !== SessionState.open) {
      this.close_with_error(ErrorCode.not_authenticated, "the first frame must be Hello, got an OrderBatch");
      return false;
    }
    this.queue_error(batch_request_id(frame), code, message, 0);
    this.server.mark_dirty(this);
    return this.readable();
  }

  // --- Hello -----------------------------------------------------------------------------------

  private on_hello(decoded: DecodedFrame): boolean {
    if (decoded.type !== "hello") {
      this.close_with_error(ErrorCode.not_authenticated, `the first frame must be Hello, got ${decoded.type}`);
      return false;
    }
    if (decoded.protocol_version !== PROTOCOL_VERSION_CURRENT) {
      this.close_with_error(ErrorCode.unsupported_version,
        `protocol version ${decoded.protocol_version}; this server speaks ${PROTOCOL_VERSION_CURRENT}`);
      return false;
    }
    const authenticator = this.server.authenticator;
    if (authenticator === null) {
      this.on_verified(AUTH_OFF_PRINCIPAL); // AUTH=off: any token, as an internal principal
      return this.state === SessionState.open;
    }
    this.state = SessionState.verifying;
    authenticator.authenticate(decoded.token).then(
      (outcome) => this.on_verified(outcome),
      (error: unknown) => this.on_verified({ code: ErrorCode.token_invalid,
        message: `the token could not be verified: ${String(error)}` }),
    );
    return false; // frames behind Hello wait until it is verified
  }

  private on_verified(outcome: Principal | AuthFailure): void {
    if (this.state >= SessionState.closing) return;
    if (is_auth_failure(outcome)) {
      this.close_with_error(outcome.code, outcome.message);
      return;
    }
    if (!this.server.slots.authenticate(outcome)) {
      this.server.node.metrics.count_tcp_refused();
      this.close_with_error(ErrorCode.too_many_connections, this.server.slots.full_message(outcome));
      return;
    }
    this.principal = outcome;
    this.state = SessionState.open;
    this.send.append_frame(encode_hello_ok({
      protocol_version: PROTOCOL_VERSION_CURRENT,
      partner: outcome.kind === "partner" ? outcome.partner : 0,
      internal: outcome.kind === "internal",
      frame_size_max: FRAME_SIZE_BYTES_MAX,
      in_flight_max: this.server.config.in_flight_max,
      batch_orders_max: BATCH_ORDERS_MAX,
    }));
    this.server.mark_dirty(this);
    this.resume_reading();
  }

  // --- Requests --------------------------------------------------------------------------------

  private on_request(frame: Uint8Array, decoded: DecodedFrame): void {
    switch (decoded.type) {
      case "ping":
        this.send.append_frame(encode_ping(decoded.nonce, true));
        return;
      case "routing_map_query":
        this.send.append_frame(encode_routing_map_reply(decoded.request_id,
          JSON.stringify(this.server.cluster.routing_map())));
        return;
      case "order_batch":
      case "account_query":
      case "order_query":
        if (!this.admit(decoded.request_id)) return;
        if (decoded.type === "order_batch") return this.on_order_batch(frame, decoded);
        if (decoded.type === "account_query") {
          return this.on_query(decoded.request_id, S.SlotKind.query_account, decoded.account, decoded.partner);
        }
        return this.on_query(decoded.request_id, S.SlotKind.query_order, decoded.order_id, decoded.partner);
      case "hello":
      case "hello_ok":
      case "batch_results":
      case "account_info":
      case "order_status":
      case "error":
      case "pong":
      case "routing_map_reply":
        this.close_with_error(ErrorCode.malformed_frame, `a client does not send ${decoded.type}`);
        return;
      default:
        assert_never(decoded, "frame");
    }
  }

  /** The checks every request passes before it reaches the router; false: answered already. */
  private admit(request_id: bigint): boolean {
    if (this.in_flight >= this.server.config.in_flight_max) {
      this.queue_error(request_id, ErrorCode.too_many_in_flight,
        `${this.in_flight} requests unanswered on this connection, at most ` +
        `${this.server.config.in_flight_max}`, 0);
      return false;
    }
    const refusal = this.server.refusal();
    if (refusal !== null) {
      this.queue_refusal(request_id, refusal);
      return false;
    }
    return true;
  }

  private on_order_batch(frame: Uint8Array, batch: OrderBatchView): void {
    const start = batch.orders_byte_offset;
    const orders = frame.subarray(start, start + batch.order_count * ORDER_SIZE_BYTES);
    const forbidden = this.principal!.kind === "internal" ? null : authorize_orders(this.principal!,
      new DataView(orders.buffer, orders.byteOffset, orders.byteLength), batch.order_count);
    if (forbidden !== null) {
      this.queue_error(batch.request_id, forbidden.code, forbidden.message, 0);
      return;
    }
    const { request_id, order_count, mode } = batch;
    if (mode === Mode.accepted) return this.on_accepted_batch(request_id, orders, order_count);
    // The results are lent (a pooled buffer): on_batch_committed copies them into the frame.
    const refusal = this.server.node.router.submit_listen(orders, order_count,
      (request) => this.on_batch_committed(request_id, request),
      (late) => this.on_late_refusal(request_id, late), true);
    if (refusal !== null) {
      this.server.node.metrics.count_batch(refusal);
      this.queue_refusal(request_id, refusal);
      return;
    }
    this.in_flight++;
    this.server.node.metrics.count_batch("committed");
  }

  /** Accepted mode: one BatchResults at once (every order pending), and nothing after it. */
  private on_accepted_batch(request_id: bigint, orders: Uint8Array, count: number): void {
    const scratch = this.server.results_scratch;
    const refusal = this.server.node.router.submit_accepted(orders, count, scratch);
    if (refusal !== null) {
      this.server.node.metrics.count_batch(refusal);
      this.queue_refusal(request_id, refusal);
      return;
    }
    this.server.node.metrics.count_batch("accepted");
    const size_bytes = batch_frame_size_bytes(count);
    const at = this.send.reserve_frame(size_bytes);
    write_batch_results(this.send.bytes, at, request_id, scratch, count);
    this.send.commit_frame(size_bytes);
  }

  private on_batch_committed(request_id: bigint, request: PendingRequest): void {
    this.in_flight--;
    if (this.state >= SessionState.closing) return;
    const count = request.order_count;
    const size_bytes = batch_frame_size_bytes(count);
    const at = this.send.reserve_frame(size_bytes);
    // Lent results: read now, reused by the router once this returns.
    write_batch_results(this.send.bytes, at, request_id, request.results, count);
    this.send.commit_frame(size_bytes);
    this.server.mark_dirty(this);
  }

  private on_late_refusal(request_id: bigint, refusal: Refusal): void {
    this.in_flight--;
    if (this.state >= SessionState.closing) return;
    this.queue_refusal(request_id, refusal);
    this.server.mark_dirty(this);
  }

  private on_query(request_id: bigint, kind: S.SlotKind, id: bigint, named_partner: number): void {
    const partner = partner_for_read(this.principal!, named_partner);
    if (typeof partner !== "number") {
      this.queue_error(request_id, partner.code, partner.message, 0);
      return;
    }
    if (partner === 0) {
      this.queue_error(request_id, ErrorCode.not_found,
        "an internal token names the partner of the account or order it reads", 0);
      return;
    }
    this.in_flight++;
    this.server.node.router.query(kind, partner, id).then(
      (request) => this.on_query_answered(request_id, kind, id, partner, request),
      (refusal: Refusal) => this.on_query_refused(request_id, partner, refusal),
    );
  }

  /** A read refused not_primary names the group's primary; other refusals as any request's. */
  private on_query_refused(request_id: bigint, partner: number, refusal: Refusal): void {
    if (refusal !== "not_primary") return this.on_late_refusal(request_id, refusal);
    this.in_flight--;
    if (this.state >= SessionState.closing) return;
    const group = this.server.node.partitioning.group_of_partner(partner);
    const reply = not_primary_reply(group, this.server.cluster.primary_of(group));
    this.queue_error(request_id, reply.code, reply.message, reply.retry_after_ms);
    this.server.mark_dirty(this);
  }

  private on_query_answered(request_id: bigint, kind: S.SlotKind, id: bigint, partner: number,
    request: PendingRequest): void {
    this.in_flight--;
    if (this.state >= SessionState.closing) return;
    if (!request.found) {
      const what = kind === S.SlotKind.query_account
        ? `account ${id} not found`
        : `order ${id} of partner ${partner} is not in the idempotency window (unknown or older)`;
      this.queue_error(request_id, ErrorCode.not_found, what, 0);
    } else if (kind === S.SlotKind.query_account) {
      this.send.append_frame(account_info_frame(request_id, id, request.query_body!));
    } else {
      this.send.append_frame(order_status_frame(request_id, request.query_body!));
    }
    this.server.mark_dirty(this);
  }

  // --- Replies and closing ---------------------------------------------------------------------

  private queue_error(request_id: bigint, code: ErrorCode, message: string, retry_after_ms: number)
    : void {
    this.send.append_frame(encode_error(request_id, code, message, retry_after_ms));
  }

  private queue_refusal(request_id: bigint, refusal: Refusal): void {
    const reply = refusal_reply(refusal);
    this.queue_error(request_id, reply.code, reply.message, reply.retry_after_ms);
  }

  /** Answers Error{code} and closes once it is flushed (or after TCP_CLOSE_LINGER_MS at most). */
  close_with_error(code: ErrorCode, message: string): void {
    if (this.state >= SessionState.closing) return;
    this.queue_error(0n, code, message, 0);
    this.state = SessionState.closing;
    this.deferred = null;
    this.close_deadline_ms = performance.now() + TCP_CLOSE_LINGER_MS;
    this.server.mark_dirty(this);
  }

  /** Closes once what is queued is flushed (shutdown, idle). */
  close_quietly(): void {
    if (this.state >= SessionState.closing) return;
    this.state = SessionState.closing;
    this.deferred = null;
    this.close_deadline_ms = performance.now() + TCP_CLOSE_LINGER_MS;
    this.server.mark_dirty(this);
  }

  /** Writes what is queued; ends a closing connection once everything is out. */
  flush(): void {
    if (this.state === SessionState.closed) return;
    const left = this.send.flush(this.socket);
    if (left < 0) return; // closed under us: the close callback follows
    if (left === 0 && this.state === SessionState.closing) {
      this.socket.end();
      return;
    }
    if (left <= this.server.config.send_buffer_bytes_max / 2) this.resume_reading();
  }

  /** The socket is gone: replies still owed are dropped as they arrive. */
  on_closed(): void {
    this.state = SessionState.closed;
    this.deferred = null;
  }

  terminate(): void {
    if (this.state === SessionState.closed) return;
    this.socket.terminate();
  }

  /** Session checks of the periodic sweep. */
  sweep(now_ms: number): void {
    if (this.state === SessionState.closing) {
      if (now_ms >= this.close_deadline_ms) this.terminate();
      return;
    }
    if (this.state === SessionState.closed) return;
    const config = this.server.config;
    if (this.frame_late(now_ms, config.frame_timeout_ms)) {
      this.close_with_error(ErrorCode.frame_timeout,
        `a frame still incomplete ${config.frame_timeout_ms} ms after its first byte`);
      return;
    }
    if (now_ms - this.last_receive_ms >= config.idle_timeout_ms) return this.close_quietly();
    if (this.principal === null) {
      if (now_ms - this.opened_ms >= TCP_HELLO_TIMEOUT_MS) {
        this.close_with_error(ErrorCode.not_authenticated, "no Hello in time");
      }
      return;
    }
    this.check_token(Date.now());
  }

  /**
   * Whether the frame being read began more than the deadline ago. Not while the connection is
   * not read (its bytes wait in `deferred`): the client cannot be late then; the frame's clock
   * restarts when reading resumes.
   */
  private frame_late(now_ms: number, frame_timeout_ms: number): boolean {
    if (this.deferred !== null || this.reader.held_bytes === 0) return false;
    return now_ms - this.reader.held_since_ms >= frame_timeout_ms;
  }

  private check_token(wall_ms: number): void {
    const principal = this.principal!;
    if (wall_ms >= principal.expires_at_ms) {
      this.close_with_error(ErrorCode.token_expired, "the session's token expired");
      return;
    }
    const authenticator = this.server.authenticator;
    if (authenticator !== null && authenticator.is_revoked(principal.jti)) {
      this.close_with_error(ErrorCode.token_revoked, "the session's token was revoked");
    }
  }
}

assert(ORDER_SIZE_BYTES * BATCH_ORDERS_MAX <= FRAME_SIZE_BYTES_MAX, "a batch's orders fit a frame");
