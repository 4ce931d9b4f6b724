// The decoder against bad input: every single-byte corruption of a real record is refused, random
// bytes never throw (also behind a valid magic, version and CRC), and each check has its error.

import { describe, expect, test } from "bun:test";
import { crc32 } from "../../events/crc32.ts";
import { decode_event_record, type EventDecodeError } from "../../events/decode.ts";
import {
  CRC32_START_OFFSET, EVENT_BALANCE_AFTER_OFFSET, EVENT_ENGINE_TIME_MS_OFFSET,
  EVENT_HELD_AFTER_OFFSET,
  EVENT_MAGIC, EVENT_OP_OFFSET, EVENT_RECORD_HEADER_BYTES, EVENT_RESERVED_OFFSET,
  EVENT_SEQUENCE_OFFSET, EVENT_STATUS_OFFSET, EVENT_VERSION, HEADER_CRC32_OFFSET,
  HEADER_EVENT_BYTES_OFFSET, HEADER_EVENT_COUNT_OFFSET, HEADER_FIRST_SEQUENCE_OFFSET,
  HEADER_HEADER_BYTES_OFFSET, HEADER_LAST_SEQUENCE_OFFSET, HEADER_RECORD_BYTES_OFFSET,
  HEADER_RESERVED_OFFSET, HEADER_RESERVED16_OFFSET, HEADER_VERSION_OFFSET, event_offset,
} from "../../events/event_layout.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { prng, records_from_journal, run_scenario } from "./fixtures.ts";

const good = records_from_journal(run_scenario().journal_bytes)[0]!;

function error_of(bytes: Uint8Array): EventDecodeError | "ok" {
  const result = decode_event_record(bytes);
  return result.ok ? "ok" : result.error;
}

/** A copy of the good record changed by `edit`, its CRC recomputed (so the field checks run). */
function edited(edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = good.slice();
  const view = new DataView(bytes.buffer);
  edit(view, bytes);
  view.setUint32(HEADER_CRC32_OFFSET, crc32(bytes.subarray(CRC32_START_OFFSET)), true);
  return bytes;
}

describe("corruption", () => {
  test("the good record decodes", () => {
    expect(error_of(good)).toBe("ok");
    expect(good.byteLength).toBeGreaterThan(2_000);
  });

  test("every single-byte change at every offset is refused", () => {
    for (let at = 0; at < good.byteLength; at++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bytes = good.slice();
        bytes[at]! ^= mask;
        const error = error_of(bytes);
        if (error === "ok") throw new Error(`byte ${at} ^ ${mask} went undetected`);
      }
    }
  });

  test("a version 1 record (ids shared by a group's partners) is old_version; newer bad_version",
    () => {
      for (const [version, error] of [[1, "old_version"], [EVENT_VERSION + 1, "bad_version"],
        [0, "bad_version"]] as const) {
        const bytes = good.slice();
        new DataView(bytes.buffer).setUint16(HEADER_VERSION_OFFSET, version, true);
        // The CRC made right again: the version alone refuses it.
        new DataView(bytes.buffer).setUint32(HEADER_CRC32_OFFSET,
          crc32(bytes.subarray(CRC32_START_OFFSET)), true);
        expect(error_of(bytes)).toBe(error);
      }
    });

  test("which check catches a change where", () => {
    const at = (offset: number, mask = 1): EventDecodeError | "ok" => {
      const bytes = good.slice();
      bytes[offset]! ^= mask;
      return error_of(bytes);
    };
    expect(at(0)).toBe("bad_magic");
    expect(at(HEADER_CRC32_OFFSET)).toBe("bad_crc");
    expect(at(HEADER_VERSION_OFFSET)).toBe("bad_version");
    expect(at(HEADER_RECORD_BYTES_OFFSET)).toBe("bad_crc");
    expect(at(event_offset(3) + EVENT_HELD_AFTER_OFFSET)).toBe("bad_crc");
  });

  test("truncated or extended values are refused", () => {
    for (const size of [0, 1, EVENT_RECORD_HEADER_BYTES - 1, EVENT_RECORD_HEADER_BYTES,
      good.byteLength - 96, good.byteLength - 1]) {
      expect(error_of(good.subarray(0, size))).not.toBe("ok");
    }
    const longer = new Uint8Array(good.byteLength + 96);
    longer.set(good);
    expect(error_of(longer)).toBe("bad_crc");
    expect(error_of(good.subarray(0, 63))).toBe("short");
  });
});

describe("field checks behind a valid CRC", () => {
  const cases: [string, EventDecodeError, (view: DataView, bytes: Uint8Array) => void][] = [
    ["header_bytes", "bad_length", (v) => v.setUint16(HEADER_HEADER_BYTES_OFFSET, 72, true)],
    ["event_bytes", "bad_length", (v) => v.setUint16(HEADER_EVENT_BYTES_OFFSET, 104, true)],
    ["record_bytes", "bad_length", (v) => v.setUint32(HEADER_RECORD_BYTES_OFFSET, 64, true)],
    ["event_count", "bad_length", (v) => v.setUint32(HEADER_EVENT_COUNT_OFFSET, 1, true)],
    ["event_count 0", "bad_length", (v) => v.setUint32(HEADER_EVENT_COUNT_OFFSET, 0, true)],
    ["reserved16", "bad_reserved", (v) => v.setUint16(HEADER_RESERVED16_OFFSET, 1, true)],
    ["header reserved", "bad_reserved", (_, b) => { b[HEADER_RESERVED_OFFSET + 15] = 1; }],
    ["event reserved", "bad_reserved", (_, b) => {
      b[event_offset(2) + EVENT_RESERVED_OFFSET + 14] = 1;
    }],
    ["first_sequence 0", "bad_sequence", (v) => {
      v.setUint32(HEADER_FIRST_SEQUENCE_OFFSET, 0, true);
    }],
    ["last_sequence", "bad_sequence", (v) => v.setUint32(HEADER_LAST_SEQUENCE_OFFSET, 999, true)],
    ["first_sequence unsafe", "bad_sequence", (v) => {
      v.setUint32(HEADER_FIRST_SEQUENCE_OFFSET + 4, 0x0020_0000, true);
    }],
    ["event out of sequence", "bad_sequence", (v) => {
      v.setUint32(event_offset(5) + EVENT_SEQUENCE_OFFSET, 99, true);
    }],
    ["engine time backwards", "bad_time", (v) => {
      v.setUint32(event_offset(4) + EVENT_ENGINE_TIME_MS_OFFSET, 0, true);
      v.setUint32(event_offset(4) + EVENT_ENGINE_TIME_MS_OFFSET + 4, 0, true);
    }],
    ["engine time unsafe", "bad_time", (v) => {
      v.setUint32(event_offset(0) + EVENT_ENGINE_TIME_MS_OFFSET + 4, 0xffff_ffff, true);
    }],
    ["op none", "bad_op", (v) => v.setUint8(event_offset(1) + EVENT_OP_OFFSET, Op.none)],
    ["op unknown", "bad_op", (v) => v.setUint8(event_offset(1) + EVENT_OP_OFFSET, 200)],
    ["status pending", "bad_status", (v) => {
      v.setUint8(event_offset(1) + EVENT_STATUS_OFFSET, Status.pending);
    }],
    ["status unknown", "bad_status", (v) => v.setUint8(event_offset(1) + EVENT_STATUS_OFFSET, 250)],
    ["balance unsafe", "bad_money", (v) => {
      v.setInt32(event_offset(1) + EVENT_BALANCE_AFTER_OFFSET + 4, 0x0040_0000, true);
    }],
    ["held negative", "bad_money", (v) => {
      v.setInt32(event_offset(1) + EVENT_HELD_AFTER_OFFSET, -1, true);
      v.setInt32(event_offset(1) + EVENT_HELD_AFTER_OFFSET + 4, -1, true);
    }],
  ];
  for (const [name, error, edit] of cases) {
    test(`${name} -> ${error}`, () => expect(error_of(edited(edit))).toBe(error));
  }

  test("a negative balance within range is fine (overdraft)", () => {
    const bytes = edited((v) => {
      v.setInt32(event_offset(1) + EVENT_BALANCE_AFTER_OFFSET, -5, true);
      v.setInt32(event_offset(1) + EVENT_BALANCE_AFTER_OFFSET + 4, -1, true);
    });
    const result = decode_event_record(bytes);
    expect(result.ok && result.record.balance_after(1)).toBe(-5);
  });
});

describe("random input never throws", () => {
  test("random bytes of random sizes", () => {
    const seed = 20261125;
    const random = prng(seed);
    for (let round = 0; round < 3_000; round++) {
      const bytes = new Uint8Array(Math.floor(random() * 2_000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      try {
        expect(error_of(bytes)).not.toBe("ok");
      } catch (error) {
        throw new Error(`seed ${seed}, round ${round}: ${String(error)}`);
      }
    }
  });

  test("random bodies behind a valid magic, version, lengths and CRC", () => {
    const seed = 77;
    const random = prng(seed);
    const seen = new Set<string>();
    for (let round = 0; round < 3_000; round++) {
      const bytes = good.slice();
      const view = new DataView(bytes.buffer);
      const changes = 1 + Math.floor(random() * 8);
      for (let c = 0; c < changes; c++) {
        const at = CRC32_START_OFFSET + 2 + Math.floor(random() * (bytes.length - 10));
        bytes[at] = Math.floor(random() * 256);
      }
      view.setUint32(0, EVENT_MAGIC, true);
      view.setUint16(HEADER_VERSION_OFFSET, EVENT_VERSION, true);
      view.setUint32(HEADER_CRC32_OFFSET, crc32(bytes.subarray(CRC32_START_OFFSET)), true);
      try {
        seen.add(error_of(bytes));
      } catch (error) {
        throw new Error(`seed ${seed}, round ${round}: ${String(error)}`);
      }
    }
    // Changes may land on fields with no check (ids, amounts), so "ok" is among the outcomes.
    for (const error of ["bad_length", "bad_sequence", "bad_time", "bad_op", "bad_status",
      "bad_reserved"]) {
      expect([error, seen.has(error)]).toEqual([error, true]);
    }
  });
});
