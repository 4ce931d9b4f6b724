// Drives one GroupEngine synchronously for tests: builds orders, applies batches, reads results.

import {
  BATCH_ORDERS_MAX, JOURNAL_ENTRY_BYTES_MAX, ORDER_ID_FUTURE_SKEW_MS_MAX, ORDER_SIZE_BYTES,
  RESULT_SIZE_BYTES,
} from "../../common/constants.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import { JournalOutput } from "../../engine/journal_output.ts";
import type { GroupLimits } from "../../engine/rules.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { replay_entry } from "../../engine/replay.ts";
import {
  ENTRY_ENGINE_TIME_MS_OFFSET, ENTRY_FIRST_SEQUENCE_OFFSET, ENTRY_RECORD_COUNT_OFFSET,
  entry_header_empty, entry_size_bytes, read_entry_header,
} from "../../schema/journal_entry_layout.ts";
import {
  JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_RECORD_BYTES,
} from "../../common/constants.ts";
import {
  RECORD_BALANCE_AFTER, RECORD_HELD_AFTER, RECORD_SEQUENCE, RECORD_STATUS,
} from "../../schema/journal_record.ts";
import {
  read_order_fields, read_result_fields, write_order_fields, type OrderFields, type ResultFields,
} from "../../schema/layout.ts";

export const T0_MS = 1_700_000_000_000;
export const EUR = 978;
export const USD = 840;

export const small_limits: GroupLimits = {
  accounts_max: 1024,
  holds_max: 256,
  // 65,536 ids in the window (engine/idempotency.ts): only the window-capacity tests mean to find
  // its budget spent.
  idempotency_entries_max: 1 << 16,
  idempotency_window_ms: 60_000,
};

export interface TestOrder {
  id?: bigint;
  op: Op;
  partner?: number;
  account: bigint;
  amount?: bigint;
  ref?: bigint;
  currency?: number;
  linked?: boolean;
}

export interface TestResult extends ResultFields {
  status_name: string;
}

/** One journal record as the tests read it back. */
export interface TestRecord {
  order: OrderFields;
  sequence: number;
  engine_time_ms: number;
  balance_after: number;
  held_after: number;
  status: Status;
}

/** Every record of the journal entries, in order. */
export function read_records(entries: Uint8Array[]): TestRecord[] {
  const records: TestRecord[] = [];
  for (const bytes of entries) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at < bytes.byteLength) {
      const record_count = view.getUint32(at + ENTRY_RECORD_COUNT_OFFSET, true);
      const first_sequence = view.getFloat64(at + ENTRY_FIRST_SEQUENCE_OFFSET, true);
      const engine_time_ms = view.getFloat64(at + ENTRY_ENGINE_TIME_MS_OFFSET, true);
      for (let r = 0; r < record_count; r++) {
        const record_at = at + JOURNAL_ENTRY_HEADER_BYTES + r * JOURNAL_RECORD_BYTES;
        const sequence = view.getFloat64(record_at + RECORD_SEQUENCE, true);
        if (sequence !== first_sequence + r) throw new Error(`record sequence gap at ${sequence}`);
        records.push({
          order: read_order_fields(view, record_at),
          sequence,
          engine_time_ms,
          balance_after: view.getFloat64(record_at + RECORD_BALANCE_AFTER, true),
          held_after: view.getFloat64(record_at + RECORD_HELD_AFTER, true),
          status: view.getUint8(record_at + RECORD_STATUS),
        });
      }
      at += JOURNAL_ENTRY_HEADER_BYTES + record_count * JOURNAL_RECORD_BYTES;
    }
  }
  return records;
}

/**
 * The idempotency window's time buckets, as engine/idempotency.ts documents them (restated here, not
 * imported, so that a change there shows up in the tests): 256 buckets, of which the window and the
 * future skew span all but 4, each a power of two of ms wide; bucket n holds the ids created in
 * [n * bucket_ms, (n + 1) * bucket_ms), as many as the window's budget has room for.
 */
export const WINDOW_BUCKETS = 256;

export function window_bucket_ms(window_ms: number): number {
  const span_ms = (window_ms + ORDER_ID_FUTURE_SKEW_MS_MAX) / (WINDOW_BUCKETS - 4);
  return 2 ** Math.max(0, Math.ceil(Math.log2(span_ms)));
}

/** The start of the first window bucket at or after time_ms. */
export function bucket_start_at_or_after(time_ms: number, window_ms: number): number {
  const bucket_ms = window_bucket_ms(window_ms);
  return Math.ceil(time_ms / bucket_ms) * bucket_ms;
}

/** An order id created at time_ms (the SDK's layout: time in the high bits). */
export function order_id_at(time_ms: number, counter: number): bigint {
  return (BigInt(time_ms) << 22n) | BigInt(counter & 0x3fffff);
}

/**
 * Every order that is not a replayed retry takes exactly one new sequence, in batch order, and they
 * are the last ones of the batch (hold expiries come first); a replayed retry takes none.
 */
export function check_sequences(results: ResultFields[], sequence_before: number,
  sequence_after: number): void {
  const fresh = results.filter((result) => !result.replayed);
  const first = sequence_after - fresh.length + 1;
  if (first <= sequence_before && fresh.length > 0) throw new Error("orders took fewer sequences than expected");
  fresh.forEach((result, n) => {
    if (result.sequence !== BigInt(first + n)) {
      throw new Error(`order ${n} has sequence ${result.sequence}, expected ${first + n}`);
    }
  });
  for (const result of results) {
    if (result.replayed && (result.sequence < 1n || result.sequence > BigInt(sequence_after))) {
      throw new Error("a replayed result carries a sequence the group never gave");
    }
  }
}

export class EngineHarness {
  readonly engine: GroupEngine;
  readonly journal = new JournalOutput(JOURNAL_ENTRY_BYTES_MAX * 4);
  now_ms = T0_MS;
  private counter = 0;
  private readonly input = new DataView(new ArrayBuffer(BATCH_ORDERS_MAX * ORDER_SIZE_BYTES));
  private readonly output = new DataView(new ArrayBuffer(BATCH_ORDERS_MAX * RESULT_SIZE_BYTES));
  /** Every journal entry the engine produced, in order. */
  readonly journal_bytes: Uint8Array[] = [];

  constructor(limits: GroupLimits = small_limits, group = 0, epoch = 1) {
    this.engine = new GroupEngine(group, epoch, limits);
  }

  next_id(): bigint {
    return order_id_at(this.now_ms, ++this.counter);
  }

  batch(orders: TestOrder[]): TestResult[] {
    orders.forEach((order, k) => {
      write_order_fields(this.input, k * ORDER_SIZE_BYTES, {
        id: order.id ?? this.next_id(),
        account: order.account,
        amount: order.amount ?? 0n,
        ref: order.ref ?? 0n,
        partner: order.partner ?? 1,
        currency: order.currency ?? EUR,
        op: order.op,
        flags: order.linked ? 1 : 0,
      });
    });
    const sequence_before = this.engine.last_sequence;
    this.engine.apply_batch(this.input, 0, orders.length, this.now_ms, this.output, 0, this.journal);
    this.drain_journal();
    const results = orders.map((_, k) => {
      const fields = read_result_fields(this.output, k * RESULT_SIZE_BYTES);
      return { ...fields, status_name: Status[fields.status] ?? `status_${fields.status}` };
    });
    check_sequences(results, sequence_before, this.engine.last_sequence);
    return results;
  }

  one(order: TestOrder): TestResult {
    return this.batch([order])[0]!;
  }

  tick(now_ms: number): void {
    this.now_ms = now_ms;
    this.engine.tick(now_ms, this.journal);
    this.drain_journal();
  }

  open(account: bigint, options: { partner?: number; currency?: number; overdraft?: bigint;
    kind?: number } = {}): TestResult {
    return this.one({ op: Op.open_account, account, partner: options.partner ?? 1,
      currency: options.currency ?? EUR, amount: options.overdraft ?? 0n, ref: BigInt(options.kind ?? 3) });
  }

  account(account: bigint, partner = 1):
    { balance: number; held: number; available: number } | null {
    const slot = this.engine.accounts.find(partner, Number(account >> 32n),
      Number(account & 0xffffffffn));
    if (slot === -1) return null;
    const a = this.engine.accounts;
    return { balance: a.balance_minor(slot), held: a.held_minor(slot), available: a.available_minor(slot) };
  }

  /** Every journal record written so far. */
  records(): TestRecord[] {
    return read_records(this.journal_bytes);
  }

  /** The group's last sequence number. */
  get last_sequence(): number {
    return this.engine.last_sequence;
  }

  private drain_journal(): void {
    if (this.journal.size_bytes === 0) return;
    this.journal_bytes.push(this.journal.bytes.slice(0, this.journal.size_bytes));
    this.journal.reset();
  }
}

/** Everything replay and snapshots must rebuild, as plain values to compare. */
export function engine_state(engine: GroupEngine) {
  const a = engine.accounts;
  const accounts = [];
  for (let slot = 0; slot < a.count; slot++) {
    accounts.push([a.id_hi(slot), a.id_lo(slot), a.partner(slot), a.currency(slot), a.kind(slot),
      a.state(slot), a.balance_minor(slot), a.held_minor(slot), a.overdraft_limit_minor(slot),
      a.open_hold_count(slot), a.sequence(slot)]);
  }
  const holds: unknown[] = [];
  engine.holds.for_each_used((s) => holds.push([engine.holds.partner[s], engine.holds.id_hi[s],
    engine.holds.id_lo[s], engine.holds.state[s],
    engine.holds.amount_minor[s], engine.holds.expires_at_ms[s], engine.holds.closed_at_ms[s]]));
  const window: unknown[] = [];
  engine.window.for_each((at) => window.push([engine.window.partner[at], engine.window.id_hi(at),
    engine.window.id_lo[at], engine.window.digest[at],
    engine.window.status[at], engine.window.sequence(at), engine.window.balance_minor[at],
    engine.window.available_minor[at]]));
  return { accounts, holds, window, sequence: engine.last_sequence, time: engine.engine_time_ms };
}

/** Replays journal entries (as the harness collected them) after a sequence into an engine. */
export function replay_entries(entries: Uint8Array[], into: GroupEngine, after_sequence = 0): void {
  const header = entry_header_empty();
  for (const bytes of entries) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const read = read_entry_header(view, offset, bytes.byteLength - offset, header);
      if (read !== "ok") throw new Error(`journal entry at ${offset}: ${read}`);
      if (header.first_sequence > after_sequence) {
        replay_entry(into, header, view, offset + JOURNAL_ENTRY_HEADER_BYTES);
      }
      offset += entry_size_bytes(header.record_count);
    }
  }
}
