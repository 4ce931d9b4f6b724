import { describe, expect, test } from "bun:test";
import { JOURNAL_ENTRY_RECORDS_MAX, JOURNAL_RECORD_BYTES } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import {
  ENTRY_HEADER_CRC32_OFFSET,
  ENTRY_MAGIC,
  ENTRY_SYNCED_SEQUENCE_OFFSET,
  entry_header_empty,
  entry_size_bytes,
  read_entry_header,
  stamp_synced_sequence,
  write_entry_header,
} from "../../schema/journal_entry_layout.ts";
import { make_entry } from "./entries.ts";

describe("entry header", () => {
  test("magic reads as JRNL", () => {
    const bytes = make_entry(new Prng(1), 1, 1);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("JRNL");
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(ENTRY_MAGIC);
  });

  test("round trip of every field", () => {
    const bytes = new Uint8Array(entry_size_bytes(3) + 16);
    const view = new DataView(bytes.buffer);
    new Prng(2).fill(bytes.subarray(8 + 64, 8 + 64 + 3 * JOURNAL_RECORD_BYTES));
    const fields = { record_count: 3, group: 0xffff_ffff, epoch: 9, first_sequence: 2 ** 53 - 3,
      engine_time_ms: 1_234_567.5 };
    write_entry_header(view, 8, fields);
    const header = entry_header_empty();
    expect(read_entry_header(view, 8, entry_size_bytes(3), header)).toBe("ok");
    expect(header).toMatchObject({ ...fields, body_bytes: 3 * JOURNAL_RECORD_BYTES });
  });

  test("the synced mark: up to the sequence before the entry, stamped with a new header CRC", () => {
    const bytes = make_entry(new Prng(6), 100, 2);
    const view = new DataView(bytes.buffer);
    const header = entry_header_empty();
    expect(read_entry_header(view, 0, bytes.length, header)).toBe("ok");
    expect(header.synced_sequence).toBe(0);
    stamp_synced_sequence(view, 0, header, 99);
    expect(read_entry_header(view, 0, bytes.length, header)).toBe("ok");
    expect(header.synced_sequence).toBe(99);
    expect(() => stamp_synced_sequence(view, 0, header, 100)).toThrow();
    view.setFloat64(ENTRY_SYNCED_SEQUENCE_OFFSET, 100, true); // a bug, behind a valid CRC:
    view.setUint32(ENTRY_HEADER_CRC32_OFFSET, Bun.hash.crc32(bytes.subarray(0, 60)), true);
    expect(read_entry_header(view, 0, bytes.length, header)).toBe("bad_sequence");
  });

  test("sizes at the edges", () => {
    expect(entry_size_bytes(1)).toBe(64 + 80);
    expect(entry_size_bytes(JOURNAL_ENTRY_RECORDS_MAX)).toBe(64 + JOURNAL_ENTRY_RECORDS_MAX * 80);
    expect(() => entry_size_bytes(0)).toThrow();
    expect(() => entry_size_bytes(JOURNAL_ENTRY_RECORDS_MAX + 1)).toThrow();
    const view = new DataView(new ArrayBuffer(entry_size_bytes(1)));
    expect(() => write_entry_header(view, 0, { record_count: 1, group: 0, epoch: 0,
      first_sequence: 0, engine_time_ms: 0 })).toThrow();
    expect(() => write_entry_header(view, 0, { record_count: 2, group: 0, epoch: 0,
      first_sequence: 1, engine_time_ms: 0 })).toThrow();
  });

  test("zeros read as the end, a short buffer as short", () => {
    const view = new DataView(new ArrayBuffer(200));
    const header = entry_header_empty();
    expect(read_entry_header(view, 0, 200, header)).toBe("zero");
    expect(read_entry_header(view, 0, 63, header)).toBe("short");
    const bytes = make_entry(new Prng(3), 5, 2);
    const entry_view = new DataView(bytes.buffer);
    expect(read_entry_header(entry_view, 0, bytes.length - 1, header)).toBe("short");
  });

  test("every corrupted byte of header and body is detected", () => {
    const original = make_entry(new Prng(4), 100, 4);
    const header = entry_header_empty();
    const prng = new Prng(5);
    for (let index = 0; index < original.length; index++) {
      for (const flip of [1, 0x80, 1 + prng.int_below(255)]) {
        const bytes = original.slice();
        bytes[index] = (bytes[index] ?? 0) ^ flip;
        const result = read_entry_header(new DataView(bytes.buffer), 0, bytes.length, header);
        if (result === "ok") throw new Error(`byte ${index} ^ ${flip} went undetected`);
        expect(result).not.toBe("zero");
      }
    }
  });

  test("random bytes never decode as an entry", () => {
    const prng = new Prng(6);
    const bytes = new Uint8Array(4096);
    const header = entry_header_empty();
    for (let round = 0; round < 2000; round++) {
      prng.fill(bytes);
      const result = read_entry_header(new DataView(bytes.buffer), 0, bytes.length, header);
      expect(result).not.toBe("ok");
    }
  });
});
