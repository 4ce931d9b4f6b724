// Drives one GroupEngine for durability tests (orders in, results and journal entries out), and
// describes a group's whole state in comparable lines: accounts, holds (by id: slots may differ
// after a restore), the idempotency window in order, engine time and sequence.

import { assert } from "../../common/assert.ts";
import { BATCH_ORDERS_MAX, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../../common/constants.ts";
import type { GroupEngine } from "../../engine/group_engine.ts";
import { HoldState } from "../../schema/hold_state.ts";
import { JOURNAL_ENTRY_BYTES_MAX } from "../../common/constants.ts";
import { JournalOutput } from "../../engine/journal_output.ts";
import { read_result_fields, write_order_fields, type ResultFields } from "../../schema/layout.ts";
import { EUR, type TestOrder } from "../engine/harness.ts";

export class EngineDriver {
  private readonly output = new JournalOutput(JOURNAL_ENTRY_BYTES_MAX);
  private readonly input = new DataView(new ArrayBuffer(BATCH_ORDERS_MAX * ORDER_SIZE_BYTES));
  private readonly results = new DataView(new ArrayBuffer(BATCH_ORDERS_MAX * RESULT_SIZE_BYTES));

  constructor(readonly engine: GroupEngine) {}

  /** Applies a batch; returns the journal entry it produced (a copy), or null. */
  apply(orders: TestOrder[], now_ms: number): Uint8Array | null {
    orders.forEach((order, k) => {
      assert(order.id !== undefined, "durability orders carry their ids");
      write_order_fields(this.input, k * ORDER_SIZE_BYTES, {
        id: order.id, account: order.account, amount: order.amount ?? 0n, ref: order.ref ?? 0n,
        partner: order.partner ?? 1, currency: order.currency ?? EUR, op: order.op,
        flags: order.linked === true ? 1 : 0,
      });
    });
    this.engine.apply_batch(this.input, 0, orders.length, now_ms, this.results, 0, this.output);
    return this.drain();
  }

  /** Advances engine time; returns the entry of the holds it expired, or null. */
  tick(now_ms: number): Uint8Array | null {
    this.engine.tick(now_ms, this.output);
    return this.drain();
  }

  result(k: number): ResultFields {
    return read_result_fields(this.results, k * RESULT_SIZE_BYTES);
  }

  /** The raw result bytes of the last batch's first `count` orders. */
  result_bytes(count: number): Uint8Array {
    return new Uint8Array(this.results.buffer, 0, count * RESULT_SIZE_BYTES);
  }

  private drain(): Uint8Array | null {
    const size_bytes = this.output.size_bytes;
    this.output.reset();
    return size_bytes === 0 ? null : this.output.bytes.slice(0, size_bytes);
  }
}

/** The whole state of a group as lines, equal for equal states. */
export function describe_state(engine: GroupEngine): string[] {
  const lines = [`last_sequence ${engine.last_sequence}`, `engine_time_ms ${engine.engine_time_ms}`];
  const a = engine.accounts;
  for (let slot = 0; slot < a.count; slot++) {
    lines.push(`account ${slot}: ${a.id_hi(slot)}:${a.id_lo(slot)} partner ${a.partner(slot)} ` +
      `currency ${a.currency(slot)} kind ${a.kind(slot)} state ${a.state(slot)} ` +
      `balance ${a.balance_minor(slot)} held ${a.held_minor(slot)} ` +
      `overdraft ${a.overdraft_limit_minor(slot)} holds ${a.open_hold_count(slot)} ` +
      `sequence ${a.sequence(slot)}`);
  }
  const h = engine.holds;
  const holds: string[] = [];
  h.for_each_used((slot) => {
    holds.push(`hold ${h.id_hi[slot]}:${h.id_lo[slot]} account ${h.account_slot[slot]} ` +
      `amount ${h.amount_minor[slot]} expires ${h.expires_at_ms[slot]} ` +
      `closed ${h.closed_at_ms[slot]} state ${h.state[slot]}`);
  });
  lines.push(...holds.sort());
  const w = engine.window;
  w.for_each((at) => {
    lines.push(`window ${w.id_hi(at)}:${w.id_lo[at]} digest ${w.digest[at]} ` +
      `partner ${w.partner[at]} status ${w.status[at]} sequence ${w.sequence(at)} ` +
      `balance ${w.balance_minor[at]} available ${w.available_minor[at]}`);
  });
  return lines;
}

/** The same state as describe_state, as numbers: cheap to compare. */
function state_numbers(engine: GroupEngine): number[] {
  const out = [engine.last_sequence, engine.engine_time_ms];
  const a = engine.accounts;
  for (let slot = 0; slot < a.count; slot++) {
    out.push(a.id_hi(slot), a.id_lo(slot), a.partner(slot), a.currency(slot), a.kind(slot),
      a.state(slot), a.balance_minor(slot), a.held_minor(slot), a.overdraft_limit_minor(slot),
      a.open_hold_count(slot), a.sequence(slot));
  }
  const h = engine.holds;
  const slots: number[] = [];
  h.for_each_used((slot) => slots.push(slot));
  slots.sort((x, y) => h.id_hi[x]! - h.id_hi[y]! || h.id_lo[x]! - h.id_lo[y]!);
  for (const slot of slots) {
    out.push(h.id_hi[slot]!, h.id_lo[slot]!, h.account_slot[slot]!, h.amount_minor[slot]!,
      h.expires_at_ms[slot]!, h.closed_at_ms[slot]!, h.state[slot]!);
  }
  const w = engine.window;
  w.for_each((at) => {
    out.push(w.id_hi(at), w.id_lo[at]!, w.digest[at]!, w.partner[at]!, w.status[at]!,
      w.sequence(at), w.balance_minor[at]!, w.available_minor[at]!);
  });
  return out;
}

function same_numbers(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let n = 0; n < a.length; n++) if (a[n] !== b[n]) return false;
  return true;
}

/** Throws, naming the first difference, unless two engines hold the same state. */
export function expect_same_state(actual: GroupEngine, expected: GroupEngine, what: string): void {
  if (same_numbers(state_numbers(actual), state_numbers(expected))) return;
  const actual_lines = describe_state(actual);
  const expected_lines = describe_state(expected);
  const count = Math.max(actual_lines.length, expected_lines.length);
  for (let n = 0; n < count; n++) {
    if (actual_lines[n] === expected_lines[n]) continue;
    throw new Error(`${what}: state differs at line ${n}:\n  got      ${actual_lines[n]}\n` +
      `  expected ${expected_lines[n]}`);
  }
  throw new Error(`${what}: states differ`);
}

/**
 * The invariants of docs/design.md section 2 on one engine: held equals the sum of open holds, no
 * balance below -overdraft, held >= 0; returns the sum of balances (for conservation).
 */
export function check_invariants(engine: GroupEngine): number {
  const a = engine.accounts;
  const h = engine.holds;
  const held = new Float64Array(a.count);
  const open = new Uint32Array(a.count);
  h.for_each_used((slot) => {
    if (h.state[slot] !== HoldState.open) return;
    held[h.account_slot[slot]!]! += h.amount_minor[slot]!;
    open[h.account_slot[slot]!]!++;
  });
  let balance_sum = 0;
  for (let slot = 0; slot < a.count; slot++) {
    a.verify(slot);
    if (a.held_minor(slot) !== held[slot] || a.open_hold_count(slot) !== open[slot]) {
      throw new Error(`account slot ${slot}: held ${a.held_minor(slot)} in ` +
        `${a.open_hold_count(slot)} holds, but its open holds sum to ${held[slot]} in ${open[slot]}`);
    }
    balance_sum += a.balance_minor(slot);
  }
  return balance_sum;
}
