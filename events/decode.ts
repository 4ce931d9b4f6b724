// Reads a Kafka event record (events/event_layout.ts). Every byte is checked before it is trusted,
// in this order: size, magic, version, CRC (before any length or field is read), lengths, reserved
// bytes, sequences, then every event. Bad input is a value (a typed error), never an exception.
// No Bun API here: consumers on Node use it as it is (events/crc32.ts falls back to its table).

import { assert } from "../common/assert.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { read_i64_safe, read_u64_safe } from "../schema/layout.ts";
import { crc32 } from "./crc32.ts";
import {
  CRC32_START_OFFSET, EVENT_ACCOUNT_OFFSET, EVENT_AMOUNT_OFFSET, EVENT_BALANCE_AFTER_OFFSET,
  EVENT_BYTES, EVENT_COUNTER_BALANCE_AFTER_OFFSET, EVENT_CURRENCY_OFFSET,
  EVENT_ENGINE_TIME_MS_OFFSET, EVENT_FLAGS_OFFSET, EVENT_HELD_AFTER_OFFSET, EVENT_MAGIC,
  EVENT_OP_OFFSET, EVENT_ORDER_ID_OFFSET, EVENT_PARTNER_OFFSET, EVENT_RECORD_BYTES_MAX,
  EVENT_RECORD_EVENTS_MAX, EVENT_RECORD_HEADER_BYTES, EVENT_REF_OFFSET, EVENT_RESERVED_BYTES,
  EVENT_RESERVED_OFFSET, EVENT_SEQUENCE_OFFSET, EVENT_STATUS_OFFSET, EVENT_VERSION,
  HEADER_CRC32_OFFSET, HEADER_EPOCH_OFFSET, HEADER_EVENT_BYTES_OFFSET, HEADER_EVENT_COUNT_OFFSET,
  HEADER_FIRST_SEQUENCE_OFFSET, HEADER_GROUP_OFFSET, HEADER_HEADER_BYTES_OFFSET,
  HEADER_LAST_SEQUENCE_OFFSET, HEADER_MAGIC_OFFSET, HEADER_RECORD_BYTES_OFFSET,
  HEADER_RESERVED_BYTES, HEADER_RESERVED_OFFSET, HEADER_RESERVED16_OFFSET, HEADER_VERSION_OFFSET,
  event_offset, type EventFields, type EventRecordHeader,
} from "./event_layout.ts";

/**
 * Why a record was refused. "short": fewer bytes than a header. "too_large": above
 * EVENT_RECORD_BYTES_MAX. "bad_version": a version this reader does not know (a newer producer:
 * upgrade the consumer). "old_version": version 1, from before account and order ids were each
 * partner's own: no longer read (it had no production data). "bad_length": header_bytes,
 * event_bytes, record_bytes or event_count disagree with each other or with the value's size. "bad_sequence": first/last sequence out of
 * range or inconsistent, or an event out of sequence. "bad_time": an engine time that is not an
 * integer of ms or goes backwards. "bad_op" / "bad_status": a value the schema does not define
 * (or op none, status pending). "bad_money": a figure after that is not an exact integer.
 */
export type EventDecodeError =
  | "short"
  | "too_large"
  | "bad_magic"
  | "bad_version"
  | "old_version"
  | "bad_crc"
  | "bad_length"
  | "bad_reserved"
  | "bad_sequence"
  | "bad_time"
  | "bad_op"
  | "bad_status"
  | "bad_money";

export type EventDecodeResult =
  | { ok: true; record: EventRecord }
  | { ok: false; error: EventDecodeError };

/** A verified record: its header, and accessors for event `index` in [0, event_count). */
export class EventRecord {
  readonly header: EventRecordHeader;
  readonly view: DataView;

  constructor(view: DataView, header: EventRecordHeader) {
    this.view = view;
    this.header = header;
  }

  get event_count(): number {
    return this.header.event_count;
  }

  private at(index: number): number {
    assert(Number.isInteger(index) && index >= 0 && index < this.header.event_count,
      "event index in range");
    return event_offset(index);
  }

  sequence(index: number): number {
    return read_u64_safe(this.view, this.at(index) + EVENT_SEQUENCE_OFFSET);
  }
  engine_time_ms(index: number): number {
    return read_u64_safe(this.view, this.at(index) + EVENT_ENGINE_TIME_MS_OFFSET);
  }
  order_id(index: number): bigint {
    return this.view.getBigUint64(this.at(index) + EVENT_ORDER_ID_OFFSET, true);
  }
  account(index: number): bigint {
    return this.view.getBigUint64(this.at(index) + EVENT_ACCOUNT_OFFSET, true);
  }
  amount(index: number): bigint {
    return this.view.getBigUint64(this.at(index) + EVENT_AMOUNT_OFFSET, true);
  }
  ref(index: number): bigint {
    return this.view.getBigUint64(this.at(index) + EVENT_REF_OFFSET, true);
  }
  balance_after(index: number): number {
    return read_i64_safe(this.view, this.at(index) + EVENT_BALANCE_AFTER_OFFSET);
  }
  held_after(index: number): number {
    return read_i64_safe(this.view, this.at(index) + EVENT_HELD_AFTER_OFFSET);
  }
  counter_balance_after(index: number): number {
    return read_i64_safe(this.view, this.at(index) + EVENT_COUNTER_BALANCE_AFTER_OFFSET);
  }
  partner(index: number): number {
    return this.view.getUint32(this.at(index) + EVENT_PARTNER_OFFSET, true);
  }
  currency(index: number): number {
    return this.view.getUint16(this.at(index) + EVENT_CURRENCY_OFFSET, true);
  }
  op(index: number): Op {
    return this.view.getUint8(this.at(index) + EVENT_OP_OFFSET);
  }
  status(index: number): Status {
    return this.view.getUint8(this.at(index) + EVENT_STATUS_OFFSET);
  }
  flags(index: number): number {
    return this.view.getUint8(this.at(index) + EVENT_FLAGS_OFFSET);
  }

  /** Every field of event `index`, into `out` (reuse one: only the bigints are allocated). */
  read(index: number, out: EventFields = event_fields_empty()): EventFields {
    out.sequence = this.sequence(index);
    out.engine_time_ms = this.engine_time_ms(index);
    out.order_id = this.order_id(index);
    out.account = this.account(index);
    out.amount = this.amount(index);
    out.ref = this.ref(index);
    out.balance_after = this.balance_after(index);
    out.held_after = this.held_after(index);
    out.counter_balance_after = this.counter_balance_after(index);
    out.partner = this.partner(index);
    out.currency = this.currency(index);
    out.op = this.op(index);
    out.status = this.status(index);
    out.flags = this.flags(index);
    return out;
  }

  /** Each event as a fresh object, in sequence order. */
  *events(): IterableIterator<EventFields> {
    for (let index = 0; index < this.header.event_count; index++) yield this.read(index);
  }
}

export function event_fields_empty(): EventFields {
  return {
    sequence: 0, engine_time_ms: 0, order_id: 0n, account: 0n, amount: 0n, ref: 0n,
    balance_after: 0, held_after: 0, counter_balance_after: 0, partner: 0, currency: 0,
    op: Op.none, status: Status.ok, flags: 0,
  };
}

/** Verifies `bytes` (exactly one Kafka record value) and returns accessors over it, or why not. */
export function decode_event_record(bytes: Uint8Array): EventDecodeResult {
  if (bytes.byteLength < EVENT_RECORD_HEADER_BYTES) return refuse("short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(HEADER_MAGIC_OFFSET, true) !== EVENT_MAGIC) return refuse("bad_magic");
  const version = view.getUint16(HEADER_VERSION_OFFSET, true);
  if (version >= 1 && version < EVENT_VERSION) return refuse("old_version");
  if (version !== EVENT_VERSION) return refuse("bad_version");
  if (bytes.byteLength > EVENT_RECORD_BYTES_MAX) return refuse("too_large");
  const crc = view.getUint32(HEADER_CRC32_OFFSET, true);
  if (crc32(bytes.subarray(CRC32_START_OFFSET)) !== crc) return refuse("bad_crc");
  const header: EventRecordHeader = {
    version: EVENT_VERSION, record_bytes: 0, event_count: 0, group: 0, epoch: 0,
    first_sequence: 0, last_sequence: 0, crc32: crc,
  };
  const error = read_header(view, header);
  if (error !== null) return refuse(error);
  for (let index = 0; index < header.event_count; index++) {
    const event_error = check_event(view, event_offset(index), header.first_sequence + index);
    if (event_error !== null) return refuse(event_error);
  }
  const time_error = check_time_order(view, header.event_count);
  if (time_error !== null) return refuse(time_error);
  return { ok: true, record: new EventRecord(view, header) };
}

function refuse(error: EventDecodeError): EventDecodeResult {
  return { ok: false, error };
}

// Behind a valid CRC the fields can still be wrong if a bug wrote them: check every relation.
function read_header(view: DataView, out: EventRecordHeader): EventDecodeError | null {
  if (view.getUint16(HEADER_HEADER_BYTES_OFFSET, true) !== EVENT_RECORD_HEADER_BYTES) {
    return "bad_length";
  }
  if (view.getUint16(HEADER_EVENT_BYTES_OFFSET, true) !== EVENT_BYTES) return "bad_length";
  out.record_bytes = view.getUint32(HEADER_RECORD_BYTES_OFFSET, true);
  out.event_count = view.getUint32(HEADER_EVENT_COUNT_OFFSET, true);
  if (out.record_bytes !== view.byteLength) return "bad_length";
  if (out.event_count < 1 || out.event_count > EVENT_RECORD_EVENTS_MAX) return "bad_length";
  if (out.record_bytes !== EVENT_RECORD_HEADER_BYTES + out.event_count * EVENT_BYTES) {
    return "bad_length";
  }
  if (view.getUint16(HEADER_RESERVED16_OFFSET, true) !== 0) return "bad_reserved";
  if (!zero(view, HEADER_RESERVED_OFFSET, HEADER_RESERVED_BYTES)) return "bad_reserved";
  out.group = view.getUint32(HEADER_GROUP_OFFSET, true);
  out.epoch = view.getUint32(HEADER_EPOCH_OFFSET, true);
  out.first_sequence = read_u64_safe(view, HEADER_FIRST_SEQUENCE_OFFSET);
  out.last_sequence = read_u64_safe(view, HEADER_LAST_SEQUENCE_OFFSET);
  if (out.first_sequence < 1 || out.last_sequence < 1) return "bad_sequence";
  if (out.last_sequence !== out.first_sequence + out.event_count - 1) return "bad_sequence";
  return null;
}

function check_event(view: DataView, at: number, sequence: number): EventDecodeError | null {
  if (read_u64_safe(view, at + EVENT_SEQUENCE_OFFSET) !== sequence) return "bad_sequence";
  if (read_u64_safe(view, at + EVENT_ENGINE_TIME_MS_OFFSET) === -1) return "bad_time";
  const op = view.getUint8(at + EVENT_OP_OFFSET);
  if (op === Op.none || Op[op] === undefined) return "bad_op";
  const status = view.getUint8(at + EVENT_STATUS_OFFSET);
  if (status === Status.pending || Status[status] === undefined) return "bad_status";
  if (Number.isNaN(read_i64_safe(view, at + EVENT_BALANCE_AFTER_OFFSET))) return "bad_money";
  const counter_balance = read_i64_safe(view, at + EVENT_COUNTER_BALANCE_AFTER_OFFSET);
  if (Number.isNaN(counter_balance)) return "bad_money";
  const held = read_i64_safe(view, at + EVENT_HELD_AFTER_OFFSET);
  if (Number.isNaN(held) || held < 0) return "bad_money";
  if (!zero(view, at + EVENT_RESERVED_OFFSET, EVENT_RESERVED_BYTES)) return "bad_reserved";
  return null;
}

function check_time_order(view: DataView, event_count: number): EventDecodeError | null {
  let previous_ms = 0;
  for (let index = 0; index < event_count; index++) {
    const time_ms = read_u64_safe(view, event_offset(index) + EVENT_ENGINE_TIME_MS_OFFSET);
    if (time_ms < previous_ms) return "bad_time";
    previous_ms = time_ms;
  }
  return null;
}

function zero(view: DataView, offset: number, size_bytes: number): boolean {
  for (let at = offset; at < offset + size_bytes; at++) {
    if (view.getUint8(at) !== 0) return false;
  }
  return true;
}
