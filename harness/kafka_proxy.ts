// A TCP proxy in front of one Kafka broker, for fault tests: the broker advertises the proxy's
// port (scripts/services/kafka.sh, KAFKA_ADVERTISED_PORT), so every client connection goes through
// it. It passes bytes on unchanged, reading only the frame headers (a 4-byte size, then in a
// request the api key and version and the correlation id; in a response the correlation id).
//
// lose_next_produce_response() makes the outcome a producer cannot tell apart from a failure: the
// next Produce request reaches the broker, which appends it, but its response is withheld and
// the client's connection cut; from then on every new connection is closed at once, so the
// client's own retries fail too, until heal().

import { createServer, connect, type Server, type Socket } from "node:net";

const PRODUCE_API_KEY = 0;
const SIZE_BYTES = 4;
/** Request header: size, api key (int16), api version (int16), correlation id (int32). */
const REQUEST_CORRELATION_OFFSET = 8;
/** Response header: size, correlation id (int32). */
const RESPONSE_CORRELATION_OFFSET = 4;
const REQUEST_HEADER_BYTES = 12;
const RESPONSE_HEADER_BYTES = 8;

/**
 * Finds the frame headers in a byte stream without holding the frames: each frame's first
 * `header_bytes` (its size prefix included) are collected, the rest is skipped.
 */
class FrameHeaders {
  private header = Buffer.alloc(0);
  private skip_bytes = 0;

  constructor(private readonly header_bytes: number) {}

  /** Calls `on_header` for each header completed in `chunk`; false from it stops the scan. */
  scan(chunk: Buffer, on_header: (header: Buffer) => boolean): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.skip_bytes > 0) {
        const taken = Math.min(this.skip_bytes, chunk.length - at);
        this.skip_bytes -= taken;
        at += taken;
        continue;
      }
      const taken = Math.min(this.header_bytes - this.header.length, chunk.length - at);
      this.header = Buffer.concat([this.header, chunk.subarray(at, at + taken)]);
      at += taken;
      if (this.header.length < this.header_bytes) return;
      this.skip_bytes = SIZE_BYTES + this.header.readInt32BE(0) - this.header_bytes;
      if (this.skip_bytes < 0) throw new Error("a Kafka frame shorter than its header");
      const header = this.header;
      this.header = Buffer.alloc(0);
      if (!on_header(header)) return;
    }
  }
}

type Mode = "pass" | "lose_next_produce" | "cut";

export class KafkaProxy {
  private mode: Mode = "pass";
  private lost: (() => void) | null = null;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, private readonly upstream_port: number) {}

  /** Listens on 127.0.0.1:`listen_port`, forwarding to 127.0.0.1:`upstream_port`. */
  static async start(listen_port: number, upstream_port: number): Promise<KafkaProxy> {
    let proxy: KafkaProxy | null = null;
    const server = createServer((client) => proxy!.accept(client));
    proxy = new KafkaProxy(server, upstream_port);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listen_port, "127.0.0.1", resolve);
    });
    return proxy;
  }

  /** Resolves once a Produce request was answered by the broker and its response withheld. */
  lose_next_produce_response(): Promise<void> {
    if (this.mode !== "pass") throw new Error(`the proxy is already ${this.mode}`);
    this.mode = "lose_next_produce";
    return new Promise<void>((resolve) => (this.lost = resolve));
  }

  /** Connections pass again. */
  heal(): void {
    this.mode = "pass";
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.mode === "cut") return void client.destroy();
    const upstream = connect(this.upstream_port, "127.0.0.1");
    this.sockets.add(client).add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    let withheld_correlation: number | null = null;
    const requests = new FrameHeaders(REQUEST_HEADER_BYTES);
    client.on("data", (chunk: Buffer) => {
      requests.scan(chunk, (header) => {
        if (this.mode !== "lose_next_produce") return true;
        if (header.readInt16BE(SIZE_BYTES) !== PRODUCE_API_KEY) return true;
        withheld_correlation = header.readInt32BE(REQUEST_CORRELATION_OFFSET);
        this.mode = "cut";
        return true;
      });
      upstream.write(chunk);
    });
    const responses = new FrameHeaders(RESPONSE_HEADER_BYTES);
    upstream.on("data", (chunk: Buffer) => {
      let withheld = false;
      responses.scan(chunk, (header) => {
        withheld = header.readInt32BE(RESPONSE_CORRELATION_OFFSET) === withheld_correlation;
        return !withheld;
      });
      if (!withheld) return void client.write(chunk);
      // The broker answered (it appended the batch); the client never hears it, and loses
      // every connection it has, so it cannot learn the outcome any other way.
      for (const socket of this.sockets) socket.destroy();
      this.lost?.();
      this.lost = null;
    });
  }
}
