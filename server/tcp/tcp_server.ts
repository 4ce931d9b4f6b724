// The binary TCP front door (docs/protocol.md): Bun.listen on TCP_PORT, one TcpConnection per
// socket, replies of a tick written with one socket.write per connection, and a periodic sweep for
// idle connections, late frames, expired and revoked tokens. stop() is the SIGTERM path: stop
// accepting, answer new requests shutting_down, let requests in flight finish, flush, close.

import { assert } from "../../common/assert.ts";
import {
  BATCH_ORDERS_MAX, FRAME_SIZE_BYTES_MAX, RESULT_SIZE_BYTES, TCP_CLOSE_LINGER_MS,
  TCP_LENGTH_PREFIX_BYTES, TCP_RECEIVE_HELD_BYTES_MAX, TCP_SESSION_SWEEP_MS,
} from "../../common/constants.ts";
import type { Refusal } from "../../schema/refusal.ts";
import type { ServiceNode } from "../../node/service_node.ts";
import { batch_frame_size_bytes } from "../../schema/codec.ts";
import type { Authenticator } from "../../auth/principal.ts";
import type { TcpConfig } from "../../config/config.ts";
import type { ClusterView } from "../../router/leadership.ts";
import { SessionState, TcpConnection, type TcpSocket } from "./connection.ts";
import { ConnectionSlots } from "./connection_slots.ts";
import type { TlsWatch } from "../../auth/tls.ts";
import { TlsFollowingListener } from "../../auth/tls_listener.ts";

const SHUTDOWN_POLL_MS = 5;

/** What a connection needs from its server. */
export interface TcpServerContext {
  readonly node: ServiceNode;
  readonly config: TcpConfig;
  /** null: AUTH=off, every Hello is accepted as an internal principal. */
  readonly authenticator: Authenticator | null;
  /** The groups this node leads and the routing map it serves (RoutingMapQuery). */
  readonly cluster: ClusterView;
  /** The most one connection's queued replies can reach (see send_buffer_limit). */
  readonly send_buffer_limit_bytes: number;
  readonly deferred_bytes_max: number;
  /** Accepted mode's pending results are built here, then copied into a send buffer. */
  readonly results_scratch: Uint8Array;
  /** Connection slots per principal, and of connections not past Hello. */
  readonly slots: ConnectionSlots;
  mark_dirty(connection: TcpConnection): void;
  /** Why new requests are refused now (node not ready, shutting down, disk full), or null. */
  refusal(): Refusal | null;
}

/**
 * A connection is read only while its queued replies are within the cap, so past the cap it can
 * receive at most the reply of the frame read last, an error that closes it, and the late reply of
 * each request in flight (a BatchResults of at most 128 results, or a shorter frame).
 */
export function send_buffer_limit(config: TcpConfig): number {
  const frame_bytes_max = TCP_LENGTH_PREFIX_BYTES + FRAME_SIZE_BYTES_MAX;
  const late_reply_bytes_max = TCP_LENGTH_PREFIX_BYTES + batch_frame_size_bytes(BATCH_ORDERS_MAX);
  return config.send_buffer_bytes_max + 2 * frame_bytes_max +
    config.in_flight_max * late_reply_bytes_max;
}

export interface TcpServerHandle {
  readonly hostname: string;
  readonly port: number;
  readonly connection_count: number;
  /** SIGTERM: stop accepting, finish what is in flight, flush, close every connection. */
  stop(): Promise<void>;
}

/** `tls`: the protocol inside TLS with this certificate, followed as it rotates; null: plain. */
export function start_tcp_server(node: ServiceNode, authenticator: Authenticator | null,
  cluster: ClusterView, host: string, config: TcpConfig, tls: TlsWatch | null = null)
  : TcpServerHandle {
  return new TcpServer(node, authenticator, cluster, host, config, tls);
}

class TcpServer implements TcpServerContext, TcpServerHandle {
  readonly send_buffer_limit_bytes: number;
  readonly deferred_bytes_max = TCP_RECEIVE_HELD_BYTES_MAX;
  readonly results_scratch = new Uint8Array(BATCH_ORDERS_MAX * RESULT_SIZE_BYTES);
  readonly slots: ConnectionSlots;
  private readonly connections = new Set<TcpConnection>();
  /** Connections with replies to write this tick, and the list being flushed (swapped). */
  private dirty: TcpConnection[] = [];
  private flushing: TcpConnection[] = [];
  private flush_scheduled = false;
  private draining = false;
  private readonly listener: TlsFollowingListener<Bun.TCPSocketListener<TcpConnection | null>>;
  private readonly sweep_timer: ReturnType<typeof setInterval>;
  private readonly flush_dirty = () => this.flush_all();

  constructor(readonly node: ServiceNode, readonly authenticator: Authenticator | null,
    readonly cluster: ClusterView, host: string, readonly config: TcpConfig,
    tls: TlsWatch | null) {
    this.send_buffer_limit_bytes = send_buffer_limit(config);
    this.slots = new ConnectionSlots(config);
    const socket: Bun.SocketHandler<TcpConnection | null> = {
      open: (socket) => this.on_open(socket),
      data: (socket, chunk) => socket.data?.on_data(chunk, performance.now()),
      drain: (socket) => socket.data?.flush(),
      close: (socket) => this.on_close(socket.data),
      error: (socket) => this.on_close(socket.data),
      // A client that fails the TLS handshake (a plaintext client, a client refusing our
      // certificate) is closed; it never reached Hello, so it holds only its open slot.
      handshake: (socket, success) => {
        if (!success) socket.end();
      },
    };
    this.listener = new TlsFollowingListener((port, material) => Bun.listen<TcpConnection | null>({
      hostname: host,
      port,
      socket,
      ...(material === undefined ? {} : { tls: material, reusePort: true }),
    }), config.port, tls, "TLS TCP");
    this.sweep_timer = setInterval(() => this.sweep(), TCP_SESSION_SWEEP_MS);
  }

  get hostname(): string {
    return this.listener.hostname;
  }

  get port(): number {
    return this.listener.port;
  }

  get connection_count(): number {
    return this.connections.size;
  }

  private on_open(socket: Bun.Socket<TcpConnection | null>): void {
    // The Hello slot is taken last: a socket refused for another reason must not hold one.
    if (this.draining || this.connections.size >= this.config.connections_max ||
      !this.slots.open()) {
      socket.data = null;
      // Refused: closed at once (TCP_CONNECTIONS_MAX, TCP_UNAUTHENTICATED_CONNECTIONS_MAX).
      socket.end();
      this.node.metrics.count_tcp_refused();
      return;
    }
    socket.setNoDelay(true);
    const connection = new TcpConnection(socket as unknown as TcpSocket, this, performance.now());
    socket.data = connection;
    this.connections.add(connection);
  }

  private on_close(connection: TcpConnection | null): void {
    if (connection === null || connection.state === SessionState.closed) return;
    connection.on_closed();
    this.connections.delete(connection);
    this.slots.close(connection.principal);
  }

  refusal(): Refusal | null {
    if (this.draining) return "shutting_down";
    return this.node.refusal();
  }

  mark_dirty(connection: TcpConnection): void {
    if (connection.flush_queued) return;
    connection.flush_queued = true;
    this.dirty.push(connection);
    if (this.flush_scheduled) return;
    this.flush_scheduled = true;
    queueMicrotask(this.flush_dirty);
  }

  /**
   * One write per connection with replies this tick. A flush may read frames held back (the
   * connection drained below its cap), whose replies queue that connection for the next round.
   */
  private flush_all(): void {
    this.flush_scheduled = false;
    const list = this.dirty;
    this.dirty = this.flushing;
    this.flushing = list;
    for (let i = 0; i < list.length; i++) {
      const connection = list[i]!;
      connection.flush_queued = false;
      connection.flush();
    }
    list.length = 0;
  }

  private sweep(): void {
    const now_ms = performance.now();
    for (const connection of this.connections) connection.sweep(now_ms);
  }

  private in_flight_total(): number {
    let total = 0;
    for (const connection of this.connections) total += connection.in_flight;
    return total;
  }

  async stop(): Promise<void> {
    this.draining = true;
    this.listener.stop(false);
    while (this.in_flight_total() > 0) await Bun.sleep(SHUTDOWN_POLL_MS);
    for (const connection of this.connections) connection.close_quietly();
    const deadline_ms = performance.now() + TCP_CLOSE_LINGER_MS;
    while (this.connections.size > 0 && performance.now() < deadline_ms) {
      await Bun.sleep(SHUTDOWN_POLL_MS);
    }
    for (const connection of this.connections) connection.terminate();
    clearInterval(this.sweep_timer);
    this.listener.stop(true);
    assert(this.in_flight_total() === 0, "nothing in flight once the TCP server stops");
  }
}
