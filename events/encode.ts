// Builds Kafka event records (events/event_layout.ts) from journal entries, as the journal reader
// hands them over (journal/journal_reader.ts OnEntry: a view, the entry's offset, its header). One
// builder per group; its buffer is allocated once and reused, so appending allocates nothing.
//
//   append_entry(...) -> "ok" | "full" | "epoch_changed"   (the last two: seal, send, reset, retry)
//   seal() -> the record's bytes (a view of the builder's buffer, valid until reset())
//
// A record holds whole entries of one epoch, in sequence order; any single entry fits an empty
// record (EVENT_RECORD_BYTES_MIN), so "full" on an empty builder cannot happen.

import { assert } from "../common/assert.ts";
import { JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_RECORD_BYTES } from "../common/constants.ts";
import {
  RECORD_BALANCE_AFTER, RECORD_COUNTER_AFTER, RECORD_HELD_AFTER, RECORD_ORDER, RECORD_SEQUENCE,
  RECORD_STATUS,
} from "../schema/journal_record.ts";
import { entry_last_sequence, type EntryFields } from "../schema/journal_entry_layout.ts";
import {
  ORDER_ACCOUNT_OFFSET, ORDER_AMOUNT_OFFSET, ORDER_CURRENCY_OFFSET, ORDER_FLAGS_OFFSET,
  ORDER_ID_OFFSET, ORDER_OP_OFFSET, ORDER_PARTNER_OFFSET, ORDER_REF_OFFSET, write_i64, write_u64,
} from "../schema/layout.ts";
import { crc32 } from "./crc32.ts";
import { decode_event_record } from "./decode.ts";
import {
  CRC32_START_OFFSET, EVENT_ACCOUNT_OFFSET, EVENT_AMOUNT_OFFSET, EVENT_BALANCE_AFTER_OFFSET,
  EVENT_BYTES, EVENT_COUNTER_BALANCE_AFTER_OFFSET, EVENT_CURRENCY_OFFSET,
  EVENT_ENGINE_TIME_MS_OFFSET, EVENT_FLAGS_OFFSET, EVENT_HELD_AFTER_OFFSET, EVENT_MAGIC,
  EVENT_OP_OFFSET, EVENT_ORDER_ID_OFFSET, EVENT_PARTNER_OFFSET, EVENT_RECORD_BYTES_MAX,
  EVENT_RECORD_BYTES_MIN, EVENT_RECORD_HEADER_BYTES, EVENT_REF_OFFSET, EVENT_RESERVED_OFFSET,
  EVENT_SEQUENCE_OFFSET, EVENT_STATUS_OFFSET, EVENT_VERSION, HEADER_CRC32_OFFSET,
  HEADER_EPOCH_OFFSET, HEADER_EVENT_BYTES_OFFSET, HEADER_EVENT_COUNT_OFFSET,
  HEADER_FIRST_SEQUENCE_OFFSET, HEADER_GROUP_OFFSET, HEADER_HEADER_BYTES_OFFSET,
  HEADER_LAST_SEQUENCE_OFFSET, HEADER_MAGIC_OFFSET, HEADER_RECORD_BYTES_OFFSET,
  HEADER_RESERVED_BYTES, HEADER_RESERVED_OFFSET, HEADER_RESERVED16_OFFSET, HEADER_VERSION_OFFSET,
} from "./event_layout.ts";

export type AppendResult = "ok" | "full" | "epoch_changed";

export class EventRecordBuilder {
  readonly group: number;
  readonly capacity_bytes: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Re-decodes every sealed record (O(n)): for tests and debugging. */
  readonly verify: boolean;
  size_bytes = EVENT_RECORD_HEADER_BYTES;
  event_count = 0;
  epoch = 0;
  first_sequence = 0;
  sealed = false;
  /** The sequence the next entry must start at; 0 until the first entry is appended. */
  next_sequence = 0;

  constructor(group: number, capacity_bytes = EVENT_RECORD_BYTES_MAX, verify = false) {
    assert(group >>> 0 === group, "group is a u32");
    assert(capacity_bytes >= EVENT_RECORD_BYTES_MIN, "a record holds the largest journal entry");
    assert(capacity_bytes <= EVENT_RECORD_BYTES_MAX, "a record stays under Kafka's message limit");
    this.group = group;
    this.capacity_bytes = capacity_bytes;
    this.bytes = new Uint8Array(capacity_bytes);
    this.view = new DataView(this.bytes.buffer);
    this.verify = verify;
  }

  /** The last sequence in the record (0 while empty). */
  get last_sequence(): number {
    return this.event_count === 0 ? 0 : this.first_sequence + this.event_count - 1;
  }

  /** Bytes the record would take with `record_count` more events. */
  size_bytes_with(record_count: number): number {
    return this.size_bytes + record_count * EVENT_BYTES;
  }

  /**
   * Appends the journal entry whose header is at `entry_offset` in `view` (checked by the reader:
   * its CRCs passed). "full" or "epoch_changed": nothing was appended; seal, send, reset, retry.
   */
  append_entry(view: DataView, entry_offset: number, entry: EntryFields): AppendResult {
    assert(!this.sealed, "append to a sealed record: reset() first");
    assert(entry.group === this.group, "one builder per group");
    assert(entry.record_count >= 1, "a journal entry holds at least one record");
    assert(this.next_sequence === 0 || entry.first_sequence === this.next_sequence,
      "journal entries arrive in sequence, without gaps");
    assert(Number.isSafeInteger(entry.engine_time_ms) && entry.engine_time_ms >= 0,
      "engine time is a non-negative integer of ms");
    if (this.event_count > 0 && entry.epoch !== this.epoch) return "epoch_changed";
    if (this.size_bytes_with(entry.record_count) > this.capacity_bytes) return "full";
    if (this.event_count === 0) {
      this.epoch = entry.epoch;
      this.first_sequence = entry.first_sequence;
    }
    const body_offset = entry_offset + JOURNAL_ENTRY_HEADER_BYTES;
    for (let r = 0; r < entry.record_count; r++) {
      const sequence = entry.first_sequence + r;
      const record_at = body_offset + r * JOURNAL_RECORD_BYTES;
      this.write_event(view, record_at, sequence, entry.engine_time_ms);
    }
    this.next_sequence = entry_last_sequence(entry) + 1;
    assert(this.last_sequence === entry_last_sequence(entry), "events follow their entry");
    return "ok";
  }

  private write_event(source: DataView, at: number, sequence: number,
    engine_time_ms: number): void {
    assert(source.getFloat64(at + RECORD_SEQUENCE, true) === sequence, "journal record sequence");
    const out = this.view;
    const e = this.size_bytes;
    const order = at + RECORD_ORDER;
    write_u64(out, e + EVENT_SEQUENCE_OFFSET, sequence);
    write_u64(out, e + EVENT_ENGINE_TIME_MS_OFFSET, engine_time_ms);
    copy_u64(source, order + ORDER_ID_OFFSET, out, e + EVENT_ORDER_ID_OFFSET);
    copy_u64(source, order + ORDER_ACCOUNT_OFFSET, out, e + EVENT_ACCOUNT_OFFSET);
    copy_u64(source, order + ORDER_AMOUNT_OFFSET, out, e + EVENT_AMOUNT_OFFSET);
    copy_u64(source, order + ORDER_REF_OFFSET, out, e + EVENT_REF_OFFSET);
    const balance_after = source.getFloat64(at + RECORD_BALANCE_AFTER, true);
    const held_after = source.getFloat64(at + RECORD_HELD_AFTER, true);
    const counter_after = source.getFloat64(at + RECORD_COUNTER_AFTER, true);
    write_i64(out, e + EVENT_BALANCE_AFTER_OFFSET, balance_after);
    write_i64(out, e + EVENT_HELD_AFTER_OFFSET, held_after);
    write_i64(out, e + EVENT_COUNTER_BALANCE_AFTER_OFFSET, counter_after);
    const partner = source.getUint32(order + ORDER_PARTNER_OFFSET, true);
    const currency = source.getUint16(order + ORDER_CURRENCY_OFFSET, true);
    out.setUint32(e + EVENT_PARTNER_OFFSET, partner, true);
    out.setUint16(e + EVENT_CURRENCY_OFFSET, currency, true);
    out.setUint8(e + EVENT_OP_OFFSET, source.getUint8(order + ORDER_OP_OFFSET));
    out.setUint8(e + EVENT_STATUS_OFFSET, source.getUint8(at + RECORD_STATUS));
    out.setUint8(e + EVENT_FLAGS_OFFSET, source.getUint8(order + ORDER_FLAGS_OFFSET));
    // 15 reserved bytes: one u8, one u16, three u32 (the buffer is reused, so always written).
    out.setUint8(e + EVENT_RESERVED_OFFSET, 0);
    out.setUint16(e + EVENT_RESERVED_OFFSET + 1, 0, true);
    out.setUint32(e + EVENT_RESERVED_OFFSET + 3, 0, true);
    out.setUint32(e + EVENT_RESERVED_OFFSET + 7, 0, true);
    out.setUint32(e + EVENT_RESERVED_OFFSET + 11, 0, true);
    this.size_bytes = e + EVENT_BYTES;
    this.event_count++;
  }

  /** Writes the header and CRC; returns the record (a view of `bytes`, valid until reset()). */
  seal(): Uint8Array {
    assert(!this.sealed, "record already sealed");
    assert(this.event_count >= 1, "a record holds at least one event");
    assert(this.size_bytes === EVENT_RECORD_HEADER_BYTES + this.event_count * EVENT_BYTES,
      "record size matches its events");
    const v = this.view;
    v.setUint32(HEADER_MAGIC_OFFSET, EVENT_MAGIC, true);
    v.setUint16(HEADER_VERSION_OFFSET, EVENT_VERSION, true);
    v.setUint16(HEADER_HEADER_BYTES_OFFSET, EVENT_RECORD_HEADER_BYTES, true);
    v.setUint16(HEADER_EVENT_BYTES_OFFSET, EVENT_BYTES, true);
    v.setUint16(HEADER_RESERVED16_OFFSET, 0, true);
    v.setUint32(HEADER_RECORD_BYTES_OFFSET, this.size_bytes, true);
    v.setUint32(HEADER_EVENT_COUNT_OFFSET, this.event_count, true);
    v.setUint32(HEADER_GROUP_OFFSET, this.group, true);
    v.setUint32(HEADER_EPOCH_OFFSET, this.epoch, true);
    write_u64(v, HEADER_FIRST_SEQUENCE_OFFSET, this.first_sequence);
    write_u64(v, HEADER_LAST_SEQUENCE_OFFSET, this.last_sequence);
    this.bytes.fill(0, HEADER_RESERVED_OFFSET, HEADER_RESERVED_OFFSET + HEADER_RESERVED_BYTES);
    const record = this.bytes.subarray(0, this.size_bytes);
    v.setUint32(HEADER_CRC32_OFFSET, crc32(record.subarray(CRC32_START_OFFSET)), true);
    this.sealed = true;
    if (this.verify) verify_record(record, this);
    return record;
  }

  /** Empties the builder for the next record (after the sealed one was handed to Kafka). */
  reset(): void {
    this.size_bytes = EVENT_RECORD_HEADER_BYTES;
    this.event_count = 0;
    this.epoch = 0;
    this.first_sequence = 0;
    this.sealed = false;
  }
}

function copy_u64(source: DataView, source_at: number, target: DataView, target_at: number): void {
  target.setUint32(target_at, source.getUint32(source_at, true), true);
  target.setUint32(target_at + 4, source.getUint32(source_at + 4, true), true);
}

function verify_record(record: Uint8Array, builder: EventRecordBuilder): void {
  const decoded = decode_event_record(record);
  assert(decoded.ok, `a sealed record decodes (${decoded.ok ? "" : decoded.error})`);
  assert(decoded.record.header.first_sequence === builder.first_sequence, "first sequence");
  assert(decoded.record.header.event_count === builder.event_count, "event count");
}
