// The two buffers of a replication link, each allocated once per link at its full size: frames
// to send (bounded: a sender that finds no room stops queueing, never grows the buffer) and bytes
// received (frames parsed in a loop straight from it; nothing is allocated per frame).

import { assert } from "../../common/assert.ts";
import {
  REPLICATION_FRAME_BYTES_MAX, REPLICATION_FRAME_HEADER_BYTES, REPLICATION_RECEIVE_BUFFER_BYTES,
} from "./constants.ts";
import {
  frame_header_empty, read_frame_header, write_frame_header, type FrameHeader, type FrameReadResult,
} from "./frame_layout.ts";

/** What socket.write needs (Bun's Socket fits): bytes taken, -1 when closed. */
export interface Writable {
  write(data: Uint8Array, byte_offset: number, byte_length: number): number;
}

export class LinkSendBuffer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private start = 0;
  private end = 0;
  private reserved_bytes = 0; // a frame being built at `end`

  constructor(readonly capacity_bytes: number) {
    assert(capacity_bytes >= REPLICATION_FRAME_BYTES_MAX, "a send buffer holds the largest frame");
    this.bytes = new Uint8Array(capacity_bytes);
    this.view = new DataView(this.bytes.buffer);
  }

  get queued_bytes(): number {
    return this.end - this.start;
  }

  /** Where a frame of `frame_bytes` goes (its header first), or -1 when it does not fit now. */
  reserve(frame_bytes: number): number {
    assert(this.reserved_bytes === 0, "one frame is built at a time");
    assert(frame_bytes >= REPLICATION_FRAME_HEADER_BYTES, "a frame has a header");
    assert(frame_bytes <= REPLICATION_FRAME_BYTES_MAX, "a frame within the limit");
    if (this.queued_bytes + frame_bytes > this.capacity_bytes) return -1;
    if (this.end + frame_bytes > this.capacity_bytes) this.compact();
    this.reserved_bytes = frame_bytes;
    return this.end;
  }

  /** Bytes a frame may take now (reserve() of at most this succeeds). */
  get free_bytes(): number {
    return this.capacity_bytes - this.queued_bytes;
  }

  /** Queues the reserved frame (at most the reserved size), its header written by
   * write_frame_header. */
  commit(frame_bytes: number): void {
    assert(this.reserved_bytes > 0, "a frame was reserved");
    assert(frame_bytes >= REPLICATION_FRAME_HEADER_BYTES, "a frame has a header");
    assert(frame_bytes <= this.reserved_bytes, "commit at most what was reserved");
    this.end += frame_bytes;
    this.reserved_bytes = 0;
  }

  /** Queues a frame of `fields` with `body` (may be empty); false when it does not fit now. */
  put(fields: FrameHeader, body: Uint8Array | null): boolean {
    const body_bytes = body === null ? 0 : body.length;
    assert(fields.body_bytes === body_bytes, "the header names the body's size");
    const at = this.reserve(REPLICATION_FRAME_HEADER_BYTES + body_bytes);
    if (at === -1) return false;
    if (body !== null) this.bytes.set(body, at + REPLICATION_FRAME_HEADER_BYTES);
    write_frame_header(this.view, at, fields);
    this.commit(REPLICATION_FRAME_HEADER_BYTES + body_bytes);
    return true;
  }

  /** Writes what the socket takes; true once nothing is queued. */
  flush(socket: Writable): boolean {
    if (this.queued_bytes === 0) return true;
    const written = socket.write(this.bytes, this.start, this.queued_bytes);
    if (written > 0) this.start += written;
    if (this.start === this.end) this.clear();
    return this.queued_bytes === 0;
  }

  clear(): void {
    assert(this.reserved_bytes === 0, "no frame half built");
    this.start = 0;
    this.end = 0;
  }

  private compact(): void {
    this.bytes.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }
}

/** A frame handed to its handler: body at view[body_offset .. + header.body_bytes), valid
 * only during the call. */
export type OnFrame = (view: DataView, body_offset: number, header: FrameHeader) => void;

export type ReceiveResult = "ok" | "overflow" | Exclude<FrameReadResult, "ok" | "short">;

export class LinkFrameReader {
  private readonly bytes = new Uint8Array(REPLICATION_RECEIVE_BUFFER_BYTES);
  private readonly view = new DataView(this.bytes.buffer);
  private readonly header = frame_header_empty();
  private start = 0;
  private end = 0;
  /** Set by the handler to hold later frames back (an asynchronous check); see resume(). */
  paused = false;

  /** Takes a chunk off the socket and hands every whole frame to `on_frame` unless paused.
   * "overflow": bytes kept arriving while paused, past what the buffer holds. */
  receive(chunk: Uint8Array, on_frame: OnFrame): ReceiveResult {
    let taken_bytes = 0;
    for (;;) {
      const result = this.drain(on_frame);
      if (result !== "ok") return result;
      if (taken_bytes === chunk.length) return "ok";
      const copied_bytes = this.copy_in(chunk, taken_bytes);
      if (copied_bytes === 0) return "overflow";
      taken_bytes += copied_bytes;
    }
  }

  /** Forgets every byte (a new connection starts clean). */
  reset(): void {
    this.start = 0;
    this.end = 0;
    this.paused = false;
  }

  /** Hands on the frames held back while paused. */
  resume(on_frame: OnFrame): ReceiveResult {
    this.paused = false;
    return this.drain(on_frame);
  }

  private drain(on_frame: OnFrame): ReceiveResult {
    while (!this.paused) {
      const available_bytes = this.end - this.start;
      const result = read_frame_header(this.view, this.start, available_bytes, this.header);
      if (result === "short") break;
      if (result !== "ok") return result;
      const at = this.start;
      this.start += REPLICATION_FRAME_HEADER_BYTES + this.header.body_bytes;
      on_frame(this.view, at + REPLICATION_FRAME_HEADER_BYTES, this.header);
    }
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
    return "ok";
  }

  private copy_in(chunk: Uint8Array, from: number): number {
    if (this.start > 0 && this.end === this.bytes.length) {
      this.bytes.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    const count = Math.min(this.bytes.length - this.end, chunk.length - from);
    this.bytes.set(chunk.subarray(from, from + count), this.end);
    this.end += count;
    return count;
  }
}
