// Loading from storage, the bridge from Kafka to replay: turns the events of one Kafka record back
// into journal records (schema/journal_record.ts), so a loaded group is rebuilt by the same replay
// code as a restarted one (engine/replay.ts): recorded outcomes applied, never decided again.
//
// An event carries every field of the journal record it was built from (events/encode.ts), so the
// conversion is exact. Replay takes entries (records sharing one engine time); events are cut into
// such runs, and also at `split_after`, the sequence the stored state already holds, so that one
// run is either all history (only its ids are remembered) or all new (applied).

import { assert } from "../common/assert.ts";
import { JOURNAL_ENTRY_RECORDS_MAX, JOURNAL_RECORD_BYTES } from "../common/constants.ts";
import type { ReplayEntry } from "../engine/replay.ts";
import {
  RECORD_BALANCE_AFTER, RECORD_COUNTER_AFTER, RECORD_HELD_AFTER, RECORD_RESERVED, RECORD_SEQUENCE,
  RECORD_STATUS,
} from "../schema/journal_record.ts";
import type { EventRecord } from "../events/decode.ts";
import {
  EVENT_ACCOUNT_OFFSET, EVENT_AMOUNT_OFFSET, EVENT_BYTES, EVENT_FLAGS_OFFSET, EVENT_OP_OFFSET,
  EVENT_ORDER_ID_OFFSET, EVENT_RECORD_HEADER_BYTES, EVENT_REF_OFFSET, EVENT_STATUS_OFFSET,
  EVENT_CURRENCY_OFFSET, EVENT_PARTNER_OFFSET,
} from "../events/event_layout.ts";
import {
  ORDER_ACCOUNT_OFFSET, ORDER_AMOUNT_OFFSET, ORDER_CURRENCY_OFFSET, ORDER_FLAGS_OFFSET,
  ORDER_ID_OFFSET, ORDER_OP_OFFSET, ORDER_PARTNER_OFFSET, ORDER_REF_OFFSET,
} from "../schema/layout.ts";

/** A run of events as journal records: `records` holds entry.record_count of them from offset 0. */
export type EntryVisitor = (entry: ReplayEntry, records: DataView) => void;

export class EventEntries {
  private readonly scratch =
    new DataView(new ArrayBuffer(JOURNAL_ENTRY_RECORDS_MAX * JOURNAL_RECORD_BYTES));

  /** Calls visit for each run of `record`'s events (same engine time, same side of split_after). */
  each_entry(record: EventRecord, split_after: number, visit: EntryVisitor): void {
    const count = record.event_count;
    let start = 0;
    while (start < count) {
      const time_ms = record.engine_time_ms(start);
      const first_sequence = record.sequence(start);
      let end = start + 1;
      while (end < count && end - start < JOURNAL_ENTRY_RECORDS_MAX &&
        record.engine_time_ms(end) === time_ms &&
        (record.sequence(end) <= split_after) === (first_sequence <= split_after)) end++;
      for (let i = start; i < end; i++) {
        this.write_record(record, i, (i - start) * JOURNAL_RECORD_BYTES);
      }
      visit({ first_sequence, record_count: end - start, engine_time_ms: time_ms,
        epoch: record.header.epoch }, this.scratch);
      start = end;
    }
  }

  private write_record(record: EventRecord, index: number, at: number): void {
    const source = record.view;
    const e = EVENT_RECORD_HEADER_BYTES + index * EVENT_BYTES;
    const out = this.scratch;
    copy_u64(source, e + EVENT_ORDER_ID_OFFSET, out, at + ORDER_ID_OFFSET);
    copy_u64(source, e + EVENT_ACCOUNT_OFFSET, out, at + ORDER_ACCOUNT_OFFSET);
    copy_u64(source, e + EVENT_AMOUNT_OFFSET, out, at + ORDER_AMOUNT_OFFSET);
    copy_u64(source, e + EVENT_REF_OFFSET, out, at + ORDER_REF_OFFSET);
    const partner = source.getUint32(e + EVENT_PARTNER_OFFSET, true);
    out.setUint32(at + ORDER_PARTNER_OFFSET, partner, true);
    const currency = source.getUint16(e + EVENT_CURRENCY_OFFSET, true);
    out.setUint16(at + ORDER_CURRENCY_OFFSET, currency, true);
    out.setUint8(at + ORDER_OP_OFFSET, source.getUint8(e + EVENT_OP_OFFSET));
    out.setUint8(at + ORDER_FLAGS_OFFSET, source.getUint8(e + EVENT_FLAGS_OFFSET));
    const sequence = record.sequence(index);
    assert(Number.isSafeInteger(sequence) && sequence >= 1, "event sequence");
    out.setFloat64(at + RECORD_SEQUENCE, sequence, true);
    out.setFloat64(at + RECORD_BALANCE_AFTER, record.balance_after(index), true);
    out.setFloat64(at + RECORD_HELD_AFTER, record.held_after(index), true);
    out.setFloat64(at + RECORD_COUNTER_AFTER, record.counter_balance_after(index), true);
    out.setUint8(at + RECORD_STATUS, source.getUint8(e + EVENT_STATUS_OFFSET));
    for (let b = RECORD_RESERVED; b < JOURNAL_RECORD_BYTES; b++) out.setUint8(at + b, 0);
  }
}

function copy_u64(source: DataView, from: number, target: DataView, to: number): void {
  target.setUint32(to, source.getUint32(from, true), true);
  target.setUint32(to + 4, source.getUint32(from + 4, true), true);
}
