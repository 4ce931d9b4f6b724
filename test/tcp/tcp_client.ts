// A raw TCP client of the balance service for tests: frames out with their u32 length prefix (or
// any bytes at all), frames in, decoded, queued in arrival order; and whether and when the server
// closed the connection. Deliberately simple (one queue, promises with timeouts), so a test can
// say exactly what it sent and what came back.

import { TCP_LENGTH_PREFIX_BYTES } from "../../common/constants.ts";
import { decode_frame, encode_hello, PROTOCOL_VERSION_CURRENT } from "../../schema/codec.ts";
import { read_result_fields, type ResultFields } from "../../schema/layout.ts";
import type { DecodedFrame } from "../../schema/messages.ts";

const WAIT_TIMEOUT_MS_DEFAULT = 10_000;

export type Received = DecodedFrame & { results?: ResultFields[] };

export function with_prefix(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(TCP_LENGTH_PREFIX_BYTES + frame.length);
  new DataView(out.buffer).setUint32(0, frame.length, true);
  out.set(frame, TCP_LENGTH_PREFIX_BYTES);
  return out;
}

export class TcpTestClient {
  private buffer = new Uint8Array(0);
  private readonly frames: Received[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  private close_waiters: (() => void)[] = [];
  bytes_received = 0;

  private constructor(private socket: Bun.Socket<undefined>) {}

  static async connect(port: number): Promise<TcpTestClient> {
    let client!: TcpTestClient;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_socket, chunk) => client.on_data(chunk),
        close: () => client.on_close(),
        error: () => client.on_close(),
        end: () => client.on_close(),
      },
    });
    client = new TcpTestClient(socket);
    return client;
  }

  /** Connects and completes Hello; throws unless the server answers HelloOk. */
  static async session(port: number, token: string): Promise<TcpTestClient> {
    const client = await TcpTestClient.connect(port);
    client.send(encode_hello(PROTOCOL_VERSION_CURRENT, token));
    const reply = await client.next();
    if (reply.type !== "hello_ok") throw new Error(`expected hello_ok, got ${JSON.stringify(reply, bigints)}`);
    return client;
  }

  private on_data(chunk: Uint8Array): void {
    this.bytes_received += chunk.length;
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer, 0);
    joined.set(chunk, this.buffer.length);
    let at = 0;
    while (joined.length - at >= TCP_LENGTH_PREFIX_BYTES) {
      const size = new DataView(joined.buffer, at, 4).getUint32(0, true);
      if (joined.length - at - TCP_LENGTH_PREFIX_BYTES < size) break;
      const frame = joined.slice(at + TCP_LENGTH_PREFIX_BYTES, at + TCP_LENGTH_PREFIX_BYTES + size);
      this.frames.push(decode_received(frame));
      at += TCP_LENGTH_PREFIX_BYTES + size;
    }
    this.buffer = joined.slice(at);
    this.wake();
  }

  private on_close(): void {
    this.closed = true;
    for (const waiter of this.close_waiters) waiter();
    this.close_waiters = [];
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Sends a frame with its length prefix. */
  send(frame: Uint8Array): void {
    this.send_raw(with_prefix(frame));
  }

  send_raw(bytes: Uint8Array): void {
    const written = this.socket.write(bytes);
    if (written !== bytes.length) throw new Error(`wrote ${written} of ${bytes.length} bytes`);
  }

  /** The next frame, in arrival order; throws on timeout or if the connection closes first. */
  async next(timeout_ms = WAIT_TIMEOUT_MS_DEFAULT): Promise<Received> {
    const deadline = performance.now() + timeout_ms;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error("the server closed the connection");
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no frame within ${timeout_ms} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
    return this.frames.shift()!;
  }

  /** The next `count` frames. */
  async take(count: number, timeout_ms = WAIT_TIMEOUT_MS_DEFAULT): Promise<Received[]> {
    const out: Received[] = [];
    for (let i = 0; i < count; i++) out.push(await this.next(timeout_ms));
    return out;
  }

  /** Frames received and not yet taken. */
  get queued(): number {
    return this.frames.length;
  }

  /** Resolves true once the server closed the connection, false after the timeout. */
  async wait_closed(timeout_ms = WAIT_TIMEOUT_MS_DEFAULT): Promise<boolean> {
    if (this.closed) return true;
    return Promise.race([
      new Promise<boolean>((resolve) => this.close_waiters.push(() => resolve(true))),
      Bun.sleep(timeout_ms).then(() => this.closed),
    ]);
  }

  /** Writes what the socket takes of bytes[offset..]; returns the bytes taken (0 when full). */
  try_write(bytes: Uint8Array, offset: number): number {
    const written = this.socket.write(bytes, offset, bytes.length - offset);
    if (written < 0) throw new Error("the connection is closed");
    return written;
  }

  resume(): void {
    (this.socket as unknown as { resume(): void }).resume();
  }

  /** Stops reading the socket (a stuck client): the server's replies pile up in the kernel. */
  pause(): void {
    (this.socket as unknown as { pause(): void }).pause();
  }

  end(): void {
    this.socket.end();
  }

  close(): void {
    if (!this.closed) this.socket.terminate();
  }
}

function decode_received(frame: Uint8Array): Received {
  const decoded = decode_frame(frame);
  if (decoded.type === "decode_error") throw new Error(`the server sent a bad frame: ${decoded.message}`);
  if (decoded.type !== "batch_results") return decoded;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const results: ResultFields[] = [];
  for (let k = 0; k < decoded.result_count; k++) {
    results.push(read_result_fields(view, decoded.results_byte_offset + k * 40));
  }
  return { ...decoded, results };
}

/** JSON.stringify replacer for messages with BigInt fields. */
export function bigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
