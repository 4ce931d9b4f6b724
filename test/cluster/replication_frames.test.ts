// The replication link's frame layout and buffers (cluster/replication/frame_layout.ts,
// link_buffers.ts, handshake.ts): round trips at every type's size limits, a decoder fed random
// and damaged bytes (seeded; the seed is in the test name), frames split at random points, the
// bounded send buffer at its edge, the cluster key's length limits, and the MACs' bindings.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Prng } from "../../common/prng.ts";
import {
  REPLICATION_FRAME_BYTES_MAX, REPLICATION_FRAME_HEADER_BYTES, REPLICATION_KEY_BYTES_MAX,
  REPLICATION_KEY_BYTES_MIN, REPLICATION_NONCE_BYTES, REPLICATION_RECEIVE_BUFFER_BYTES,
  REPLICATION_RECONNECT_DELAY_MS_MAX, REPLICATION_RECONNECT_DELAY_MS_MIN,
  REPLICATION_SEND_BUFFER_BYTES_MAX, REPLICATION_SEND_BUFFER_BYTES_MIN,
  REPLICATION_SNAPSHOT_BYTES_MAX, REPLICATION_SNAPSHOT_BYTES_MIN,
  REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX,
} from "../../cluster/replication/constants.ts";
import {
  body_bytes_range, ErrorCode, error_code_of, FrameType, frame_header_empty, read_frame_header,
  type FrameHeader, type FrameReadResult,
} from "../../cluster/replication/frame_layout.ts";
import {
  ClusterKeyError, link_mac, load_cluster_key, MacRole,
} from "../../cluster/replication/handshake.ts";
import { LinkFrameReader, LinkSendBuffer } from "../../cluster/replication/link_buffers.ts";
import { temp_dir } from "../../harness/temp_dirs.ts";
import { Replicator } from "../../cluster/replication/replicator.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import { frame_bytes } from "./replication_peer.ts";

const TYPES = Object.values(FrameType);
const RESULTS = new Set<FrameReadResult>(["ok", "short", "bad_magic", "bad_header_crc",
  "bad_version", "bad_type", "bad_code", "bad_length", "bad_sequence", "bad_body_crc"]);

function fields_of(type: FrameType, prng: Prng): Omit<FrameHeader, "body_bytes"> {
  // A snapshot frame's argument is its file's total bytes: in bounds, and no chunk is larger.
  const argument = type === FrameType.snapshot ? REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX +
    prng.int_below(REPLICATION_SNAPSHOT_BYTES_MAX - REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX + 1)
    : prng.int_below(1 << 30);
  return { type, code: type === FrameType.error ? ErrorCode.not_holder : ErrorCode.none,
    group: prng.next_u32(), epoch: prng.next_u32(), node: prng.next_u32(),
    sequence: prng.int_below(1 << 30) * 1024, argument };
}

function random_bytes(prng: Prng, size_bytes: number): Uint8Array {
  const bytes = new Uint8Array(size_bytes);
  for (let k = 0; k < size_bytes; k++) bytes[k] = prng.int_below(256);
  return bytes;
}

function decode(bytes: Uint8Array): { result: FrameReadResult; header: FrameHeader } {
  const header = frame_header_empty();
  const result = read_frame_header(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    0, bytes.length, header);
  return { result, header };
}

/** Rewrites a header field and its CRC, as a buggy peer would send it. */
function with_field(bytes: Uint8Array, set: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  set(view);
  view.setUint32(44, Bun.hash.crc32(copy.subarray(0, 44)), true);
  return copy;
}

describe("replication frames", () => {
  test("every type round-trips at its smallest and largest body; one byte more is refused",
    () => {
      const prng = new Prng(7);
      for (const type of TYPES) {
        const [body_min, body_max] = body_bytes_range(type);
        for (const size_bytes of [body_min, body_max]) {
          const fields = fields_of(type, prng);
          const body = size_bytes === 0 ? null : random_bytes(prng, size_bytes);
          const bytes = frame_bytes(fields, body);
          const { result, header } = decode(bytes);
          expect(result).toBe("ok");
          expect(header).toEqual({ ...fields, body_bytes: size_bytes });
        }
        const valid = frame_bytes(fields_of(type, prng), body_min === 0 ? null :
          random_bytes(prng, body_min));
        const longer = with_field(valid, (view) => view.setUint32(8, body_max + 1, true));
        expect(decode(longer).result).toBe("bad_length");
        if (body_min > 0) {
          const shorter = with_field(valid, (view) => view.setUint32(8, body_min - 1, true));
          expect(decode(shorter).result).toBe("bad_length");
        }
        expect(() => frame_bytes(fields_of(type, prng), random_bytes(prng, body_max + 1)))
          .toThrow();
      }
      expect(REPLICATION_FRAME_HEADER_BYTES + body_bytes_range(FrameType.entries)[1])
        .toBe(REPLICATION_FRAME_BYTES_MAX);
    });

  test("header relations are checked behind a valid header CRC", () => {
    const prng = new Prng(8);
    const ack = frame_bytes(fields_of(FrameType.ack, prng), null);
    expect(decode(with_field(ack, (v) => v.setUint16(4, 2, true))).result).toBe("bad_version");
    expect(decode(with_field(ack, (v) => v.setUint8(6, 0))).result).toBe("bad_type");
    expect(decode(with_field(ack, (v) => v.setUint8(6, 11))).result).toBe("bad_type");
    expect(decode(with_field(ack, (v) => v.setUint8(7, 1))).result).toBe("bad_code");
    const error = frame_bytes(fields_of(FrameType.error, prng), null);
    expect(decode(with_field(error, (v) => v.setUint8(7, 0))).result).toBe("bad_code");
    expect(decode(with_field(error, (v) => v.setUint8(7, 19))).result).toBe("bad_code");
    expect(decode(with_field(error, (v) => v.setUint8(7, 17))).result).toBe("ok");
    expect(decode(with_field(ack, (v) => v.setFloat64(24, 0.5, true))).result)
      .toBe("bad_sequence");
    expect(decode(with_field(ack, (v) => v.setFloat64(32, -1, true))).result)
      .toBe("bad_sequence");
    expect(decode(with_field(ack, (v) => v.setFloat64(24, 2 ** 53, true))).result)
      .toBe("bad_sequence");
    expect(error_code_of("bad_version")).toBe(ErrorCode.version);
    expect(error_code_of("bad_body_crc")).toBe(ErrorCode.bad_frame);
  });

  test("a snapshot frame names its file's total bytes within REPLICATION_SNAPSHOT_BYTES_MIN.." +
    "MAX, and no chunk larger than that total; the decoder refuses every other", () => {
    const prng = new Prng(10);
    const chunk = (total_bytes: number, body_bytes: number) => frame_bytes({
      ...fields_of(FrameType.snapshot, prng), argument: total_bytes }, random_bytes(prng,
      body_bytes));
    const edges = [REPLICATION_SNAPSHOT_BYTES_MIN, REPLICATION_SNAPSHOT_BYTES_MAX];
    for (const total_bytes of edges) {
      const { result, header } = decode(chunk(total_bytes, REPLICATION_SNAPSHOT_BYTES_MIN));
      expect(result).toBe("ok");
      expect(header.argument).toBe(total_bytes);
    }
    const valid = chunk(REPLICATION_SNAPSHOT_BYTES_MIN, REPLICATION_SNAPSHOT_BYTES_MIN);
    for (const total_bytes of [REPLICATION_SNAPSHOT_BYTES_MIN - 1,
      REPLICATION_SNAPSHOT_BYTES_MAX + 1, 0]) {
      const bad = with_field(valid, (view) => view.setFloat64(32, total_bytes, true));
      expect(decode(bad).result).toBe("bad_length");
      expect(() => chunk(total_bytes, 1)).toThrow(); // and never written
    }
    // A chunk as large as its total is good, one byte larger is not.
    expect(decode(chunk(REPLICATION_SNAPSHOT_BYTES_MIN + 1, REPLICATION_SNAPSHOT_BYTES_MIN + 1))
      .result).toBe("ok");
    const larger = with_field(chunk(REPLICATION_SNAPSHOT_BYTES_MIN + 1,
      REPLICATION_SNAPSHOT_BYTES_MIN + 1), (view) => view.setFloat64(32,
      REPLICATION_SNAPSHOT_BYTES_MIN, true));
    expect(decode(larger).result).toBe("bad_length");
    expect(() => chunk(REPLICATION_SNAPSHOT_BYTES_MIN, REPLICATION_SNAPSHOT_BYTES_MIN + 1))
      .toThrow();
    expect(body_bytes_range(FrameType.snapshot))
      .toEqual([1, REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX]);
    expect(REPLICATION_SNAPSHOT_BYTES_MIN).toBe(40); // a snapshot file's header and footer
  });

  for (const seed of [1, 2, 3]) {
    test(`the decoder never accepts random or damaged bytes (seed ${seed})`, () => {
      const prng = new Prng(seed);
      for (let round = 0; round < 3_000; round++) {
        const noise = random_bytes(prng, prng.int_below(160));
        const { result } = decode(noise);
        expect(RESULTS.has(result)).toBe(true);
        expect(result).not.toBe("ok");
        const type = TYPES[prng.int_below(TYPES.length)]!;
        const [body_min, body_max] = body_bytes_range(type);
        const size_bytes = body_min + prng.int_below(Math.min(body_max - body_min, 300) + 1);
        const valid = frame_bytes(fields_of(type, prng),
          size_bytes === 0 ? null : random_bytes(prng, size_bytes));
        const damaged = valid.slice();
        damaged[prng.int_below(damaged.length)]! ^= 1 + prng.int_below(255);
        expect(decode(damaged).result).not.toBe("ok");
        expect(decode(valid.subarray(0, prng.int_below(valid.length))).result).toBe("short");
      }
    });
  }

  test("frames split at random points come out whole and in order; bytes past the buffer while " +
    "paused are an overflow", () => {
    const prng = new Prng(9);
    const sent: FrameHeader[] = [];
    const parts: Uint8Array[] = [];
    for (let k = 0; k < 200; k++) {
      const fields = fields_of(FrameType.entries, prng);
      const size_bytes = 64 + prng.int_below(k % 50 === 0 ? 1 << 20 : 4000);
      parts.push(frame_bytes(fields, random_bytes(prng, size_bytes)));
      sent.push({ ...fields, body_bytes: size_bytes });
    }
    const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, part) => (stream.set(part, at), at + part.length), 0);
    const reader = new LinkFrameReader();
    const seen: FrameHeader[] = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + prng.int_below(prng.chance(0.1) ? 3 << 20 : 9000);
      const result = reader.receive(stream.subarray(at, at + size), (_v, _o, header) => {
        seen.push({ ...header });
      });
      expect(result).toBe("ok");
      at += size;
    }
    expect(seen).toEqual(sent);
    const paused = new LinkFrameReader();
    paused.paused = true;
    expect(paused.receive(new Uint8Array(REPLICATION_RECEIVE_BUFFER_BYTES), () => {})).toBe("ok");
    expect(paused.receive(new Uint8Array(1), () => {})).toBe("overflow");
  });

  test("the send buffer takes frames up to its capacity exactly, and none past it", () => {
    const buffer = new LinkSendBuffer(REPLICATION_SEND_BUFFER_BYTES_MIN);
    expect(buffer.reserve(REPLICATION_FRAME_BYTES_MAX)).toBe(0);
    buffer.commit(REPLICATION_FRAME_BYTES_MAX);
    expect(buffer.free_bytes).toBe(REPLICATION_SEND_BUFFER_BYTES_MIN - REPLICATION_FRAME_BYTES_MAX);
    expect(buffer.reserve(REPLICATION_FRAME_HEADER_BYTES)).toBe(-1);
    let taken = 0;
    const socket = { write: (_d: Uint8Array, _o: number, length: number) => (taken = length) };
    expect(buffer.flush(socket)).toBe(true);
    expect(taken).toBe(REPLICATION_FRAME_BYTES_MAX);
    expect(buffer.queued_bytes).toBe(0);
    expect(() => new LinkSendBuffer(REPLICATION_SEND_BUFFER_BYTES_MIN - 1)).toThrow();
  });

  test("a sender's buffer and reconnect delay are checked at their limits", () => {
    const replicator = (send_buffer_bytes: number, reconnect_delay_ms: number): Replicator =>
      new Replicator({ files: new PowerLossFileLayer(), dir: "/g", group: 1, node: 1, epoch: 1,
        last_sequence: 0, key: new Uint8Array(REPLICATION_KEY_BYTES_MIN),
        standbys: [{ node: 2, host: "127.0.0.1", port: 1 }], send_buffer_bytes,
        reconnect_delay_ms });
    const [buffer_min, buffer_max] = [REPLICATION_SEND_BUFFER_BYTES_MIN, 64 << 20];
    const [delay_min, delay_max] = [REPLICATION_RECONNECT_DELAY_MS_MIN,
      REPLICATION_RECONNECT_DELAY_MS_MAX];
    expect(replicator(buffer_min, delay_min).senders.length).toBe(1);
    expect(replicator(buffer_max, delay_max).senders.length).toBe(1);
    expect(() => replicator(buffer_min - 1, delay_min)).toThrow();
    expect(() => replicator(REPLICATION_SEND_BUFFER_BYTES_MAX + 1, delay_min)).toThrow();
    expect(() => replicator(buffer_min, delay_min - 1)).toThrow();
    expect(() => replicator(buffer_min, delay_max + 1)).toThrow();
  });
});

describe("replication handshake", () => {
  test("the cluster key file: its length limits, a trailing newline left out", () => {
    const dir = temp_dir("cluster-key");
    const write = (name: string, size_bytes: number, suffix = ""): string => {
      const path = join(dir, name);
      writeFileSync(path, "k".repeat(size_bytes) + suffix);
      return path;
    };
    expect(load_cluster_key(write("min", REPLICATION_KEY_BYTES_MIN, "\n")).length)
      .toBe(REPLICATION_KEY_BYTES_MIN);
    expect(load_cluster_key(write("max", REPLICATION_KEY_BYTES_MAX)).length)
      .toBe(REPLICATION_KEY_BYTES_MAX);
    expect(() => load_cluster_key(write("short", REPLICATION_KEY_BYTES_MIN - 1, "\n")))
      .toThrow(ClusterKeyError);
    expect(() => load_cluster_key(write("long", REPLICATION_KEY_BYTES_MAX + 1)))
      .toThrow(ClusterKeyError);
    expect(() => load_cluster_key(join(dir, "missing"))).toThrow(ClusterKeyError);
  });

  test("a MAC binds the role, the key, the group, the epoch, both nodes and both nonces", () => {
    const key = new Uint8Array(REPLICATION_KEY_BYTES_MIN).fill(1);
    const facts = { group: 1, epoch: 2, primary_node: 3, standby_node: 4 };
    const nonce_p = new Uint8Array(REPLICATION_NONCE_BYTES).fill(5);
    const nonce_s = new Uint8Array(REPLICATION_NONCE_BYTES).fill(6);
    const base = Buffer.from(link_mac(key, MacRole.primary, facts, nonce_p, nonce_s))
      .toString("hex");
    const variants = [
      link_mac(key, MacRole.standby, facts, nonce_p, nonce_s),
      link_mac(key.map((b) => b + 1), MacRole.primary, facts, nonce_p, nonce_s),
      link_mac(key, MacRole.primary, { ...facts, group: 9 }, nonce_p, nonce_s),
      link_mac(key, MacRole.primary, { ...facts, epoch: 9 }, nonce_p, nonce_s),
      link_mac(key, MacRole.primary, { ...facts, primary_node: 9 }, nonce_p, nonce_s),
      link_mac(key, MacRole.primary, { ...facts, standby_node: 9 }, nonce_p, nonce_s),
      link_mac(key, MacRole.primary, facts, nonce_s, nonce_s),
      link_mac(key, MacRole.primary, facts, nonce_p, nonce_p),
    ].map((mac) => Buffer.from(mac).toString("hex"));
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });
});
