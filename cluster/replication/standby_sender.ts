// The primary's sender to one standby. It connects (again after REPLICATION_RECONNECT_DELAY_MS
// when the link closes), proves the cluster key and checks the standby's proof, then learns where
// the standby's journal ends (catch_up) and sends what it lacks. Two modes once streaming:
// - live: each group-commit write is queued as one entries frame as the journal writes it;
// - catching_up: entries are read back from the journal (durable part only), frame by frame, as
//   the socket drains. A standby that falls behind (its bounded send buffer full) goes from live
//   to catching_up; it goes live again once the next write continues exactly where it is.
// So memory per standby is the send buffer, whatever the standby's lag. When the journal no longer
// reaches what the standby lacks (segments deleted behind a snapshot), catching up starts with the
// newest snapshot file: read whole into memory once (the snapshot queue may replace or delete the
// file meanwhile; at most REPLICATION_SNAPSHOT_BYTES_MAX), sent in chunks as the socket drains,
// then the journal after it.

import type { Socket } from "bun";
import { assert, assert_never } from "../../common/assert.ts";
import { JOURNAL_ENTRY_HEADER_BYTES } from "../../common/constants.ts";
import { read_journal_range } from "../../journal/journal_range_reader.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { peek_newest_snapshot_file } from "../../journal/snapshot_file.ts";
import type { EntryHeader } from "../../schema/journal_entry_layout.ts";
import {
  REPLICATION_FRAME_BYTES_MAX, REPLICATION_FRAME_HEADER_BYTES, REPLICATION_MAC_BYTES,
  REPLICATION_NONCE_BYTES, REPLICATION_RECONNECT_DELAY_MS_DEFAULT,
  REPLICATION_RECONNECT_DELAY_MS_MAX, REPLICATION_RECONNECT_DELAY_MS_MIN,
  REPLICATION_SEND_BUFFER_BYTES_DEFAULT, REPLICATION_SEND_BUFFER_BYTES_MAX,
  REPLICATION_SEND_BUFFER_BYTES_MIN, REPLICATION_SNAPSHOT_BYTES_MAX,
  REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX,
} from "./constants.ts";
import {
  ErrorCode, error_code_of, FrameType, frame_header_empty, write_frame_header, type FrameHeader,
} from "./frame_layout.ts";
import { fill_nonce, link_mac, mac_matches, MacRole, type LinkFacts } from "./handshake.ts";
import { LinkFrameReader, LinkSendBuffer, type ReceiveResult } from "./link_buffers.ts";
import type { PrimaryJournal } from "./primary_journal.ts";
import type { TlsWatch } from "../../auth/tls.ts";

export interface StandbyAddress {
  node: number;
  host: string;
  port: number;
}

export interface SenderOptions {
  key: Uint8Array;
  /** Default REPLICATION_SEND_BUFFER_BYTES_DEFAULT. */
  send_buffer_bytes?: number;
  /** Default REPLICATION_RECONNECT_DELAY_MS_DEFAULT. */
  reconnect_delay_ms?: number;
  /** The standby's durable sequence, each time it acknowledges one. */
  on_ack?: (standby_node: number, durable_sequence: number) => void;
  /**
   * Mutual TLS: this node's certificate (read at each connect, so a rotation reaches the next
   * link), and the standby's must chain to the cluster's CA; absent or null: links in the clear.
   */
  tls?: TlsWatch | null;
}

/** A snapshot file being sent: its sequence, its bytes, how many are queued. */
interface OutgoingSnapshot {
  sequence: number;
  file_bytes: Uint8Array;
  queued_bytes: number;
}

export type SenderState =
  | "connecting" | "challenge" | "catch_up_wait" | "catching_up" | "live" | "stopped";

export class StandbySender {
  state: SenderState = "connecting";
  /** The standby's durable sequence, as it last acknowledged (0 before any ack). */
  acked_sequence = 0;
  /** The last sequence queued to the link. */
  sent_sequence = 0;
  /** The last error code the standby sent or this side refused with (ErrorCode.none: none). */
  error_code: ErrorCode = ErrorCode.none;
  /** The published sequence last told to this link's standby (0: none yet on this link). */
  private published_sent = 0;
  /** The disk the standby runs on, as its last catch_up said ("" before one). */
  standby_disk = "";
  /** The last read barrier the standby confirmed (it still followed this epoch then). */
  confirmed_read_id = 0;
  /** How many times the link reached `live` or `catching_up` (for tests and metrics). */
  streams_count = 0;
  /** How many times live entries found the send buffer full (the standby then catches up). */
  fell_behind_count = 0;
  /** How many snapshots were queued whole to a standby (for tests and metrics). */
  snapshots_sent_count = 0;
  /** The snapshot being sent (catching_up only), null otherwise. */
  private outgoing: OutgoingSnapshot | null = null;
  private socket: Socket<null> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly send: LinkSendBuffer;
  private readonly reader = new LinkFrameReader();
  private readonly fields = frame_header_empty();
  private readonly facts: LinkFacts;
  private readonly primary_nonce = new Uint8Array(REPLICATION_NONCE_BYTES);
  private readonly standby_nonce = new Uint8Array(REPLICATION_NONCE_BYTES);
  private readonly reconnect_delay_ms: number;
  private frame_at = -1; // an entries frame being filled from the journal
  private frame_body_bytes = 0;
  private frame_reserved_bytes = 0;
  private frame_first_sequence = 0;
  private readonly on_frame = (view: DataView, body_offset: number, header: FrameHeader): void =>
    this.handle(view, body_offset, header);
  private readonly on_entry = (view: DataView, offset: number, header: EntryHeader): boolean =>
    this.queue_read_entry(view, offset, header);

  constructor(readonly standby: StandbyAddress, private readonly journal: PrimaryJournal,
    private readonly options: SenderOptions) {
    const send_buffer_bytes = options.send_buffer_bytes ?? REPLICATION_SEND_BUFFER_BYTES_DEFAULT;
    assert(send_buffer_bytes >= REPLICATION_SEND_BUFFER_BYTES_MIN &&
      send_buffer_bytes <= REPLICATION_SEND_BUFFER_BYTES_MAX, "send buffer size in range");
    this.reconnect_delay_ms = options.reconnect_delay_ms ?? REPLICATION_RECONNECT_DELAY_MS_DEFAULT;
    assert(this.reconnect_delay_ms >= REPLICATION_RECONNECT_DELAY_MS_MIN &&
      this.reconnect_delay_ms <= REPLICATION_RECONNECT_DELAY_MS_MAX, "reconnect delay in range");
    this.send = new LinkSendBuffer(send_buffer_bytes);
    this.facts = { group: journal.group, epoch: journal.epoch, primary_node: journal.node,
      standby_node: standby.node };
  }

  start(): void {
    assert(this.state === "connecting" && this.socket === null, "started once");
    this.connect();
  }

  stop(): void {
    this.state = "stopped";
    this.outgoing = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.end();
    this.socket = null;
  }

  /** The journal wrote `bytes` (whole entries, first..last): queued if the standby is live. */
  entries_written(bytes: Uint8Array, first_sequence: number, last_sequence: number): void {
    const live = this.state === "live" ||
      (this.state === "catching_up" && first_sequence === this.sent_sequence + 1);
    if (!live || this.outgoing !== null) return; // catching up: read from the journal later
    assert(first_sequence === this.sent_sequence + 1, "live entries continue what was sent");
    const frame_bytes = REPLICATION_FRAME_HEADER_BYTES + bytes.length;
    const at = this.send.reserve(frame_bytes);
    if (at === -1) {
      this.state = "catching_up"; // fell behind: the journal has it, the buffer does not grow
      this.fell_behind_count++;
      return;
    }
    this.send.bytes.set(bytes, at + REPLICATION_FRAME_HEADER_BYTES);
    this.set_fields(FrameType.entries, ErrorCode.none, first_sequence, last_sequence,
      bytes.length);
    write_frame_header(this.send.view, at, this.fields);
    this.send.commit(frame_bytes);
    this.sent_sequence = last_sequence;
    this.state = "live";
    this.flush();
  }

  /**
   * Tells a streaming standby this primary is alive (the replicator's timer calls it); with a
   * read barrier's id (> 0) the standby acks it if it still follows this epoch.
   */
  heartbeat(read_id = 0): void {
    if (this.state !== "live" && this.state !== "catching_up") return;
    this.put(FrameType.heartbeat, ErrorCode.none, this.journal.written_sequence, read_id, null);
    const published = this.journal.published_sequence;
    if (published > this.published_sent) {
      this.put(FrameType.published, ErrorCode.none, published, 0, null);
      this.published_sent = published;
    }
    this.flush();
  }

  /** The journal is durable through a sequence: a standby catching up may read further. */
  entries_durable(): void {
    if (this.state === "catching_up") this.pump();
  }

  private connect(): void {
    this.timer = null;
    if (this.state === "stopped") return;
    this.state = "connecting";
    this.reader.reset();
    this.send.clear();
    this.outgoing = null; // a snapshot cut off part-way is sent again, whole, by the next link
    const tls = this.options.tls?.current() ?? null;
    void Bun.connect<null>({
      hostname: this.standby.host,
      port: this.standby.port,
      ...(tls === null ? {} : { tls }),
      socket: {
        // With TLS the link starts once the handshake verified the standby's certificate (bytes
        // written before the handshake ends may be lost: checked on Bun 1.4.5).
        open: (socket) => {
          if (tls === null) this.on_open(socket);
        },
        handshake: (socket, success) => {
          if (tls === null) return;
          if (success && socket.authorized) this.on_open(socket);
          else socket.end(); // not the cluster's certificate: closed, tried again later
        },
        data: (socket, chunk) => this.on_data(socket, chunk),
        drain: (socket) => this.on_drain(socket),
        close: (socket) => this.on_close(socket),
        error: (socket) => this.on_close(socket),
        connectError: () => this.reconnect_later(),
      },
    }).catch(() => this.reconnect_later());
  }

  private reconnect_later(): void {
    if (this.state === "stopped" || this.timer !== null) return;
    this.socket = null;
    this.state = "connecting";
    this.timer = setTimeout(() => this.connect(), this.reconnect_delay_ms);
  }

  private on_open(socket: Socket<null>): void {
    if (this.state === "stopped") return void socket.end();
    this.socket = socket;
    fill_nonce(this.primary_nonce);
    this.put(FrameType.hello, ErrorCode.none, 0, 0, this.primary_nonce);
    this.state = "challenge";
    this.flush();
  }

  private on_close(socket: Socket<null>): void {
    if (socket !== this.socket) return;
    this.reconnect_later();
  }

  private on_drain(socket: Socket<null>): void {
    if (socket !== this.socket) return;
    this.flush();
    if (this.state === "catching_up") this.pump();
  }

  private on_data(socket: Socket<null>, chunk: Uint8Array): void {
    if (socket !== this.socket) return;
    const result: ReceiveResult = this.reader.receive(chunk, this.on_frame);
    if (result === "overflow") return this.refuse(ErrorCode.unexpected_frame, "overflow");
    if (result !== "ok") return this.refuse(error_code_of(result), `frame refused: ${result}`);
    this.flush();
  }

  private handle(view: DataView, body_offset: number, header: FrameHeader): void {
    if (this.socket === null) return; // refused: the rest of the chunk is ignored
    switch (header.type) {
      case FrameType.challenge:
        return this.on_challenge(view, body_offset, header);
      case FrameType.catch_up:
        return this.on_catch_up(view, body_offset, header);
      case FrameType.ack:
        return this.on_ack(header);
      case FrameType.error:
        this.error_code = header.code;
        return this.drop_link();
      case FrameType.hello:
      case FrameType.heartbeat:
      case FrameType.published:
      case FrameType.proof:
      case FrameType.entries:
      case FrameType.snapshot:
        return this.refuse(ErrorCode.unexpected_frame, `frame type ${header.type} to a primary`);
      default:
        return assert_never(header.type, "frame type");
    }
  }

  private on_challenge(view: DataView, body_offset: number, header: FrameHeader): void {
    if (this.state !== "challenge") return this.refuse(ErrorCode.unexpected_frame, "challenge");
    const body = new Uint8Array(view.buffer, view.byteOffset + body_offset, header.body_bytes);
    this.standby_nonce.set(body.subarray(0, REPLICATION_NONCE_BYTES));
    const expected = link_mac(this.options.key, MacRole.standby, this.facts, this.primary_nonce,
      this.standby_nonce);
    const received = body.subarray(REPLICATION_NONCE_BYTES,
      REPLICATION_NONCE_BYTES + REPLICATION_MAC_BYTES);
    if (!mac_matches(received, expected)) {
      return this.refuse(ErrorCode.auth_failed, "the standby's MAC does not match");
    }
    const proof = link_mac(this.options.key, MacRole.primary, this.facts, this.primary_nonce,
      this.standby_nonce);
    this.put(FrameType.proof, ErrorCode.none, 0, 0, proof);
    this.state = "catch_up_wait";
  }

  private on_catch_up(view: DataView, body_offset: number, header: FrameHeader): void {
    if (this.state !== "catch_up_wait") return this.refuse(ErrorCode.unexpected_frame, "catch_up");
    if (header.sequence > this.journal.written_sequence) {
      return this.refuse(ErrorCode.sequence_gap, `the standby holds ${header.sequence}, this ` +
        `journal ends at ${this.journal.written_sequence}`);
    }
    if (!this.same_entry_end(header.sequence, header.argument)) {
      return this.refuse(ErrorCode.diverged, `the standby's journal ends at ${header.sequence} ` +
        `with an entry of epoch ${header.argument}: not this journal's`);
    }
    this.standby_disk = new TextDecoder().decode(new Uint8Array(view.buffer,
      view.byteOffset + body_offset, header.body_bytes));
    this.sent_sequence = header.sequence;
    // The standby holds this much durably, and it is this journal's: acknowledged (it may be less
    // than an earlier ack after the standby lost its tail).
    this.acked_sequence = header.sequence;
    this.options.on_ack?.(this.standby.node, header.sequence);
    this.state = "catching_up";
    this.streams_count++;
    this.published_sent = 0; // this link's standby hears it again
    this.pump();
  }

  // Whether this journal's entry ending at `sequence` has `epoch` (one writer per epoch, and
  // each standby continues only what it holds: then the journals agree up to there). Entries
  // this journal no longer holds, or not yet durably, are not read (docs/cluster.md: what is left).
  private same_entry_end(sequence: number, epoch: number): boolean {
    if (sequence === 0) return true;
    if (sequence > this.journal.durable_sequence || !this.journal_reaches(sequence)) return true;
    let same = false;
    const { files, dir, durable_sequence, reader } = this.journal;
    read_journal_range(files, dir, sequence - 1, durable_sequence, (_view, _offset, entry) => {
      same = entry.epoch === epoch && entry.first_sequence + entry.record_count - 1 === sequence;
      return false;
    }, reader);
    return same;
  }

  private on_ack(header: FrameHeader): void {
    const streaming = this.state === "live" || this.state === "catching_up";
    if (!streaming || header.sequence > this.sent_sequence) {
      return this.refuse(ErrorCode.unexpected_frame, `ack of ${header.sequence}`);
    }
    const confirms = header.argument > this.confirmed_read_id;
    if (confirms) this.confirmed_read_id = header.argument;
    if (header.sequence <= this.acked_sequence && !confirms) return; // an older ack, overtaken
    this.acked_sequence = Math.max(this.acked_sequence, header.sequence);
    this.options.on_ack?.(this.standby.node, this.acked_sequence);
  }

  // Catch-up: queues the snapshot being sent, or durable entries after sent_sequence from the
  // journal, while the buffer has room; live again once nothing written is missing.
  private pump(): void {
    while (this.state === "catching_up") {
      if (this.outgoing !== null) {
        if (!this.queue_snapshot_chunks(this.outgoing)) return; // no room: the drain calls again
        continue;
      }
      if (this.sent_sequence === this.journal.written_sequence) {
        this.state = "live";
        return;
      }
      if (this.sent_sequence >= this.journal.durable_sequence) return; // until it is durable
      if (!this.journal_reaches(this.sent_sequence + 1)) {
        if (!this.begin_snapshot()) return; // refused
        continue;
      }
      const before = this.sent_sequence;
      const { files, dir, durable_sequence, reader } = this.journal;
      read_journal_range(files, dir, this.sent_sequence, durable_sequence, this.on_entry, reader);
      this.close_read_frame();
      if (this.state !== "catching_up") return; // refused
      this.flush();
      if (this.sent_sequence === before) return; // no room: the drain calls again
    }
  }

  // The journal no longer holds what the standby lacks: its newest snapshot goes first, if the
  // journal continues it (the segment after a snapshot is kept until the next one is written).
  private begin_snapshot(): boolean {
    const { files, dir, durable_sequence, written_sequence } = this.journal;
    const file = peek_newest_snapshot_file(files, dir);
    const continued = file !== null && file.sequence <= durable_sequence &&
      (file.sequence === written_sequence || this.journal_reaches(file.sequence + 1));
    if (!continued || file.file_bytes.length > REPLICATION_SNAPSHOT_BYTES_MAX) {
      this.refuse(ErrorCode.catch_up_unavailable, `the journal no longer holds ` +
        `${this.sent_sequence + 1} and no snapshot serves (${file?.file_bytes.length} bytes)`);
      return false;
    }
    assert(file.sequence > this.sent_sequence, "the snapshot covers what the journal lacks");
    this.outgoing = { sequence: file.sequence, file_bytes: file.file_bytes, queued_bytes: 0 };
    return true;
  }

  // Queues chunks while whole ones fit; true once the file is queued (the standby then holds
  // the snapshot's sequence once it acks it: only its ack counts, as for entries).
  private queue_snapshot_chunks(outgoing: OutgoingSnapshot): boolean {
    const total_bytes = outgoing.file_bytes.length;
    while (outgoing.queued_bytes < total_bytes) {
      const chunk_bytes = Math.min(REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX,
        total_bytes - outgoing.queued_bytes);
      const at = this.reserve_flushing(REPLICATION_FRAME_HEADER_BYTES + chunk_bytes);
      if (at === -1) return false;
      this.send.bytes.set(outgoing.file_bytes.subarray(outgoing.queued_bytes,
        outgoing.queued_bytes + chunk_bytes), at + REPLICATION_FRAME_HEADER_BYTES);
      this.set_fields(FrameType.snapshot, ErrorCode.none, outgoing.sequence, total_bytes,
        chunk_bytes);
      write_frame_header(this.send.view, at, this.fields);
      this.send.commit(REPLICATION_FRAME_HEADER_BYTES + chunk_bytes);
      outgoing.queued_bytes += chunk_bytes;
    }
    this.sent_sequence = outgoing.sequence;
    this.outgoing = null;
    this.snapshots_sent_count++;
    this.flush();
    return true;
  }

  // Room for a frame, the queue written to the socket first if needed: -1 while the socket holds
  // bytes back (its drain calls pump again).
  private reserve_flushing(frame_bytes: number): number {
    const at = this.send.reserve(frame_bytes);
    if (at !== -1) return at;
    this.flush();
    return this.send.reserve(frame_bytes);
  }

  private journal_reaches(sequence: number): boolean {
    const first = list_segments(this.journal.files, this.journal.dir)[0];
    return first !== undefined && first.first_sequence <= sequence;
  }

  // One entry read back from the journal into the frame being filled; false stops the read.
  private queue_read_entry(view: DataView, offset: number, header: EntryHeader): boolean {
    if (header.first_sequence !== this.sent_sequence + 1) {
      this.refuse(ErrorCode.sequence_gap, `the standby's journal ends inside an entry`);
      return false;
    }
    const entry_bytes = JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
    if (this.frame_at !== -1 && REPLICATION_FRAME_HEADER_BYTES + this.frame_body_bytes +
      entry_bytes > this.frame_reserved_bytes) {
      this.close_read_frame();
    }
    if (this.frame_at === -1 && !this.open_read_frame(entry_bytes)) return false;
    const target = this.frame_at + REPLICATION_FRAME_HEADER_BYTES + this.frame_body_bytes;
    this.send.bytes.set(new Uint8Array(view.buffer, view.byteOffset + offset, entry_bytes), target);
    this.frame_body_bytes += entry_bytes;
    this.sent_sequence = header.first_sequence + header.record_count - 1;
    return true;
  }

  private open_read_frame(entry_bytes: number): boolean {
    const frame_bytes = Math.min(this.send.free_bytes, REPLICATION_FRAME_BYTES_MAX);
    if (frame_bytes < REPLICATION_FRAME_HEADER_BYTES + entry_bytes) return false;
    this.frame_at = this.send.reserve(frame_bytes);
    assert(this.frame_at !== -1, "free bytes were counted");
    this.frame_reserved_bytes = frame_bytes;
    this.frame_body_bytes = 0;
    this.frame_first_sequence = this.sent_sequence + 1;
    return true;
  }

  private close_read_frame(): void {
    if (this.frame_at === -1) return;
    this.set_fields(FrameType.entries, ErrorCode.none, this.frame_first_sequence,
      this.sent_sequence, this.frame_body_bytes);
    write_frame_header(this.send.view, this.frame_at, this.fields);
    this.send.commit(REPLICATION_FRAME_HEADER_BYTES + this.frame_body_bytes);
    this.frame_at = -1;
  }

  private refuse(code: ErrorCode, message: string): void {
    this.error_code = code;
    if (this.frame_at !== -1) this.close_read_frame();
    const text = new TextEncoder().encode(message.slice(0, 200));
    this.put(FrameType.error, code, 0, 0, text);
    this.flush();
    this.drop_link();
  }

  // Closes this connection; a new one follows after the reconnect delay.
  private drop_link(): void {
    const socket = this.socket;
    this.socket = null;
    socket?.end();
    this.reconnect_later();
  }

  private flush(): void {
    if (this.socket !== null) this.send.flush(this.socket);
  }

  private put(type: FrameType, code: ErrorCode, sequence: number, argument: number,
    body: Uint8Array | null): void {
    this.set_fields(type, code, sequence, argument, body === null ? 0 : body.length);
    this.send.put(this.fields, body);
  }

  private set_fields(type: FrameType, code: ErrorCode, sequence: number, argument: number,
    body_bytes: number): void {
    const fields = this.fields;
    fields.type = type;
    fields.code = code;
    fields.body_bytes = body_bytes;
    fields.group = this.facts.group;
    fields.epoch = this.facts.epoch;
    fields.node = this.facts.primary_node;
    fields.sequence = sequence;
    fields.argument = argument;
  }
}
