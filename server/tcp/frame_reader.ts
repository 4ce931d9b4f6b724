// Length-prefixed frames out of whatever the socket delivered: a u32 little-endian length, then that
// many bytes of FlatBuffers Frame. Frames are parsed in a loop straight from each read; only an
// incomplete tail is copied, into one receive buffer of a frame's maximum size allocated per
// connection, so a frame may arrive in pieces and several frames in one read, in bounded memory.
// The reader notes when the frame it holds began, so the connection can give it a deadline.

import { assert } from "../../common/assert.ts";
import { TCP_LENGTH_PREFIX_BYTES } from "../../common/constants.ts";

/** Handles one complete frame (without its prefix); false stops reading the rest of the read. */
export type FrameHandler = (frame: Uint8Array) => boolean;

/** push() parsed every frame it was given; the caller keeps nothing. */
export const READ_ALL = -1;
/** A length prefix over the maximum: the connection must be refused (frame_too_large). */
export const READ_TOO_LARGE = -2;

export class FrameReader {
  /** The incomplete frame held between reads: its prefix, then its body. */
  private readonly partial: Uint8Array;
  private partial_bytes = 0;
  /** When the first byte of the held frame came (its deadline runs from there). */
  private partial_since_ms = 0;
  /** The length the last oversized prefix declared, for the error message. */
  declared_size_bytes = 0;

  constructor(private readonly frame_size_bytes_max: number) {
    assert(frame_size_bytes_max > 0, "frames have a maximum size");
    this.partial = new Uint8Array(TCP_LENGTH_PREFIX_BYTES + frame_size_bytes_max);
  }

  /** Bytes of an incomplete frame waiting for the next read. */
  get held_bytes(): number {
    return this.partial_bytes;
  }

  /** When the first byte of the incomplete frame held came; meaningful while held_bytes > 0. */
  get held_since_ms(): number {
    assert(this.partial_bytes > 0, "only a held frame has a start");
    return this.partial_since_ms;
  }

  /**
   * Counts the held frame from now: the connection was not read for a while (paused), so the
   * client could not have sent the rest of it.
   */
  restart_held_clock(now_ms: number): void {
    if (this.partial_bytes > 0) this.partial_since_ms = now_ms;
  }

  /**
   * Calls `on_frame` for every complete frame in order: first the one the held bytes begin, then
   * those of `chunk`. Returns READ_ALL, READ_TOO_LARGE, or the offset in `chunk` where `on_frame`
   * asked to stop (the frames from there on are unread; nothing is held then). `now_ms` is when
   * `chunk` came: the start of a frame it begins and does not finish.
   */
  push(chunk: Uint8Array, now_ms: number, on_frame: FrameHandler): number {
    let position = 0;
    if (this.partial_bytes > 0) {
      position = this.complete_partial(chunk);
      if (position === READ_TOO_LARGE) return READ_TOO_LARGE;
      if (this.partial_bytes > 0) return READ_ALL; // still incomplete: the chunk was consumed
      const size_bytes = this.declared(this.partial, 0);
      const frame = this.partial.subarray(TCP_LENGTH_PREFIX_BYTES, TCP_LENGTH_PREFIX_BYTES + size_bytes);
      if (!on_frame(frame)) return position;
    }
    return this.push_whole(chunk, position, now_ms, on_frame);
  }

  /** Frames that lie wholly in `chunk` from `position`, then the incomplete tail is held. */
  private push_whole(chunk: Uint8Array, position: number, now_ms: number, on_frame: FrameHandler)
    : number {
    while (chunk.length - position >= TCP_LENGTH_PREFIX_BYTES) {
      const size_bytes = this.declared(chunk, position);
      if (size_bytes > this.frame_size_bytes_max) return this.too_large(size_bytes);
      const end = position + TCP_LENGTH_PREFIX_BYTES + size_bytes;
      if (end > chunk.length) break;
      const frame = chunk.subarray(position + TCP_LENGTH_PREFIX_BYTES, end);
      position = end;
      if (!on_frame(frame)) return position;
    }
    assert(this.partial_bytes === 0, "a tail is held only once every earlier frame is read");
    this.partial.set(chunk.subarray(position), 0);
    this.partial_bytes = chunk.length - position;
    this.partial_since_ms = now_ms;
    return READ_ALL;
  }

  /** Adds to the held frame what `chunk` has of it; returns the bytes of `chunk` used. */
  private complete_partial(chunk: Uint8Array): number {
    let used = 0;
    if (this.partial_bytes < TCP_LENGTH_PREFIX_BYTES) {
      used = Math.min(TCP_LENGTH_PREFIX_BYTES - this.partial_bytes, chunk.length);
      this.partial.set(chunk.subarray(0, used), this.partial_bytes);
      this.partial_bytes += used;
      if (this.partial_bytes < TCP_LENGTH_PREFIX_BYTES) return used;
    }
    const size_bytes = this.declared(this.partial, 0);
    if (size_bytes > this.frame_size_bytes_max) return this.too_large(size_bytes);
    const missing = TCP_LENGTH_PREFIX_BYTES + size_bytes - this.partial_bytes;
    const taken = Math.min(missing, chunk.length - used);
    this.partial.set(chunk.subarray(used, used + taken), this.partial_bytes);
    this.partial_bytes += taken;
    if (taken === missing) this.partial_bytes = 0; // complete: the caller reads it before anything else
    return used + taken;
  }

  private declared(bytes: Uint8Array, at: number): number {
    return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
  }

  private too_large(size_bytes: number): number {
    this.declared_size_bytes = size_bytes;
    this.partial_bytes = 0;
    return READ_TOO_LARGE;
  }
}
