// One group's engine state at one sequence, for operators and `bun run reconcile`
// (docs/reconcile.md).
// It reuses the snapshot path rather than a second way of reading the engine: the main thread asks
// the group's engine worker for a snapshot of that group (WorkerControl.request_group_snapshot;
// the periodic timer asks for all of a worker's groups), the worker copies the group's tables into
// its reused snapshot buffer between batches and posts it, and the main thread forwards the buffer
// to the journal worker to be written.
//
// Sharing: that buffer belongs to the journal worker from hand-over until it has written it (and
// the engine fills it again only after the release), so a capture COPIES it on the main thread
// before the buffer is forwarded: the copy is done before the journal worker can even see the
// buffer, nothing but the engine ever writes into it, and the snapshot on disk is untouched.
//
// Consistency: a snapshot is taken between batches, so it is the state after exactly its sequence
// S. Like every read, it is answered only once the journal is durable up to S.
//
// Bounds: one capture at a time per group and CAPTURES_IN_FLIGHT_MAX in all (each holds a copy of
// a group's state); more are refused `busy` (503 with retry-after). A capture not answered within
// the timeout is refused `timeout` (504).

import { assert } from "../common/assert.ts";
import { snapshot_buffer_bytes } from "../common/snapshot_buffer.ts";

/** Captures at once over all groups: each holds a full copy of its group's state in memory. */
export const CAPTURES_IN_FLIGHT_MAX = 4;
/** A capture may wait for the journal worker to finish writing the previous snapshot first. */
export const CAPTURE_TIMEOUT_MS_DEFAULT = 30_000;

export interface CapturedState {
  group: number;
  /** The group's last sequence in the snapshot: the state is the state after this event. */
  sequence: number;
  /** The snapshot bytes (engine/snapshot.ts layout), a copy owned by the caller. */
  bytes: Uint8Array;
}

export type CaptureRefusal = "busy" | "timeout";

interface Capture {
  group: number;
  /** null until the snapshot arrives; then waiting for the journal to be durable up to it. */
  state: CapturedState | null;
  resolve: (state: CapturedState) => void;
  reject: (refusal: CaptureRefusal) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class StateCaptures {
  private readonly by_group = new Map<number, Capture>();

  constructor(
    /** The router's durable sequence per group (read, never written here). */
    private readonly durable_sequence: readonly number[],
    /** Asks the engine worker hosting `group` to snapshot that group. */
    private readonly request_snapshot: (group: number) => void,
    private readonly timeout_ms = CAPTURE_TIMEOUT_MS_DEFAULT,
  ) {}

  get in_flight(): number {
    return this.by_group.size;
  }

  /** The group's state at a fresh sequence, once durable; rejects with a CaptureRefusal. */
  capture(group: number): Promise<CapturedState> {
    assert(Number.isInteger(group) && group >= 0 && group < this.durable_sequence.length,
      "capture of a group the node hosts");
    if (this.by_group.has(group) || this.by_group.size >= CAPTURES_IN_FLIGHT_MAX) {
      return Promise.reject<CapturedState>("busy");
    }
    return new Promise<CapturedState>((resolve, reject) => {
      const timer = setTimeout(() => this.finish(group, "timeout"), this.timeout_ms);
      this.by_group.set(group, { group, state: null, resolve, reject, timer });
      this.request_snapshot(group);
    });
  }

  /**
   * The engine posted a snapshot of `group` in `buffer`. Must be called before the buffer is
   * forwarded to the journal worker (see the file comment): it copies what a capture needs.
   */
  on_snapshot(group: number, sequence: number, buffer: SharedArrayBuffer, size_bytes: number)
    : void {
    const capture = this.by_group.get(group);
    if (capture === undefined || capture.state !== null) return;
    const bytes = snapshot_buffer_bytes(buffer, size_bytes).slice();
    assert(bytes.byteLength === size_bytes, "captured the whole snapshot");
    capture.state = { group, sequence, bytes };
    this.on_durable(group, this.durable_sequence[group]!);
  }

  /** The journal is durable up to `sequence` for `group`. */
  on_durable(group: number, sequence: number): void {
    const capture = this.by_group.get(group);
    if (capture === undefined || capture.state === null) return;
    if (sequence < capture.state.sequence) return;
    this.finish(group, capture.state);
  }

  private finish(group: number, outcome: CapturedState | CaptureRefusal): void {
    const capture = this.by_group.get(group);
    if (capture === undefined) return;
    this.by_group.delete(group);
    clearTimeout(capture.timer);
    if (typeof outcome === "string") capture.reject(outcome);
    else capture.resolve(outcome);
  }
}
