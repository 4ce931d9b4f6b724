// One connection's replies waiting for the socket: frames are appended with their length prefix
// during a tick and written with one socket.write per flush; what the kernel does not take stays
// queued until `drain`. The buffer grows by doubling up to a hard limit the caller derives from its
// rules (docs/protocol.md: past TCP_SEND_BUFFER_BYTES_MAX the connection is no longer read, so only
// replies already owed can still arrive), and shrinks back once empty.

import { assert } from "../../common/assert.ts";
import { TCP_LENGTH_PREFIX_BYTES } from "../../common/constants.ts";

const SEND_BUFFER_BYTES_INITIAL = 16 * 1024;
/** An empty buffer larger than this many initial sizes is given back. */
const SEND_BUFFER_SHRINK_FACTOR = 16;

/** What socket.write needs: Bun's Socket fits. Returns bytes taken, -1 when closed. */
export interface Writable {
  write(data: Uint8Array, byte_offset: number, byte_length: number): number;
}

export class SendBuffer {
  bytes: Uint8Array;
  private start = 0;
  private end = 0;
  /** Bytes the socket took, in total (for tests and metrics). */
  written_bytes_total = 0;

  constructor(readonly limit_bytes: number) {
    assert(limit_bytes >= SEND_BUFFER_BYTES_INITIAL, "the hard limit holds the initial buffer");
    this.bytes = new Uint8Array(SEND_BUFFER_BYTES_INITIAL);
  }

  get queued_bytes(): number {
    return this.end - this.start;
  }

  /**
   * Room for a frame of `size_bytes` after its length prefix; returns the offset in `bytes` where the
   * frame goes. The prefix is written now; commit(size_bytes) makes the frame part of the queue.
   */
  reserve_frame(size_bytes: number): number {
    const needed = TCP_LENGTH_PREFIX_BYTES + size_bytes;
    assert(this.queued_bytes + needed <= this.limit_bytes,
      `replies owed to one connection stay within ${this.limit_bytes} bytes`);
    if (this.end + needed > this.bytes.length) this.make_room(needed);
    const at = this.end;
    const b = this.bytes;
    b[at] = size_bytes & 0xff;
    b[at + 1] = (size_bytes >>> 8) & 0xff;
    b[at + 2] = (size_bytes >>> 16) & 0xff;
    b[at + 3] = (size_bytes >>> 24) & 0xff;
    return at + TCP_LENGTH_PREFIX_BYTES;
  }

  commit_frame(size_bytes: number): void {
    this.end += TCP_LENGTH_PREFIX_BYTES + size_bytes;
    assert(this.end <= this.bytes.length, "a committed frame lies within the buffer");
  }

  append_frame(frame: Uint8Array): void {
    const at = this.reserve_frame(frame.length);
    this.bytes.set(frame, at);
    this.commit_frame(frame.length);
  }

  /** Writes what the socket takes; returns the bytes still queued, or -1 if the socket is closed. */
  flush(socket: Writable): number {
    const queued = this.queued_bytes;
    if (queued === 0) return 0;
    const written = socket.write(this.bytes, this.start, queued);
    if (written < 0) return -1;
    this.written_bytes_total += written;
    this.start += written;
    if (this.start === this.end) this.reset();
    return this.queued_bytes;
  }

  private reset(): void {
    this.start = 0;
    this.end = 0;
    if (this.bytes.length > SEND_BUFFER_BYTES_INITIAL * SEND_BUFFER_SHRINK_FACTOR) {
      this.bytes = new Uint8Array(SEND_BUFFER_BYTES_INITIAL);
    }
  }

  /**
   * Moves the queue to the front when that leaves half the buffer free (so each byte is moved a
   * bounded number of times), and doubles the buffer otherwise.
   */
  private make_room(needed: number): void {
    const queued = this.queued_bytes;
    let capacity = this.bytes.length;
    while (capacity < 2 * (queued + needed)) capacity *= 2;
    if (capacity === this.bytes.length) {
      this.bytes.copyWithin(0, this.start, this.end);
    } else {
      const grown = new Uint8Array(capacity);
      grown.set(this.bytes.subarray(this.start, this.end), 0);
      this.bytes = grown;
    }
    this.start = 0;
    this.end = queued;
  }
}
