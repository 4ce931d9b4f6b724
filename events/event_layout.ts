// The Kafka event record: the binary value of one Kafka record, carrying many events of ONE group
// and ONE epoch, in sequence order. Little-endian, fixed sizes, versioned; its own layout, so
// consumers are not tied to the wire struct (schema/balance.fbs) or the journal record
// (schema/journal_record.ts). events/README.md has the tables and the versioning rule.
//
// Record header, 64 bytes:
//    0  magic           u32  "BEVT" (bytes 42 45 56 54)
//    4  crc32           u32  CRC-32 (IEEE, as zlib) of bytes [8, record_bytes)
//    8  version         u16  EVENT_VERSION
//   10  header_bytes    u16  64
//   12  event_bytes     u16  96
//   14  reserved16      u16  zero
//   16  record_bytes    u32  header_bytes + event_count * event_bytes: the whole Kafka value
//   20  event_count     u32  1..EVENT_RECORD_EVENTS_MAX
//   24  group           u32  the group (= the Kafka partition)
//   28  epoch           u32  the writer's epoch of every event in the record
//   32  first_sequence  u64  the first event's sequence, a safe integer >= 1
//   40  last_sequence   u64  first_sequence + event_count - 1
//   48  reserved        16   zero
//
// Event, 96 bytes (8-aligned; events follow the header back to back):
//    0  sequence               u64  the event's sequence in its group: consecutive in a record
//    8  engine_time_ms         u64  engine time of the event (ms since the Unix epoch)
//   16  order_id               u64  as received; 0 for expire_hold (not an order)
//   24  account                u64  the order's account (expire_hold: the hold's account)
//   32  amount                 u64  as received (per op: events/README.md)
//   40  ref                    u64  per op: transfer target account, hold id, timeout, kind
//   48  balance_after          i64  the account's balance after the event
//   56  held_after             i64  the account's held amount after the event
//   64  counter_balance_after  i64  transfer: the target account's balance after; else 0
//   72  partner                u32  the order's partner: account, order_id and ref are its own
//   76  currency               u16  ISO 4217 numeric
//   78  op                     u8   Op (schema/balance.fbs)
//   79  status                 u8   Status (schema/balance.fbs); never pending
//   80  flags                  u8   the order's flags as received (bit 0: linked)
//   81  reserved               15   zero

import { assert } from "../common/assert.ts";
import { JOURNAL_ENTRY_RECORDS_MAX } from "../common/constants.ts";

export const EVENT_MAGIC = 0x54564542; // bytes "B","E","V","T" read as a little-endian u32
// 2: account, order and hold ids are each partner's own (the same layout; version 1 consumers keyed
// them by id alone, so they must refuse version 2, and version 1 is no longer read).
export const EVENT_VERSION = 2;

// --- Record header -------------------------------------------------------------------------------
// magic, crc32 and version keep their offsets in every version: a reader checks them first.
export const HEADER_MAGIC_OFFSET = 0; // u32
export const HEADER_CRC32_OFFSET = 4; // u32
export const HEADER_VERSION_OFFSET = 8; // u16
export const HEADER_HEADER_BYTES_OFFSET = 10; // u16
export const HEADER_EVENT_BYTES_OFFSET = 12; // u16
export const HEADER_RESERVED16_OFFSET = 14; // u16, zero
export const HEADER_RECORD_BYTES_OFFSET = 16; // u32
export const HEADER_EVENT_COUNT_OFFSET = 20; // u32
export const HEADER_GROUP_OFFSET = 24; // u32
export const HEADER_EPOCH_OFFSET = 28; // u32
export const HEADER_FIRST_SEQUENCE_OFFSET = 32; // u64
export const HEADER_LAST_SEQUENCE_OFFSET = 40; // u64
export const HEADER_RESERVED_OFFSET = 48; // 16 bytes, zero
export const HEADER_RESERVED_BYTES = 16;
/** The CRC covers every byte from here to the end of the record. */
export const CRC32_START_OFFSET = 8;
export const EVENT_RECORD_HEADER_BYTES = 64;

// --- Event ---------------------------------------------------------------------------------------
export const EVENT_SEQUENCE_OFFSET = 0; // u64
export const EVENT_ENGINE_TIME_MS_OFFSET = 8; // u64
export const EVENT_ORDER_ID_OFFSET = 16; // u64
export const EVENT_ACCOUNT_OFFSET = 24; // u64
export const EVENT_AMOUNT_OFFSET = 32; // u64
export const EVENT_REF_OFFSET = 40; // u64
export const EVENT_BALANCE_AFTER_OFFSET = 48; // i64
export const EVENT_HELD_AFTER_OFFSET = 56; // i64
export const EVENT_COUNTER_BALANCE_AFTER_OFFSET = 64; // i64
export const EVENT_PARTNER_OFFSET = 72; // u32
export const EVENT_CURRENCY_OFFSET = 76; // u16
export const EVENT_OP_OFFSET = 78; // u8
export const EVENT_STATUS_OFFSET = 79; // u8
export const EVENT_FLAGS_OFFSET = 80; // u8
export const EVENT_RESERVED_OFFSET = 81; // 15 bytes, zero
export const EVENT_RESERVED_BYTES = 15;
export const EVENT_BYTES = 96;

// --- Limits --------------------------------------------------------------------------------------
// Kafka's default message limits are 1 MiB (producer max.request.size 1048576, broker
// message.max.bytes 1048588) and include the batch and record framing, the key and headers: a
// record (10,000 events, 960,064 bytes) stays at least 64 KiB below that. Any one journal entry
// fits an empty record, so a publisher never meets an entry it cannot send.
export const KAFKA_MESSAGE_BYTES_DEFAULT_MAX = 1024 * 1024;
export const EVENT_RECORD_EVENTS_MAX = 10_000;
export const EVENT_RECORD_BYTES_MAX =
  EVENT_RECORD_HEADER_BYTES + EVENT_RECORD_EVENTS_MAX * EVENT_BYTES;
/** A builder's capacity may be set lower (a smaller broker limit), never below one full entry. */
export const EVENT_RECORD_BYTES_MIN =
  EVENT_RECORD_HEADER_BYTES + JOURNAL_ENTRY_RECORDS_MAX * EVENT_BYTES;

assert(HEADER_RESERVED_OFFSET + HEADER_RESERVED_BYTES === EVENT_RECORD_HEADER_BYTES,
  "the record header layout sums up to 64 bytes");
assert(HEADER_FIRST_SEQUENCE_OFFSET % 8 === 0 && HEADER_LAST_SEQUENCE_OFFSET % 8 === 0,
  "64-bit header fields are 8-aligned");
assert(EVENT_RESERVED_OFFSET + EVENT_RESERVED_BYTES === EVENT_BYTES, "the event layout sums up");
assert(EVENT_COUNTER_BALANCE_AFTER_OFFSET + 8 === EVENT_PARTNER_OFFSET,
  "the 64-bit fields come first");
assert(EVENT_BYTES % 8 === 0 && EVENT_RECORD_HEADER_BYTES % 8 === 0, "events stay 8-aligned");
assert(EVENT_RECORD_BYTES_MAX + 64 * 1024 <= KAFKA_MESSAGE_BYTES_DEFAULT_MAX,
  "a full record leaves 64 KiB for Kafka's framing under its default message limit");
assert(EVENT_RECORD_BYTES_MIN <= EVENT_RECORD_BYTES_MAX,
  "the largest journal entry fits a record");
assert(EVENT_RECORD_BYTES_MAX <= 0xffff_ffff, "record_bytes fits its u32");

/** The record header as a decoder returns it. */
export interface EventRecordHeader {
  version: number;
  record_bytes: number;
  event_count: number;
  group: number;
  epoch: number;
  first_sequence: number;
  last_sequence: number;
  crc32: number;
}

/**
 * One event with every field decoded. 64-bit ids, amount and ref are bigints (exact for any u64
 * as received); sequence, time and the figures after are safe integers.
 */
export interface EventFields {
  sequence: number;
  engine_time_ms: number;
  order_id: bigint;
  account: bigint;
  amount: bigint;
  ref: bigint;
  balance_after: number;
  held_after: number;
  counter_balance_after: number;
  partner: number;
  currency: number;
  op: number;
  status: number;
  flags: number;
}

/** The size of a record of `event_count` events. */
export function event_record_bytes(event_count: number): number {
  assert(Number.isInteger(event_count), "event_count is an integer");
  assert(event_count >= 1 && event_count <= EVENT_RECORD_EVENTS_MAX, "event_count in range");
  return EVENT_RECORD_HEADER_BYTES + event_count * EVENT_BYTES;
}

/** The byte offset of event `index` in its record. */
export function event_offset(index: number): number {
  return EVENT_RECORD_HEADER_BYTES + index * EVENT_BYTES;
}
