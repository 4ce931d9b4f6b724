// The size limits at their edges: a record of exactly EVENT_RECORD_EVENTS_MAX events, the builder's
// "full" one event past its capacity, the largest journal entry in the smallest builder, and the
// decoder's bounds.

import { describe, expect, test } from "bun:test";
import { JOURNAL_ENTRY_RECORDS_MAX } from "../../common/constants.ts";
import { crc32 } from "../../events/crc32.ts";
import { decode_event_record } from "../../events/decode.ts";
import { EventRecordBuilder } from "../../events/encode.ts";
import {
  CRC32_START_OFFSET, EVENT_BYTES, EVENT_MAGIC, EVENT_RECORD_BYTES_MAX, EVENT_RECORD_BYTES_MIN,
  EVENT_RECORD_EVENTS_MAX, EVENT_RECORD_HEADER_BYTES, EVENT_VERSION, HEADER_CRC32_OFFSET,
  HEADER_EVENT_COUNT_OFFSET, HEADER_RECORD_BYTES_OFFSET, HEADER_VERSION_OFFSET,
  KAFKA_MESSAGE_BYTES_DEFAULT_MAX, event_record_bytes,
} from "../../events/event_layout.ts";
import { each_entry, synthetic_entry } from "./fixtures.ts";

function append(builder: EventRecordBuilder, bytes: Uint8Array): string {
  let result = "";
  each_entry([bytes], (view, offset, header) => {
    result = builder.append_entry(view, offset, header);
  });
  return result;
}

describe("limits", () => {
  test("the constants: under Kafka's default by 64 KiB, and the largest entry fits", () => {
    expect(EVENT_RECORD_BYTES_MAX).toBe(64 + 10_000 * 96);
    expect(EVENT_RECORD_BYTES_MAX + 64 * 1024).toBeLessThanOrEqual(KAFKA_MESSAGE_BYTES_DEFAULT_MAX);
    expect(EVENT_RECORD_BYTES_MIN).toBe(64 + JOURNAL_ENTRY_RECORDS_MAX * 96);
    expect(event_record_bytes(EVENT_RECORD_EVENTS_MAX)).toBe(EVENT_RECORD_BYTES_MAX);
    expect(() => event_record_bytes(EVENT_RECORD_EVENTS_MAX + 1)).toThrow();
    expect(() => event_record_bytes(0)).toThrow();
  });

  test("builder capacity: below the minimum or above the maximum is refused", () => {
    expect(() => new EventRecordBuilder(0, EVENT_RECORD_BYTES_MIN - 1)).toThrow();
    expect(() => new EventRecordBuilder(0, EVENT_RECORD_BYTES_MAX + 1)).toThrow();
    expect(() => new EventRecordBuilder(-1)).toThrow();
  });

  test("the largest journal entry fills the smallest builder exactly; one more is full", () => {
    const builder = new EventRecordBuilder(0, EVENT_RECORD_BYTES_MIN, true);
    expect(append(builder, synthetic_entry(1, JOURNAL_ENTRY_RECORDS_MAX))).toBe("ok");
    expect(builder.size_bytes).toBe(EVENT_RECORD_BYTES_MIN);
    expect(append(builder, synthetic_entry(JOURNAL_ENTRY_RECORDS_MAX + 1, 1))).toBe("full");
    expect(builder.seal().byteLength).toBe(EVENT_RECORD_BYTES_MIN);
    builder.reset();
    expect(append(builder, synthetic_entry(JOURNAL_ENTRY_RECORDS_MAX + 1, 1))).toBe("ok");
  });

  test("a default builder takes exactly EVENT_RECORD_EVENTS_MAX events, then is full", () => {
    const builder = new EventRecordBuilder(0, undefined, true);
    let sequence = 1;
    while (sequence <= EVENT_RECORD_EVENTS_MAX) {
      const count = Math.min(JOURNAL_ENTRY_RECORDS_MAX, EVENT_RECORD_EVENTS_MAX - sequence + 1);
      expect(append(builder, synthetic_entry(sequence, count))).toBe("ok");
      sequence += count;
    }
    expect(builder.event_count).toBe(EVENT_RECORD_EVENTS_MAX);
    expect(append(builder, synthetic_entry(sequence, 1))).toBe("full");
    const record = builder.seal();
    expect(record.byteLength).toBe(EVENT_RECORD_BYTES_MAX);
    const decoded = decode_event_record(record);
    expect(decoded.ok && decoded.record.header.last_sequence).toBe(EVENT_RECORD_EVENTS_MAX);
  });

  test("an entry one event past the capacity is full, one that meets it is ok", () => {
    const builder = new EventRecordBuilder(0, EVENT_RECORD_BYTES_MIN + 10 * EVENT_BYTES);
    expect(append(builder, synthetic_entry(1, JOURNAL_ENTRY_RECORDS_MAX))).toBe("ok");
    expect(append(builder, synthetic_entry(JOURNAL_ENTRY_RECORDS_MAX + 1, 11))).toBe("full");
    expect(append(builder, synthetic_entry(JOURNAL_ENTRY_RECORDS_MAX + 1, 10))).toBe("ok");
    expect(builder.size_bytes).toBe(builder.capacity_bytes);
  });

  test("decoder: one event more than EVENT_RECORD_EVENTS_MAX is too_large", () => {
    const count = EVENT_RECORD_EVENTS_MAX + 1;
    const bytes = new Uint8Array(EVENT_RECORD_HEADER_BYTES + count * EVENT_BYTES);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, EVENT_MAGIC, true);
    view.setUint16(HEADER_VERSION_OFFSET, EVENT_VERSION, true);
    view.setUint32(HEADER_RECORD_BYTES_OFFSET, bytes.byteLength, true);
    view.setUint32(HEADER_EVENT_COUNT_OFFSET, count, true);
    view.setUint32(HEADER_CRC32_OFFSET, crc32(bytes.subarray(CRC32_START_OFFSET)), true);
    const result = decode_event_record(bytes);
    expect(result.ok ? "ok" : result.error).toBe("too_large");
  });
});
