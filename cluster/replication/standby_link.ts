// One replication link as the standby sees it: hello -> challenge -> proof (the primary proves the
// cluster key) -> the fence (the epoch against the highest accepted; a higher one only from the
// holder the control plane records, whose first sequence cuts this journal's tail) -> catch_up
// (where this journal ends) -> entries, each chunk of them appended, fsynced, applied, then acked
// with the durable sequence. When the primary's journal no longer reaches this one's end, a
// snapshot comes first (chunks, installed whole once checked, acked at its sequence), then the
// entries after it. Any refusal is an error frame with its code, then the link closes.

import { assert, assert_never } from "../../common/assert.ts";
import {
  REPLICATION_FRAME_BYTES_MAX, REPLICATION_MAC_BYTES, REPLICATION_NONCE_BYTES,
} from "./constants.ts";
import {
  ErrorCode, error_code_of, FrameType, frame_header_empty, type FrameHeader,
} from "./frame_layout.ts";
import { DiskFullError } from "../../journal/file_layer.ts";
import { fill_nonce, link_mac, mac_matches, MacRole, type LinkFacts } from "./handshake.ts";
import type { GroupHolder } from "./holder.ts";
import { LinkFrameReader, LinkSendBuffer, type Writable } from "./link_buffers.ts";
import { SnapshotReceiver } from "./snapshot_receiver.ts";
import type { StandbyGroup } from "./standby_group.ts";

type LinkState = "hello" | "proof" | "fencing" | "streaming" | "closed";

/** What a link needs from the listener that accepted it. */
export interface StandbyHost {
  readonly node: number;
  readonly key: Uint8Array;
  /** This node's disk id (ASCII bytes), told to every primary in the catch_up frame. */
  readonly disk_id: Uint8Array;
  group_of(group: number): StandbyGroup | null;
  who_holds(group: number): Promise<GroupHolder | null>;
  /** Makes `link` the one that streams its group (closing the one before); on its close, none. */
  activate(link: StandbyLink): void;
  is_active(link: StandbyLink): boolean;
  closed(link: StandbyLink): void;
  /** A streaming link received bytes from its primary (the standby heard it is alive). */
  heard(link: StandbyLink): void;
  /**
   * The link appended to its group: its group is synced, together with the others that wrote in
   * the same event-loop turn, and then the link is told to ack (ack_durable).
   */
  sync_then_ack(link: StandbyLink): void;
}

export interface LinkSocket extends Writable {
  end(): void;
}

export class StandbyLink {
  state: LinkState = "hello";
  group: StandbyGroup | null = null;
  /** The code this side refused the link with, or the primary's error (ErrorCode.none: neither). */
  error_code: ErrorCode = ErrorCode.none;
  private readonly facts: LinkFacts = { group: 0, epoch: 0, primary_node: 0, standby_node: 0 };
  private readonly primary_nonce = new Uint8Array(REPLICATION_NONCE_BYTES);
  private readonly standby_nonce = new Uint8Array(REPLICATION_NONCE_BYTES);
  private readonly challenge = new Uint8Array(REPLICATION_NONCE_BYTES + REPLICATION_MAC_BYTES);
  private readonly reader = new LinkFrameReader();
  private readonly send = new LinkSendBuffer(REPLICATION_FRAME_BYTES_MAX);
  private readonly fields = frame_header_empty();
  private appended = false; // entries appended (or a snapshot installed) since the last ack
  private readonly snapshot = new SnapshotReceiver();
  private readonly on_frame = (view: DataView, body_offset: number, header: FrameHeader): void =>
    this.handle(view, body_offset, header);

  constructor(private readonly socket: LinkSocket, private readonly host: StandbyHost) {
    this.facts.standby_node = host.node;
  }

  get epoch(): number {
    return this.facts.epoch;
  }

  on_data(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    const result = this.reader.receive(chunk, this.on_frame);
    if (this.state === "streaming") this.host.heard(this);
    this.after_frames(result);
  }

  on_drain(): void {
    this.send.flush(this.socket);
  }

  /** Closes the link with an error frame of `code`. */
  refuse(code: ErrorCode, message: string): void {
    if (this.state === "closed") return;
    this.error_code = code;
    const text = new TextEncoder().encode(message.slice(0, 200));
    this.put(FrameType.error, code, 0, 0, text);
    this.send.flush(this.socket);
    this.close();
  }

  close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.socket.end();
    this.host.closed(this);
  }

  // The end of a chunk's frames: what was appended is made durable (by the host, with the other
  // links that wrote this turn: one flush of the disk for all), then acked.
  private after_frames(result: ReturnType<LinkFrameReader["receive"]>): void {
    if (result !== "ok") {
      if (result === "overflow") this.refuse(ErrorCode.unexpected_frame, "frames during the fence");
      else this.refuse(error_code_of(result), `frame refused: ${result}`);
      return;
    }
    if (this.appended && this.state === "streaming" && this.group !== null) {
      this.appended = false;
      this.host.sync_then_ack(this);
    }
    this.send.flush(this.socket);
  }

  /** After the host synced this link's group: acks its durable sequence (what the sync covered). */
  ack_durable(): void {
    if (this.state !== "streaming" || this.group === null) return;
    this.put(FrameType.ack, ErrorCode.none, this.group.durable_sequence, 0, null);
    this.send.flush(this.socket);
  }

  private handle(view: DataView, body_offset: number, header: FrameHeader): void {
    if (this.state === "closed") return;
    switch (header.type) {
      case FrameType.hello:
        return this.on_hello(view, body_offset, header);
      case FrameType.proof:
        return this.on_proof(view, body_offset, header);
      case FrameType.entries:
        return this.on_entries(view, body_offset, header);
      case FrameType.error:
        this.error_code = header.code;
        // The fenced holder says this journal's end is not its own: cut, then the next link.
        if (header.code === ErrorCode.diverged && this.state === "streaming" &&
          this.group !== null && this.host.is_active(this)) {
          this.group.cut_diverged(this.facts.epoch);
        }
        return this.close();
      case FrameType.heartbeat:
        return this.on_heartbeat(header);
      case FrameType.published:
        return this.on_published(header);
      case FrameType.snapshot:
        return this.on_snapshot(view, body_offset, header);
      case FrameType.challenge:
      case FrameType.catch_up:
      case FrameType.ack:
        return this.refuse(ErrorCode.unexpected_frame, `frame type ${header.type} to a standby`);
      default:
        return assert_never(header.type, "frame type");
    }
  }

  private on_hello(view: DataView, body_offset: number, header: FrameHeader): void {
    if (this.state !== "hello") return this.refuse(ErrorCode.unexpected_frame, "hello again");
    const group = this.host.group_of(header.group);
    if (group === null) return this.refuse(ErrorCode.group_unknown, `group ${header.group}`);
    this.group = group;
    this.facts.group = header.group;
    this.facts.epoch = header.epoch;
    this.facts.primary_node = header.node;
    this.primary_nonce.set(new Uint8Array(view.buffer, view.byteOffset + body_offset,
      REPLICATION_NONCE_BYTES));
    fill_nonce(this.standby_nonce);
    const mac = link_mac(this.host.key, MacRole.standby, this.facts, this.primary_nonce,
      this.standby_nonce);
    this.challenge.set(this.standby_nonce, 0);
    this.challenge.set(mac, REPLICATION_NONCE_BYTES);
    this.put(FrameType.challenge, ErrorCode.none, 0, 0, this.challenge);
    this.state = "proof";
  }

  private on_proof(view: DataView, body_offset: number, header: FrameHeader): void {
    if (this.state !== "proof") return this.refuse(ErrorCode.unexpected_frame, "proof now");
    assert(this.group !== null, "a hello named the group");
    const received = new Uint8Array(view.buffer, view.byteOffset + body_offset, header.body_bytes);
    const expected = link_mac(this.host.key, MacRole.primary, this.facts, this.primary_nonce,
      this.standby_nonce);
    if (!mac_matches(received, expected)) {
      return this.refuse(ErrorCode.auth_failed, "the primary's MAC does not match");
    }
    const group = this.group;
    if (this.facts.epoch < group.highest_epoch) {
      return this.refuse(ErrorCode.epoch_stale, `epoch ${this.facts.epoch} < ` +
        `${group.highest_epoch}`);
    }
    if (group.is_current_writer(this.facts.epoch, this.facts.primary_node)) return this.stream();
    this.state = "fencing";
    this.reader.paused = true; // nothing more is read until the control plane answers
    this.host.who_holds(this.facts.group).then(
      (holder) => this.on_holder(holder),
      (error: unknown) => this.refuse(ErrorCode.holder_unknown, `who_holds: ${String(error)}`),
    );
  }

  private on_holder(holder: GroupHolder | null): void {
    if (this.state !== "fencing") return; // closed meanwhile
    assert(this.group !== null, "a hello named the group");
    const code = judge_holder(holder, this.facts.epoch, this.facts.primary_node,
      this.group.highest_epoch);
    if (code !== ErrorCode.none) return this.refuse(code, `holder ${JSON.stringify(holder)}`);
    assert(holder !== null, "a holder was judged");
    this.group.accept_holder(holder);
    this.stream();
    this.after_frames(this.reader.resume(this.on_frame));
  }

  // The link is fenced: it streams, and tells the primary where this journal ends.
  private stream(): void {
    assert(this.group !== null, "a hello named the group");
    this.state = "streaming";
    this.host.activate(this);
    // What it reports holding is durable: the primary counts it as acknowledged.
    this.put(FrameType.catch_up, ErrorCode.none, this.group.sync(),
      this.group.last_entry_epoch, this.host.disk_id);
  }

  // Whether a streaming link may change its group now (ErrorCode.none), as every entries or
  // snapshot frame must: the link still streams its group, at the epoch it was fenced at.
  private may_write(header: FrameHeader): ErrorCode {
    if (this.state !== "streaming") return ErrorCode.unexpected_frame;
    const group = this.group;
    assert(group !== null, "a streaming link has its group");
    if (!this.host.is_active(this)) return ErrorCode.superseded;
    if (header.epoch !== this.facts.epoch || this.facts.epoch < group.highest_epoch) {
      return ErrorCode.epoch_stale;
    }
    return ErrorCode.none;
  }

  private on_entries(view: DataView, body_offset: number, header: FrameHeader): void {
    const refusal = this.may_write(header);
    if (refusal !== ErrorCode.none) return this.refuse(refusal, `entries of ${header.epoch}`);
    const group = this.group;
    assert(group !== null, "a streaming link has its group");
    if (this.snapshot.receiving) {
      return this.refuse(ErrorCode.unexpected_frame, "entries inside a snapshot");
    }
    if (header.sequence !== group.last_sequence + 1) {
      return this.refuse(ErrorCode.sequence_gap, `entries from ${header.sequence}, journal ` +
        `ends at ${group.last_sequence}`);
    }
    const code = group.check_entries(view, body_offset, header.body_bytes, this.facts.epoch,
      header.argument);
    if (code !== ErrorCode.none) return this.refuse(code, `entries from ${header.sequence}`);
    try {
      group.append_entries(view, body_offset, header.body_bytes);
    } catch (error) {
      if (!(error instanceof DiskFullError)) throw error;
      // Nothing of them was journaled or applied: the primary sends them again on its next link
      // (it records this standby out of sync meanwhile and commits without it).
      return this.refuse(ErrorCode.disk_full, `entries from ${header.sequence}: ${error.message}`);
    }
    this.appended = true;
  }

  // A chunk of the primary's snapshot; the whole file, once checked, replaces what the group
  // holds and is acked at its sequence (after_frames: the install made it durable).
  private on_snapshot(view: DataView, body_offset: number, header: FrameHeader): void {
    const refusal = this.may_write(header);
    if (refusal !== ErrorCode.none) return this.refuse(refusal, `snapshot of ${header.epoch}`);
    const group = this.group;
    assert(group !== null, "a streaming link has its group");
    if (!this.snapshot.receiving && header.sequence <= group.last_sequence) {
      return this.refuse(ErrorCode.snapshot_behind, `a snapshot of ${header.sequence}, the ` +
        `journal holds ${group.last_sequence}`);
    }
    const result = this.snapshot.add(view, body_offset, header);
    if (result === "more") return;
    if (result !== "whole") return this.refuse(result, `snapshot chunk of ${header.sequence}`);
    const file_bytes = this.snapshot.take(group.group, this.facts.epoch);
    if (file_bytes === null) {
      return this.refuse(ErrorCode.bad_snapshot, `the snapshot of ${header.sequence} fails its ` +
        `checks`);
    }
    try {
      group.install_snapshot(header.sequence, file_bytes);
    } catch (error) {
      if (!(error instanceof DiskFullError)) throw error;
      // Staging failed before anything of the group changed: the next link sends it again.
      return this.refuse(ErrorCode.disk_full, `the snapshot of ${header.sequence}: ` +
        `${error.message}`);
    }
    this.appended = true;
  }

  // on_data recorded that the primary was heard. A read barrier (argument > 0) is confirmed only
  // while this standby still follows the link's epoch: a primary deposed meanwhile learns nothing
  // from it, so it answers no read (docs/cluster.md "Reads").
  private on_heartbeat(header: FrameHeader): void {
    const group = this.followed_group("heartbeat");
    if (group !== null && header.argument > 0) {
      this.put(FrameType.ack, ErrorCode.none, group.durable_sequence, header.argument, null);
    }
  }

  // How far the primary's publisher is in Kafka: this standby's segments behind it (and behind
  // its previous snapshot) may go, since a successor's publisher resumes after what Kafka holds.
  private on_published(header: FrameHeader): void {
    this.followed_group("published")?.published(header.sequence);
  }

  // The group, when a frame naming `what` comes on the active streaming link of an epoch this
  // standby still follows; otherwise the link is refused, and null.
  private followed_group(what: string): StandbyGroup | null {
    if (this.state !== "streaming") {
      this.refuse(ErrorCode.unexpected_frame, what);
      return null;
    }
    const group = this.group;
    assert(group !== null, "a streaming link has its group");
    if (!this.host.is_active(this)) {
      this.refuse(ErrorCode.superseded, "another link");
      return null;
    }
    if (this.facts.epoch < group.highest_epoch) {
      this.refuse(ErrorCode.epoch_stale, `${what} of epoch ${this.facts.epoch}`);
      return null;
    }
    return group;
  }

  private put(type: FrameType, code: ErrorCode, sequence: number, argument: number,
    body: Uint8Array | null): void {
    const fields = this.fields;
    fields.type = type;
    fields.code = code;
    fields.body_bytes = body === null ? 0 : body.length;
    fields.group = this.facts.group;
    fields.epoch = this.facts.epoch;
    fields.node = this.host.node;
    fields.sequence = sequence;
    fields.argument = argument;
    // Acks and handshake frames are tiny: the buffer (one frame at most) holds them unless the
    // primary stopped reading, which a later ack (covering this one) makes good.
    this.send.put(fields, body);
  }
}

/** Whether the control plane's `holder` lets (epoch, node) write: ErrorCode.none if it does. */
export function judge_holder(holder: GroupHolder | null, epoch: number, node: number,
  highest_epoch: number): ErrorCode {
  if (epoch < highest_epoch) return ErrorCode.epoch_stale; // raised while it was asked
  if (holder === null) return ErrorCode.not_holder;
  if (holder.epoch > epoch) return ErrorCode.epoch_stale;
  if (holder.epoch !== epoch || holder.node !== node) return ErrorCode.not_holder;
  return ErrorCode.none;
}
