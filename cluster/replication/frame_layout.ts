// The replication link's frame: a 48-byte header (little-endian) and a body. The header carries
// its own CRC32 (checked before any length is trusted) and the body's (checked before the body is
// read); journal entries inside an entries frame keep their own CRCs too. Versioned: a peer of
// another version is answered `version` and closed.
//
//  0 magic u32 | 4 version u16 | 6 type u8 | 7 code u8 (errors only, else 0) | 8 body_bytes u32
// 12 group u32 | 16 epoch u32 | 20 node u32 | 24 sequence f64 | 32 argument f64
// 40 body CRC32 u32 | 44 header CRC32 u32 (of bytes 0..43)
//
// What sequence and argument mean, per type (docs/cluster.md has the exchange):
//   hello     P->S  sequence 0, argument 0; body: the primary's nonce
//   challenge S->P  sequence 0, argument 0; body: the standby's nonce, then its MAC
//   proof     P->S  sequence 0, argument 0; body: the primary's MAC
//   catch_up  S->P  sequence: the standby's last journaled sequence; argument: that entry's epoch;
//                   body: the standby's disk id (ASCII), which the primary records it in sync with
//   entries   P->S  sequence: the first sequence; argument: the last; body: whole journal entries
//   ack       S->P  sequence: the standby's durable sequence; argument: the last read barrier
//                   it confirms (a heartbeat's argument; 0: none)
//   snapshot  P->S  sequence: the snapshot's sequence; argument: its file's total bytes
//                   (REPLICATION_SNAPSHOT_BYTES_MIN..MAX); body: the next chunk of the file
//   error     both  code: why; body: a UTF-8 message
//   heartbeat P->S  sequence: the primary's last written sequence; argument: a read barrier's id
//                   (0: a keep-alive only), which a standby still following this epoch acks
//   published P->S  sequence: the last sequence the group's publisher has in Kafka (a standby
//                   frees its segments only behind it and its own previous snapshot); argument 0

import { assert, assert_never } from "../../common/assert.ts";
import {
  REPLICATION_ENTRIES_BODY_BYTES_MAX, REPLICATION_ERROR_MESSAGE_BYTES_MAX,
  REPLICATION_FRAME_HEADER_BYTES, REPLICATION_MAC_BYTES,
  REPLICATION_NONCE_BYTES, REPLICATION_PROTOCOL_VERSION, REPLICATION_SNAPSHOT_BYTES_MAX,
  REPLICATION_SNAPSHOT_BYTES_MIN, REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX,
} from "./constants.ts";
import { DISK_ID_LENGTH_MAX, JOURNAL_ENTRY_HEADER_BYTES } from "../../common/constants.ts";

export const FRAME_MAGIC = 0x4c504552; // bytes "R","E","P","L" read as a little-endian u32

const MAGIC_OFFSET = 0;
const VERSION_OFFSET = 4;
const TYPE_OFFSET = 6;
const CODE_OFFSET = 7;
const BODY_BYTES_OFFSET = 8;
const GROUP_OFFSET = 12;
const EPOCH_OFFSET = 16;
const NODE_OFFSET = 20;
const SEQUENCE_OFFSET = 24;
const ARGUMENT_OFFSET = 32;
const BODY_CRC32_OFFSET = 40;
const HEADER_CRC32_OFFSET = 44;
assert(HEADER_CRC32_OFFSET + 4 === REPLICATION_FRAME_HEADER_BYTES, "the header is 48 bytes");

export const FrameType = {
  hello: 1,
  challenge: 2,
  proof: 3,
  catch_up: 4,
  entries: 5,
  ack: 6,
  snapshot: 7,
  error: 8,
  /** Primary -> standby while nothing else is sent: the primary is alive (docs/cluster.md). */
  heartbeat: 9,
  /** Primary -> standby with a heartbeat: how far the group's events are in Kafka. */
  published: 10,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Why a peer refused the link; the wire values, never reused. */
export const ErrorCode = {
  none: 0,
  bad_frame: 1, // a checksum, magic or length is wrong
  version: 2, // another protocol version
  auth_failed: 3, // the peer's MAC does not prove the cluster key
  epoch_stale: 4, // an epoch below the highest this standby accepted
  not_holder: 5, // a higher epoch from a node the control plane does not record as its holder
  holder_unknown: 6, // the control plane could not be asked
  group_unknown: 7, // this standby does not host the group
  sequence_gap: 8, // entries that do not continue the standby's journal
  bad_entry: 9, // an entry whose own checks fail, or of another group, or an older epoch
  catch_up_unavailable: 10, // the journal no longer reaches back, and no snapshot serves
  unexpected_frame: 11, // a frame of a type this side does not expect now
  superseded: 12, // another link for the same group took this one's place
  links_full: 13, // the standby holds its maximum of links already
  handshake_timeout: 14, // the handshake did not finish in time
  diverged: 15, // the standby's last entry is not the primary's at that sequence (another epoch's)
  bad_snapshot: 16, // snapshot chunks not of one file, past its size, or a file whose checks fail
  snapshot_behind: 17, // a snapshot at or below the sequence the standby's journal holds
  disk_full: 18, // the standby's disk is full: nothing the frame carried was kept
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const FRAME_TYPE_MAX = FrameType.published;
const ERROR_CODE_MAX = ErrorCode.disk_full;

/** A decoded header, filled in place by readers (nothing allocated per frame). */
export interface FrameHeader {
  type: FrameType;
  code: ErrorCode;
  body_bytes: number;
  group: number;
  epoch: number;
  node: number;
  sequence: number;
  argument: number;
}

export function frame_header_empty(): FrameHeader {
  return { type: FrameType.hello, code: ErrorCode.none, body_bytes: 0, group: 0, epoch: 0,
    node: 0, sequence: 0, argument: 0 };
}

export type FrameReadResult =
  | "ok"
  | "short"
  | "bad_magic"
  | "bad_header_crc"
  | "bad_version"
  | "bad_type"
  | "bad_code"
  | "bad_length"
  | "bad_sequence"
  | "bad_body_crc";

/** The body sizes a frame type allows, [min, max]. */
export function body_bytes_range(type: FrameType): readonly [number, number] {
  switch (type) {
    case FrameType.hello:
      return [REPLICATION_NONCE_BYTES, REPLICATION_NONCE_BYTES];
    case FrameType.challenge:
      return [REPLICATION_NONCE_BYTES + REPLICATION_MAC_BYTES,
        REPLICATION_NONCE_BYTES + REPLICATION_MAC_BYTES];
    case FrameType.proof:
      return [REPLICATION_MAC_BYTES, REPLICATION_MAC_BYTES];
    case FrameType.catch_up:
      return [0, DISK_ID_LENGTH_MAX];
    case FrameType.ack:
    case FrameType.heartbeat:
    case FrameType.published:
      return [0, 0];
    case FrameType.entries:
      return [JOURNAL_ENTRY_HEADER_BYTES, REPLICATION_ENTRIES_BODY_BYTES_MAX];
    case FrameType.snapshot:
      return [1, REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX];
    case FrameType.error:
      return [0, REPLICATION_ERROR_MESSAGE_BYTES_MAX];
    default:
      return assert_never(type, "frame type");
  }
}

function bytes_of(view: DataView, offset: number, size_bytes: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + offset, size_bytes);
}

/**
 * Writes the header at `offset`; the body (fields.body_bytes) must already sit right after it in
 * the same view. Computes both CRCs.
 */
export function write_frame_header(view: DataView, offset: number, fields: FrameHeader): void {
  const [body_min, body_max] = body_bytes_range(fields.type);
  assert(fields.body_bytes >= body_min && fields.body_bytes <= body_max, "body size for its type");
  assert(offset + REPLICATION_FRAME_HEADER_BYTES + fields.body_bytes <= view.byteLength, "fits");
  assert((fields.code === ErrorCode.none) === (fields.type !== FrameType.error),
    "an error frame, and only it, has a code");
  assert(fields.group >>> 0 === fields.group && fields.epoch >>> 0 === fields.epoch, "u32 fields");
  assert(fields.node >>> 0 === fields.node, "node is a u32");
  assert(Number.isSafeInteger(fields.sequence) && fields.sequence >= 0, "sequence >= 0");
  assert(Number.isSafeInteger(fields.argument) && fields.argument >= 0, "argument >= 0");
  assert(fields.type !== FrameType.snapshot || snapshot_total_fits(fields.argument,
    fields.body_bytes), "a snapshot's total bytes within bounds, its chunk within it");
  view.setUint32(offset + MAGIC_OFFSET, FRAME_MAGIC, true);
  view.setUint16(offset + VERSION_OFFSET, REPLICATION_PROTOCOL_VERSION, true);
  view.setUint8(offset + TYPE_OFFSET, fields.type);
  view.setUint8(offset + CODE_OFFSET, fields.code);
  view.setUint32(offset + BODY_BYTES_OFFSET, fields.body_bytes, true);
  view.setUint32(offset + GROUP_OFFSET, fields.group, true);
  view.setUint32(offset + EPOCH_OFFSET, fields.epoch, true);
  view.setUint32(offset + NODE_OFFSET, fields.node, true);
  view.setFloat64(offset + SEQUENCE_OFFSET, fields.sequence, true);
  view.setFloat64(offset + ARGUMENT_OFFSET, fields.argument, true);
  const body = bytes_of(view, offset + REPLICATION_FRAME_HEADER_BYTES, fields.body_bytes);
  view.setUint32(offset + BODY_CRC32_OFFSET, Bun.hash.crc32(body), true);
  const header = bytes_of(view, offset, HEADER_CRC32_OFFSET);
  view.setUint32(offset + HEADER_CRC32_OFFSET, Bun.hash.crc32(header), true);
}

/**
 * Decodes and verifies the frame at `offset` into `out` (valid only on "ok"); `available_bytes`
 * counts the bytes the view holds from `offset`. "short": wait for more bytes.
 */
export function read_frame_header(view: DataView, offset: number, available_bytes: number,
  out: FrameHeader): FrameReadResult {
  assert(offset >= 0 && offset + available_bytes <= view.byteLength, "available within view");
  if (available_bytes < REPLICATION_FRAME_HEADER_BYTES) return "short";
  if (view.getUint32(offset + MAGIC_OFFSET, true) !== FRAME_MAGIC) return "bad_magic";
  const header_crc32 = view.getUint32(offset + HEADER_CRC32_OFFSET, true);
  if (Bun.hash.crc32(bytes_of(view, offset, HEADER_CRC32_OFFSET)) !== header_crc32) {
    return "bad_header_crc";
  }
  if (view.getUint16(offset + VERSION_OFFSET, true) !== REPLICATION_PROTOCOL_VERSION) {
    return "bad_version";
  }
  const result = read_checked_fields(view, offset, out);
  if (result !== "ok") return result;
  if (available_bytes < REPLICATION_FRAME_HEADER_BYTES + out.body_bytes) return "short";
  const body = bytes_of(view, offset + REPLICATION_FRAME_HEADER_BYTES, out.body_bytes);
  if (Bun.hash.crc32(body) !== view.getUint32(offset + BODY_CRC32_OFFSET, true)) {
    return "bad_body_crc";
  }
  return "ok";
}

// A valid header CRC does not make the fields right (a peer's bug): check every relation.
function read_checked_fields(view: DataView, offset: number, out: FrameHeader): FrameReadResult {
  const type = view.getUint8(offset + TYPE_OFFSET);
  if (type < FrameType.hello || type > FRAME_TYPE_MAX) return "bad_type";
  out.type = type as FrameType;
  const code = view.getUint8(offset + CODE_OFFSET);
  if (code > ERROR_CODE_MAX) return "bad_code";
  if ((code === ErrorCode.none) !== (out.type !== FrameType.error)) return "bad_code";
  out.code = code as ErrorCode;
  out.body_bytes = view.getUint32(offset + BODY_BYTES_OFFSET, true);
  const [body_min, body_max] = body_bytes_range(out.type);
  if (out.body_bytes < body_min || out.body_bytes > body_max) return "bad_length";
  out.group = view.getUint32(offset + GROUP_OFFSET, true);
  out.epoch = view.getUint32(offset + EPOCH_OFFSET, true);
  out.node = view.getUint32(offset + NODE_OFFSET, true);
  out.sequence = view.getFloat64(offset + SEQUENCE_OFFSET, true);
  out.argument = view.getFloat64(offset + ARGUMENT_OFFSET, true);
  if (!Number.isSafeInteger(out.sequence) || out.sequence < 0) return "bad_sequence";
  if (!Number.isSafeInteger(out.argument) || out.argument < 0) return "bad_sequence";
  if (out.type === FrameType.snapshot && !snapshot_total_fits(out.argument, out.body_bytes)) {
    return "bad_length";
  }
  return "ok";
}

// A snapshot frame's argument is its file's total bytes: bounded, and no chunk is larger.
function snapshot_total_fits(total_bytes: number, chunk_bytes: number): boolean {
  return total_bytes >= REPLICATION_SNAPSHOT_BYTES_MIN &&
    total_bytes <= REPLICATION_SNAPSHOT_BYTES_MAX && chunk_bytes <= total_bytes;
}

/** The error code a peer is answered for a frame that failed to decode. */
export function error_code_of(result: Exclude<FrameReadResult, "ok" | "short">): ErrorCode {
  switch (result) {
    case "bad_version":
      return ErrorCode.version;
    case "bad_magic":
    case "bad_header_crc":
    case "bad_type":
    case "bad_code":
    case "bad_length":
    case "bad_sequence":
    case "bad_body_crc":
      return ErrorCode.bad_frame;
    default:
      return assert_never(result, "frame read result");
  }
}
