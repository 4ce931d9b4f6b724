// What the run loop needs from a transport: a connection with numbered request slots (tags), raw
// sends into a reusable outgoing buffer flushed once per turn, and replies delivered by tag. Both
// transports (tcp_client.ts, http_client.ts) are raw sockets (Bun.connect): no fetch, no streams,
// no per-request promise.

import type { AccountInfoFields } from "../schema/messages.ts";
import type { Mode } from "../schema/generated/balance/wire/mode.ts";

export interface ReplyHandler {
  /** A BatchResults for `tag`; `pending`: accepted mode's answer (every order pending). */
  on_batch_results(tag: number, frame: Uint8Array, results_offset: number, count: number,
    pending: boolean): void;
  /** An account's figures, or null when it does not exist. */
  on_account_info(tag: number, info: AccountInfoFields | null): void;
  /** No results for `tag`: refused (nothing applied), or `outcome_unknown` (maybe applied). */
  on_refused(tag: number, reason: string, outcome_unknown: boolean): void;
  /** The connection is gone; every tag in flight has been refused with outcome_unknown before. */
  on_closed(reason: string): void;
}

export interface Connection {
  /** Requests this connection keeps in flight at most (tags are 0 .. in_flight_max - 1). */
  readonly in_flight_max: number;
  bytes_sent: number;
  bytes_received: number;
  /** Replies by kind: HTTP statuses ("200") or TCP messages ("BatchResults", "Error busy"). */
  readonly reply_counts: Map<string, number>;
  send_batch(tag: number, mode: Mode, orders: Uint8Array, count: number): void;
  send_account_query(tag: number, partner: number, account: bigint): void;
  /** Writes what was queued; what the socket does not take now goes out on drain. */
  flush(): void;
  close(): void;
}

export interface Endpoint {
  host: string;
  port: number;
  token: string | null;
  /** TLS (--tls, --ca); absent or null: plaintext. */
  tls?: ClientTls | null;
}

/** A TLS client's trust: `ca` the PEM certificate of the CA to trust, null for the system's. */
export interface ClientTls {
  ca: string | null;
}

/**
 * Bun.connect's `tls` for an endpoint, and the socket handlers that start a session: with TLS the
 * session starts at the end of the handshake (bytes written before it may be lost: checked on Bun
 * 1.4.5), a failed handshake (a wrong CA, an expired certificate) fails the connect.
 */
export function connect_options<S>(endpoint: Endpoint, on_ready: (socket: S) => void,
  on_failed: (error: string) => void) {
  const tls = endpoint.tls ?? null;
  if (tls === null) return { open: on_ready };
  return {
    tls: tls.ca === null ? true : { ca: tls.ca, serverName: endpoint.host },
    open: () => {},
    handshake: (socket: S, success: boolean, error: Error | null) => {
      if (success) on_ready(socket);
      else on_failed(`TLS handshake failed: ${error?.message ?? "refused"}`);
    },
  };
}

export function count_reply(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/**
 * A byte queue for outgoing requests: appended to, written from its start; the unwritten rest waits
 * for the socket's drain. Its capacity covers every slot's largest request, so it never grows.
 */
export class SendBuffer {
  readonly bytes: Uint8Array;
  end = 0;
  private start = 0;

  constructor(capacity_bytes: number) {
    this.bytes = new Uint8Array(capacity_bytes);
  }

  get pending_bytes(): number {
    return this.end - this.start;
  }

  /** Room for `size_bytes` more at `end`, compacting if needed; throws past the budget. */
  reserve(size_bytes: number): number {
    if (this.end + size_bytes > this.bytes.length && this.start > 0) {
      this.bytes.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end + size_bytes > this.bytes.length) {
      throw new Error(`send buffer of ${this.bytes.length} bytes overflows`);
    }
    return this.end;
  }

  /** Writes through `write` (which returns how many bytes it took); true when all went out. */
  drain_into(write: (chunk: Uint8Array) => number): boolean {
    if (this.end === this.start) return true;
    const written = write(this.bytes.subarray(this.start, this.end));
    this.start += Math.max(0, written);
    if (this.start < this.end) return false;
    this.start = 0;
    this.end = 0;
    return true;
  }
}

/**
 * Incoming bytes kept across reads until a whole message is there. Grows (rarely: replies are
 * small) up to `limit_bytes`.
 */
export class ReceiveBuffer {
  bytes: Uint8Array;
  length = 0;

  constructor(initial_bytes: number, private readonly limit_bytes: number) {
    this.bytes = new Uint8Array(initial_bytes);
  }

  append(data: Uint8Array): void {
    const needed = this.length + data.length;
    if (needed > this.bytes.length) {
      if (needed > this.limit_bytes) throw new Error(`a reply exceeds ${this.limit_bytes} bytes`);
      const size_bytes = Math.min(this.limit_bytes, Math.max(needed, this.bytes.length * 2));
      const grown = new Uint8Array(size_bytes);
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(data, this.length);
    this.length = needed;
  }

  /** Drops the first `consumed` bytes. */
  consume(consumed: number): void {
    if (consumed === 0) return;
    this.bytes.copyWithin(0, consumed, this.length);
    this.length -= consumed;
  }
}
