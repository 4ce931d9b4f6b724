// Limits of common/constants.ts at their edges, as the engine applies them: the longest hold
// timeout, the highest currency code, and the cap on hold expiries one journal entry may carry.

import { describe, expect, test } from "bun:test";
import { CURRENCY_CODE_MAX, HOLD_TIMEOUT_MS_MAX } from "../../common/constants.ts";
import { EXPIRIES_PER_ENTRY_MAX } from "../../engine/journal_output.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, read_records } from "./harness.ts";

describe("hold timeout", () => {
  test("HOLD_TIMEOUT_MS_MAX is accepted, one ms more is invalid", () => {
    const h = new EngineHarness();
    h.open(1n);
    h.one({ op: Op.credit, account: 1n, amount: 100n });
    const longest = h.one({ op: Op.hold, account: 1n, amount: 10n, ref: BigInt(HOLD_TIMEOUT_MS_MAX) });
    expect(longest.status_name).toBe("ok");
    const beyond = h.one({ op: Op.hold, account: 1n, amount: 10n, ref: BigInt(HOLD_TIMEOUT_MS_MAX + 1) });
    expect(beyond.status_name).toBe("invalid");
    expect(h.account(1n)).toEqual({ balance: 100, held: 10, available: 90 });
  });
});

describe("currency codes", () => {
  test("CURRENCY_CODE_MAX opens an account, one more is currency_invalid, 0 too", () => {
    const h = new EngineHarness();
    expect(h.open(1n, { currency: CURRENCY_CODE_MAX }).status_name).toBe("ok");
    expect(h.open(2n, { currency: CURRENCY_CODE_MAX + 1 }).status_name).toBe("currency_invalid");
    expect(h.open(3n, { currency: 0 }).status_name).toBe("currency_invalid");
    expect(h.account(2n)).toBeNull();
  });
});

describe("expiries per entry", () => {
  test("more due holds than one entry may carry expire over the next entries, in order", () => {
    const holds = EXPIRIES_PER_ENTRY_MAX + 5;
    const h = new EngineHarness({ accounts_max: 16, holds_max: holds + 1,
      idempotency_entries_max: 1 << 20, idempotency_window_ms: 60_000 }); // 4,096 ids per bucket
    h.open(1n);
    h.one({ op: Op.credit, account: 1n, amount: BigInt(holds) });
    for (let start = 0; start < holds; start += 128) {
      const count = Math.min(128, holds - start);
      h.batch(Array.from({ length: count }, () => ({ op: Op.hold, account: 1n, amount: 1n, ref: 1_000n })));
    }
    expect(h.account(1n)!.held).toBe(holds);
    const records_before = read_records(h.journal_bytes).length;
    h.tick(h.now_ms + 1_000); // every hold is due now
    const first_tick = read_records(h.journal_bytes).slice(records_before);
    expect(first_tick.length).toBe(EXPIRIES_PER_ENTRY_MAX);
    expect(first_tick.every((record) => record.order.op === Op.expire_hold)).toBe(true);
    expect(h.account(1n)!.held).toBe(5);
    h.tick(h.now_ms + 1);
    expect(read_records(h.journal_bytes).length).toBe(records_before + holds);
    expect(h.account(1n)).toEqual({ balance: holds, held: 0, available: holds });
  });
});
