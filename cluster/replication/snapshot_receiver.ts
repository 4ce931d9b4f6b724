// A primary's snapshot arriving on one link in chunks (docs/cluster.md "Snapshot catch-up"): the
// first chunk names the snapshot's sequence and its file's total bytes, every later one the same,
// and together they fill the file in order, no further. It is held in memory (at most
// REPLICATION_SNAPSHOT_BYTES_MAX, which the frame decoder checks) until whole and checked as a
// snapshot file: nothing of the standby changes before, so a link lost part-way leaves the standby
// as it was, and the next link starts over.

import { assert } from "../../common/assert.ts";
import { read_snapshot_meta } from "../../engine/snapshot.ts";
import { decode_snapshot } from "../../journal/snapshot_file.ts";
import { ErrorCode, FrameType, type FrameHeader } from "./frame_layout.ts";

export type ChunkResult = "more" | "whole" | ErrorCode;

export class SnapshotReceiver {
  /** The sequence of the snapshot being received (0: none). */
  sequence = 0;
  private file_bytes: Uint8Array | null = null;
  private received_bytes = 0;

  get receiving(): boolean {
    return this.file_bytes !== null;
  }

  /** Takes one snapshot frame's chunk: "whole" once the file is complete (then take()). */
  add(view: DataView, body_offset: number, header: FrameHeader): ChunkResult {
    assert(header.type === FrameType.snapshot, "a snapshot frame");
    if (this.file_bytes === null) {
      this.file_bytes = new Uint8Array(header.argument); // bounded by the frame decoder
      this.sequence = header.sequence;
      this.received_bytes = 0;
    }
    const file_bytes = this.file_bytes;
    if (header.sequence !== this.sequence || header.argument !== file_bytes.length) {
      return ErrorCode.bad_snapshot; // a chunk of another snapshot
    }
    if (this.received_bytes + header.body_bytes > file_bytes.length) return ErrorCode.bad_snapshot;
    file_bytes.set(new Uint8Array(view.buffer, view.byteOffset + body_offset, header.body_bytes),
      this.received_bytes);
    this.received_bytes += header.body_bytes;
    return this.received_bytes === file_bytes.length ? "whole" : "more";
  }

  /**
   * The whole file, if it is a valid snapshot file of `sequence` whose state is `group`'s at that
   * sequence, taken at an epoch no later than the link's (else null: a bad snapshot). The
   * receiver is empty again either way.
   */
  take(group: number, link_epoch: number): Uint8Array | null {
    const file_bytes = this.file_bytes;
    assert(file_bytes !== null && this.received_bytes === file_bytes.length, "a whole file");
    this.file_bytes = null;
    const body = decode_snapshot(file_bytes, this.sequence);
    if (body === null) return null;
    const meta = read_snapshot_meta(body);
    if (meta === null || meta.group !== group) return null;
    if (meta.last_sequence !== this.sequence || meta.epoch > link_epoch) return null;
    return file_bytes;
  }
}
