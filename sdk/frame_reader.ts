// TCP framing (docs/protocol.md): a little-endian u32 length N, then N bytes of a FlatBuffers
// Frame, 8 <= N <= frame_size_max. Bytes arrive in any pieces; frames are cut from them in a
// loop. The buffer is bounded: it never holds more than one frame plus one read.

import { assert } from "../common/assert.ts";
import { FRAME_SIZE_BYTES_MAX, FRAME_SIZE_BYTES_MIN } from "../common/constants.ts";

export const LENGTH_PREFIX_BYTES = 4;

export type NextFrame = Uint8Array | "incomplete" | "bad_length";

export class FrameReader {
  private buffer = new Uint8Array(LENGTH_PREFIX_BYTES + FRAME_SIZE_BYTES_MAX);
  private length = 0;
  private start = 0;

  constructor(private readonly frame_size_max = FRAME_SIZE_BYTES_MAX) {
    assert(frame_size_max >= FRAME_SIZE_BYTES_MIN, "frame_size_max holds a frame");
  }

  /** Appends bytes read from the socket (consumed frames are dropped first). */
  push(chunk: Uint8Array): void {
    if (this.start > 0) {
      this.buffer.copyWithin(0, this.start, this.length);
      this.length -= this.start;
      this.start = 0;
    }
    const needed = this.length + chunk.length;
    if (needed > this.buffer.length) {
      const grown = new Uint8Array(Math.max(needed, this.buffer.length * 2));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length = needed;
  }

  /**
   * The next whole frame (without its prefix; valid until the next push), "incomplete" when more
   * bytes are needed, or "bad_length" when the peer broke the framing (close the connection).
   */
  next(): NextFrame {
    const available = this.length - this.start;
    if (available < LENGTH_PREFIX_BYTES) return "incomplete";
    const view = new DataView(this.buffer.buffer, this.buffer.byteOffset + this.start, 4);
    const size_bytes = view.getUint32(0, true);
    if (size_bytes < FRAME_SIZE_BYTES_MIN || size_bytes > this.frame_size_max) return "bad_length";
    if (available < LENGTH_PREFIX_BYTES + size_bytes) return "incomplete";
    const frame_start = this.start + LENGTH_PREFIX_BYTES;
    this.start = frame_start + size_bytes;
    return this.buffer.subarray(frame_start, frame_start + size_bytes);
  }
}

/** A frame with its length prefix, ready to write. */
export function with_length_prefix(frame: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(LENGTH_PREFIX_BYTES + frame.length);
  new DataView(bytes.buffer).setUint32(0, frame.length, true);
  bytes.set(frame, LENGTH_PREFIX_BYTES);
  return bytes;
}
