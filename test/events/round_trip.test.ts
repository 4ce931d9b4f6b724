// Journal entries from a real GroupEngine -> event records -> decoded events: every field of every
// event equals its journal record, for every op (expire_hold included) and refused orders.

import { describe, expect, test } from "bun:test";
import { JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_RECORD_BYTES } from "../../common/constants.ts";
import { RECORD_COUNTER_AFTER } from "../../schema/journal_record.ts";
import { decode_event_record, type EventRecord } from "../../events/decode.ts";
import { EventRecordBuilder } from "../../events/encode.ts";
import {
  EVENT_BYTES, EVENT_RECORD_HEADER_BYTES, EVENT_VERSION, type EventFields,
} from "../../events/event_layout.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { EngineHarness, T0_MS } from "../engine/harness.ts";
import { each_entry, records_from_journal, run_scenario, synthetic_entry } from "./fixtures.ts";

function decode_all(records: Uint8Array[]): { records: EventRecord[]; events: EventFields[] } {
  const decoded = records.map((bytes) => {
    const result = decode_event_record(bytes);
    if (!result.ok) throw new Error(`decode: ${result.error}`);
    return result.record;
  });
  return { records: decoded, events: decoded.flatMap((record) => [...record.events()]) };
}

/** Transfer targets' balances after, by sequence, read straight from the journal. */
function counter_after_by_sequence(h: EngineHarness): Map<number, number> {
  const map = new Map<number, number>();
  each_entry(h.journal_bytes, (view, offset, header) => {
    for (let r = 0; r < header.record_count; r++) {
      const at = offset + JOURNAL_ENTRY_HEADER_BYTES + r * JOURNAL_RECORD_BYTES;
      map.set(header.first_sequence + r, view.getFloat64(at + RECORD_COUNTER_AFTER, true));
    }
  });
  return map;
}

describe("round trip from engine output", () => {
  const h = run_scenario();
  const journal = h.records();
  const { records, events } = decode_all(records_from_journal(h.journal_bytes));

  test("one record holds the whole scenario, group and epoch in its header", () => {
    expect(records.length).toBe(1);
    const header = records[0]!.header;
    expect(header).toMatchObject({ version: EVENT_VERSION, group: 0, epoch: 1, first_sequence: 1 });
    expect(header.last_sequence).toBe(h.last_sequence);
    expect(header.record_bytes).toBe(EVENT_RECORD_HEADER_BYTES + journal.length * EVENT_BYTES);
  });

  test("every event equals its journal record", () => {
    const counter_after = counter_after_by_sequence(h);
    expect(events.length).toBe(journal.length);
    journal.forEach((record, n) => {
      expect(events[n]).toEqual({
        sequence: record.sequence,
        engine_time_ms: record.engine_time_ms,
        order_id: record.order.id,
        account: record.order.account,
        amount: record.order.amount,
        ref: record.order.ref,
        balance_after: record.balance_after,
        held_after: record.held_after,
        counter_balance_after: counter_after.get(record.sequence)!,
        partner: record.order.partner,
        currency: record.order.currency,
        op: record.order.op,
        status: record.status,
        flags: record.order.flags,
      });
    });
  });

  test("every op appears with status ok; refusals appear too", () => {
    const ops_ok = new Set(events.filter((e) => e.status === Status.ok).map((e) => e.op));
    const ops = Object.values(Op).filter((v): v is Op => typeof v === "number" && v !== Op.none);
    for (const op of ops) expect([Op[op], ops_ok.has(op)]).toEqual([Op[op], true]);
    const statuses = new Set(events.map((e) => Status[e.status]));
    for (const name of ["account_exists", "insufficient_funds", "account_not_found",
      "currency_mismatch", "hold_settled", "hold_expired", "account_frozen",
      "account_not_empty", "linked_failed", "id_conflict"]) {
      expect([name, statuses.has(name)]).toEqual([name, true]);
    }
  });

  test("the expiry: order id 0, the hold's account, amount and id, held back down", () => {
    const expiry = events.find((e) => e.op === Op.expire_hold)!;
    const hold = events.find((e) => e.op === Op.hold && e.order_id === expiry.ref)!;
    expect(expiry.order_id).toBe(0n);
    expect(expiry.account).toBe(hold.account);
    expect(expiry.amount).toBe(hold.amount);
    expect(expiry.held_after).toBe(hold.held_after - Number(hold.amount));
    expect(expiry.engine_time_ms).toBe(T0_MS + 2_000);
  });

  test("a transfer carries the target and its balance after", () => {
    const transfer = events.find((e) => e.op === Op.transfer && e.status === Status.ok)!;
    expect(transfer.ref).toBe(2n);
    expect(transfer.balance_after).toBe(10_000 - 2_500 - 1_000);
    expect(transfer.counter_balance_after).toBe(1_000);
  });

  test("the accessors agree with read()", () => {
    const record = records[0]!;
    for (let i = 0; i < record.event_count; i++) {
      const e = record.read(i);
      expect([record.sequence(i), record.op(i), record.status(i), record.balance_after(i)])
        .toEqual([e.sequence, e.op, e.status, e.balance_after]);
      expect([record.account(i), record.order_id(i), record.amount(i), record.ref(i)])
        .toEqual([e.account, e.order_id, e.amount, e.ref]);
    }
  });

  test("an out-of-range index is a programmer error (assertion)", () => {
    expect(() => records[0]!.sequence(records[0]!.event_count)).toThrow("event index in range");
  });
});

describe("builder", () => {
  test("an epoch change seals the record: each record has one epoch, sequences continue", () => {
    const builder = new EventRecordBuilder(0, undefined, true);
    const first = synthetic_entry(1, 3, 1);
    const second = synthetic_entry(4, 2, 2);
    const out: Uint8Array[] = [];
    for (const bytes of [first, second]) {
      each_entry([bytes], (view, offset, header) => {
        if (builder.append_entry(view, offset, header) === "ok") return;
        expect(builder.append_entry(view, offset, header)).toBe("epoch_changed");
        out.push(builder.seal().slice());
        builder.reset();
        expect(builder.append_entry(view, offset, header)).toBe("ok");
      });
    }
    out.push(builder.seal().slice());
    const { records } = decode_all(out);
    expect(records.map((r) => [r.header.epoch, r.header.first_sequence, r.header.event_count]))
      .toEqual([[1, 1, 3], [2, 4, 2]]);
  });

  test("a sequence gap between entries, another group, a sealed record: assertions", () => {
    const builder = new EventRecordBuilder(0);
    each_entry([synthetic_entry(1, 2)], (view, offset, header) => {
      builder.append_entry(view, offset, header);
    });
    each_entry([synthetic_entry(4, 1)], (view, offset, header) => {
      expect(() => builder.append_entry(view, offset, header)).toThrow("without gaps");
    });
    each_entry([synthetic_entry(3, 1, 1, T0_MS, 5)], (view, offset, header) => {
      expect(() => builder.append_entry(view, offset, header)).toThrow("one builder per group");
    });
    builder.seal();
    each_entry([synthetic_entry(3, 1)], (view, offset, header) => {
      expect(() => builder.append_entry(view, offset, header)).toThrow("reset() first");
    });
    builder.reset();
    expect(() => builder.seal()).toThrow("at least one event");
  });

  test("a reused buffer leaves no stale bytes: the same entries give the same record", () => {
    const h = run_scenario();
    const builder = new EventRecordBuilder(0);
    const once = records_from_journal(h.journal_bytes, builder);
    builder.bytes.fill(0xa5);
    builder.next_sequence = 0;
    expect(records_from_journal(h.journal_bytes, builder)).toEqual(once);
  });
});
