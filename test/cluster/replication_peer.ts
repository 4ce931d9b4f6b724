// A hand-driven primary for the replication tests: it does the handshake with whatever key it is
// given (without checking the standby's MAC), then sends the frames a test builds, and records
// every frame the standby sends back.

import type { Socket } from "bun";
import { REPLICATION_FRAME_HEADER_BYTES, REPLICATION_NONCE_BYTES } from
  "../../cluster/replication/constants.ts";
import {
  ErrorCode, FrameType, write_frame_header, type FrameHeader,
} from "../../cluster/replication/frame_layout.ts";
import {
  fill_nonce, link_mac, MacRole, type LinkFacts,
} from "../../cluster/replication/handshake.ts";
import { LinkFrameReader } from "../../cluster/replication/link_buffers.ts";

export interface ReceivedFrame {
  type: FrameType;
  code: ErrorCode;
  sequence: number;
  argument: number;
}

/** One frame's bytes. */
export function frame_bytes(fields: Omit<FrameHeader, "body_bytes">, body: Uint8Array | null):
  Uint8Array {
  const body_bytes = body === null ? 0 : body.length;
  const bytes = new Uint8Array(REPLICATION_FRAME_HEADER_BYTES + body_bytes);
  if (body !== null) bytes.set(body, REPLICATION_FRAME_HEADER_BYTES);
  write_frame_header(new DataView(bytes.buffer), 0, { ...fields, body_bytes });
  return bytes;
}

export class RawPrimary {
  readonly received: ReceivedFrame[] = [];
  closed = false;
  private socket: Socket<null> | null = null;
  private readonly reader = new LinkFrameReader();
  private readonly primary_nonce = new Uint8Array(REPLICATION_NONCE_BYTES);

  constructor(private readonly facts: LinkFacts, private readonly key: Uint8Array) {}

  /** Connects and says hello (or, `silent`, nothing at all). */
  async connect(port: number, silent = false): Promise<void> {
    this.socket = await Bun.connect<null>({ hostname: "127.0.0.1", port, socket: {
      data: (_socket, chunk) => this.on_data(chunk),
      close: () => { this.closed = true; },
    } });
    if (silent) return;
    fill_nonce(this.primary_nonce);
    this.send(frame_bytes(this.fields(FrameType.hello, 0, 0), this.primary_nonce));
  }

  send(bytes: Uint8Array): void {
    const written = this.socket!.write(bytes);
    if (written !== bytes.length) throw new Error(`wrote ${written} of ${bytes.length} bytes`);
  }

  fields(type: FrameType, sequence: number, argument: number): Omit<FrameHeader, "body_bytes"> {
    return { type, code: ErrorCode.none, group: this.facts.group, epoch: this.facts.epoch,
      node: this.facts.primary_node, sequence, argument };
  }

  of_type(type: FrameType): ReceivedFrame | undefined {
    return this.received.find((frame) => frame.type === type);
  }

  close(): void {
    this.socket?.end();
  }

  private on_data(chunk: Uint8Array): void {
    this.reader.receive(chunk, (view, body_offset, header) => {
      this.received.push({ type: header.type, code: header.code, sequence: header.sequence,
        argument: header.argument });
      if (header.type !== FrameType.challenge) return;
      const standby_nonce = new Uint8Array(view.buffer, view.byteOffset + body_offset,
        REPLICATION_NONCE_BYTES).slice();
      const proof = link_mac(this.key, MacRole.primary, this.facts, this.primary_nonce,
        standby_nonce);
      this.send(frame_bytes(this.fields(FrameType.proof, 0, 0), proof));
    });
  }
}
