// Shared by the event tests: a scenario run on a real GroupEngine that produces every op (expiry,
// transfers, holds, admin, rejections), journal entries walked as the journal reader hands them
// over, synthetic entries of any size for the limit tests, and a seeded PRNG.

import { expect } from "bun:test";
import { JOURNAL_ENTRY_BYTES_MAX, JOURNAL_ENTRY_HEADER_BYTES } from "../../common/constants.ts";
import { JournalOutput } from "../../engine/journal_output.ts";
import {
  RECORD_BALANCE_AFTER, RECORD_HELD_AFTER, RECORD_SEQUENCE, RECORD_STATUS,
} from "../../schema/journal_record.ts";
import { EventRecordBuilder } from "../../events/encode.ts";
import {
  entry_header_empty, read_entry_header, type EntryHeader,
} from "../../schema/journal_entry_layout.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { write_order_fields } from "../../schema/layout.ts";
import { EngineHarness, T0_MS, USD } from "../engine/harness.ts";

/** Calls `on_entry` for every entry of the drained journal buffers, as the journal reader would. */
export function each_entry(chunks: Uint8Array[],
  on_entry: (view: DataView, offset: number, header: EntryHeader) => void): void {
  const header = entry_header_empty();
  for (const bytes of chunks) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at < bytes.byteLength) {
      const result = read_entry_header(view, at, bytes.byteLength - at, header);
      if (result !== "ok") throw new Error(`journal entry at ${at}: ${result}`);
      on_entry(view, at, header);
      at += JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
    }
  }
}

/** Every journal entry into records of `builder`: sealed records are copied out. */
export function records_from_journal(chunks: Uint8Array[],
  builder = new EventRecordBuilder(0, undefined, true)): Uint8Array[] {
  const records: Uint8Array[] = [];
  each_entry(chunks, (view, offset, header) => {
    let result = builder.append_entry(view, offset, header);
    if (result !== "ok") {
      records.push(builder.seal().slice());
      builder.reset();
      result = builder.append_entry(view, offset, header);
    }
    expect(result).toBe("ok");
  });
  if (builder.event_count > 0) records.push(builder.seal().slice());
  builder.reset();
  return records;
}

/** A group's life: every op, with accepted and refused outcomes, and hold expiries. */
export function run_scenario(): EngineHarness {
  const h = new EngineHarness();
  h.open(1n, { overdraft: 500n });
  h.open(2n);
  h.open(3n, { kind: 1, currency: USD });
  h.open(4n, { partner: 2 });
  expect(h.open(1n).status_name).toBe("account_exists");
  h.one({ op: Op.credit, account: 1n, amount: 10_000n });
  h.one({ op: Op.debit, account: 1n, amount: 2_500n });
  expect(h.one({ op: Op.debit, account: 2n, amount: 1n }).status_name).toBe("insufficient_funds");
  h.one({ op: Op.check, account: 1n, amount: 100n });
  expect(h.one({ op: Op.credit, account: 99n, amount: 1n }).status_name).toBe("account_not_found");
  expect(h.one({ op: Op.credit, account: 3n, amount: 1n }).status_name).toBe("currency_mismatch");
  h.one({ op: Op.transfer, account: 1n, ref: 2n, amount: 1_000n });
  expect(h.one({ op: Op.transfer, account: 1n, ref: 4n, amount: 1n }).status_name)
    .not.toBe("ok");
  const captured = h.next_id();
  h.one({ id: captured, op: Op.hold, account: 1n, amount: 700n });
  h.one({ op: Op.capture, account: 1n, amount: 400n, ref: captured });
  expect(h.one({ op: Op.capture, account: 1n, amount: 1n, ref: captured }).status_name)
    .toBe("hold_settled");
  const released = h.next_id();
  h.one({ id: released, op: Op.hold, account: 2n, amount: 300n });
  h.one({ op: Op.release, account: 2n, ref: released });
  const expiring = h.next_id();
  h.one({ id: expiring, op: Op.hold, account: 1n, amount: 123n, ref: 1_000n });
  h.tick(T0_MS + 2_000);
  expect(h.one({ op: Op.release, account: 1n, ref: expiring }).status_name).toBe("hold_expired");
  h.one({ op: Op.freeze, account: 2n });
  expect(h.one({ op: Op.debit, account: 2n, amount: 1n }).status_name).toBe("account_frozen");
  h.one({ op: Op.unfreeze, account: 2n });
  h.one({ op: Op.set_overdraft, account: 2n, amount: 50n });
  expect(h.one({ op: Op.close_account, account: 2n }).status_name).toBe("account_not_empty");
  h.one({ op: Op.close_account, account: 3n });
  const chain = h.batch([
    { op: Op.credit, account: 1n, amount: 5n, linked: true },
    { op: Op.debit, account: 1n, amount: 1n << 40n },
  ]);
  expect(chain.map((r) => r.status_name)).toEqual(["linked_failed", "insufficient_funds"]);
  const retried = h.next_id();
  h.one({ id: retried, op: Op.credit, account: 1n, amount: 9n });
  expect(h.one({ id: retried, op: Op.credit, account: 1n, amount: 9n }).replayed).toBe(true);
  expect(h.one({ id: retried, op: Op.credit, account: 1n, amount: 8n }).status_name)
    .toBe("id_conflict");
  partner_sharing_numbers(h, [retried, captured, released]);
  return h;
}

/**
 * Partner 2 uses partner 1's account numbers and order ids: they are its own (its accounts, its
 * orders, its holds), so nothing it does touches or is refused because of partner 1's.
 */
function partner_sharing_numbers(h: EngineHarness, partner_1_ids: bigint[]): void {
  const [retried, captured, released] = partner_1_ids as [bigint, bigint, bigint];
  expect(h.open(1n, { partner: 2, overdraft: 100n }).status_name).toBe("ok");
  expect(h.one({ id: retried, op: Op.credit, partner: 2, account: 1n, amount: 70n }).status_name)
    .toBe("ok");
  expect(h.one({ id: captured, op: Op.hold, partner: 2, account: 1n, amount: 30n }).status_name)
    .toBe("ok");
  expect(h.one({ id: released, op: Op.hold, partner: 2, account: 4n, amount: 0n }).status_name)
    .toBe("amount_invalid");
  expect(h.one({ op: Op.capture, partner: 2, account: 1n, amount: 10n, ref: captured })
    .status_name).toBe("ok");
  const open_hold = h.next_id();
  expect(h.one({ id: open_hold, op: Op.hold, partner: 2, account: 1n, amount: 20n }).status_name)
    .toBe("ok");
  expect(h.one({ op: Op.transfer, partner: 2, account: 1n, ref: 4n, amount: 5n }).status_name)
    .toBe("ok");
  expect(h.one({ op: Op.transfer, partner: 2, account: 1n, ref: 2n, amount: 5n }).status_name)
    .toBe("account_not_found");
}

/**
 * One journal entry of `record_count` ok credits of account 1, built with the engine's own
 * JournalOutput (so the header and CRCs are the real ones).
 */
export function synthetic_entry(first_sequence: number, record_count: number, epoch = 1,
  engine_time_ms = T0_MS, group = 0): Uint8Array {
  const output = new JournalOutput(JOURNAL_ENTRY_BYTES_MAX);
  output.begin_entry(group, epoch, first_sequence, engine_time_ms);
  for (let r = 0; r < record_count; r++) {
    const sequence = first_sequence + r;
    const at = output.next_record(sequence);
    write_order_fields(output.view, at, {
      id: BigInt(sequence), account: 1n, amount: 1n, ref: 0n, partner: 1, currency: 978,
      op: Op.credit, flags: 0,
    });
    output.view.setFloat64(at + RECORD_SEQUENCE, sequence, true);
    output.view.setFloat64(at + RECORD_BALANCE_AFTER, sequence, true);
    output.view.setFloat64(at + RECORD_HELD_AFTER, 0, true);
    output.view.setUint8(at + RECORD_STATUS, Status.ok);
  }
  output.end_entry();
  return output.bytes.slice(0, output.size_bytes);
}

/** mulberry32: a small seeded PRNG; tests print their seed on failure. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
