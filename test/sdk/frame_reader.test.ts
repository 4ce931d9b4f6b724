// The SDK's TCP framing: frames cut from bytes that arrive in any pieces, several per read, and a
// broken length refused.

import { expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { FRAME_SIZE_BYTES_MAX } from "../../common/constants.ts";
import { decode_frame, encode_ping } from "../../schema/codec.ts";
import { FrameReader, with_length_prefix } from "../../sdk/frame_reader.ts";

const SEED = Number(process.env.SDK_SEED ?? Math.floor(Math.random() * 2 ** 31));

function frames_of(reader: FrameReader): bigint[] {
  const nonces: bigint[] = [];
  for (;;) {
    const next = reader.next();
    if (next === "incomplete") return nonces;
    if (next === "bad_length") throw new Error("bad length");
    const frame = decode_frame(next);
    if (frame.type !== "ping") throw new Error(`unexpected ${frame.type}`);
    nonces.push(frame.nonce);
  }
}

test(`frames split at random points come out whole and in order (seed ${SEED})`, () => {
  const prng = new Prng(SEED);
  const stream: number[] = [];
  const count = 200;
  for (let k = 0; k < count; k++) stream.push(...with_length_prefix(encode_ping(BigInt(k))));
  const bytes = Uint8Array.from(stream);
  const reader = new FrameReader();
  const seen: bigint[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = 1 + prng.int_below(300);
    reader.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
    at += size;
    seen.push(...frames_of(reader));
  }
  expect(seen).toEqual(Array.from({ length: count }, (_, k) => BigInt(k)));
});

test("a length below 8 or above the frame limit breaks the framing", () => {
  for (const length of [0, 7, FRAME_SIZE_BYTES_MAX + 1]) {
    const reader = new FrameReader();
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, length, true);
    reader.push(prefix);
    expect(reader.next()).toBe("bad_length");
  }
  const reader = new FrameReader();
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, FRAME_SIZE_BYTES_MAX, true);
  reader.push(prefix);
  expect(reader.next()).toBe("incomplete");
});
