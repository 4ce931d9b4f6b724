// Amount and balance edges (docs/design.md section 2, "Money is exact"): zero, negative (a two's
// complement negative sent as u64), oversized, the safe-integer edge, overdraft limits and check.

import { describe, expect, test } from "bun:test";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness } from "./harness.ts";

const SAFE_MAX = 2n ** 53n - 1n;
const U64_MAX = 2n ** 64n - 1n;
/** -5 in two's complement, as a client that mixed up signed and unsigned would send it. */
const MINUS_FIVE_AS_U64 = 2n ** 64n - 5n;

function with_account(overdraft = 0n): EngineHarness {
  const h = new EngineHarness();
  expect(h.open(10n, { overdraft }).status_name).toBe("ok");
  return h;
}

describe("amounts", () => {
  test("zero amount is amount_invalid for every money op", () => {
    const h = with_account();
    for (const op of [Op.credit, Op.debit, Op.check, Op.hold, Op.transfer]) {
      expect(h.one({ op, account: 10n, amount: 0n, ref: op === Op.transfer ? 11n : 0n }).status_name)
        .toBe("amount_invalid");
    }
    expect(h.account(10n)).toEqual({ balance: 0, held: 0, available: 0 });
  });

  test("a negative amount sent as u64 is amount_out_of_range", () => {
    const h = with_account();
    h.one({ op: Op.credit, account: 10n, amount: 100n });
    for (const op of [Op.credit, Op.debit, Op.check, Op.hold, Op.capture, Op.transfer]) {
      const result = h.one({ op, account: 10n, amount: MINUS_FIVE_AS_U64, ref: 11n });
      expect(result.status_name).toBe("amount_out_of_range");
      expect(result.balance).toBe(100n);
    }
    expect(h.one({ op: Op.set_overdraft, account: 10n, amount: MINUS_FIVE_AS_U64 }).status_name)
      .toBe("amount_out_of_range");
    expect(h.account(10n)).toEqual({ balance: 100, held: 0, available: 100 });
  });

  test("2^53 and above are amount_out_of_range; 2^53 - 1 is accepted", () => {
    const h = with_account();
    for (const amount of [SAFE_MAX + 1n, 2n ** 63n, U64_MAX]) {
      expect(h.one({ op: Op.credit, account: 10n, amount }).status_name).toBe("amount_out_of_range");
      expect(h.one({ op: Op.debit, account: 10n, amount }).status_name).toBe("amount_out_of_range");
    }
    const result = h.one({ op: Op.credit, account: 10n, amount: SAFE_MAX });
    expect(result.status_name).toBe("ok");
    expect(result.balance).toBe(SAFE_MAX);
    expect(h.one({ op: Op.check, account: 10n, amount: SAFE_MAX }).status_name).toBe("ok");
    expect(h.one({ op: Op.debit, account: 10n, amount: SAFE_MAX }).status_name).toBe("ok");
    expect(h.account(10n)!.balance).toBe(0);
  });

  test("open_account with an oversized overdraft is amount_out_of_range", () => {
    const h = new EngineHarness();
    expect(h.open(10n, { overdraft: SAFE_MAX + 1n }).status_name).toBe("amount_out_of_range");
    expect(h.account(10n)).toBeNull();
    expect(h.open(11n, { overdraft: SAFE_MAX }).status_name).toBe("ok");
    expect(h.account(11n)!.available).toBe(Number(SAFE_MAX));
  });
});

describe("balance range", () => {
  test("a credit past 2^53 - 1 is balance_out_of_range and changes nothing", () => {
    const h = with_account();
    expect(h.one({ op: Op.credit, account: 10n, amount: SAFE_MAX - 10n }).status_name).toBe("ok");
    expect(h.one({ op: Op.credit, account: 10n, amount: 10n }).status_name).toBe("ok");
    const result = h.one({ op: Op.credit, account: 10n, amount: 1n });
    expect(result.status_name).toBe("balance_out_of_range");
    expect(result.balance).toBe(SAFE_MAX);
  });

  test("balance + overdraft limit stays within 2^53 - 1", () => {
    const h = with_account(1000n);
    expect(h.one({ op: Op.credit, account: 10n, amount: SAFE_MAX - 1000n + 1n }).status_name)
      .toBe("balance_out_of_range");
    expect(h.one({ op: Op.credit, account: 10n, amount: SAFE_MAX - 1000n }).status_name).toBe("ok");
    expect(h.account(10n)!.available).toBe(Number(SAFE_MAX));
    // Raising the overdraft would push balance + limit past the range.
    expect(h.one({ op: Op.set_overdraft, account: 10n, amount: 1001n }).status_name)
      .toBe("balance_out_of_range");
    expect(h.one({ op: Op.set_overdraft, account: 10n, amount: 0n }).status_name).toBe("ok");
  });

  test("a transfer that would push the target past the range is refused", () => {
    const h = with_account();
    expect(h.open(11n).status_name).toBe("ok");
    h.one({ op: Op.credit, account: 10n, amount: 5n });
    h.one({ op: Op.credit, account: 11n, amount: SAFE_MAX - 4n });
    const result = h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 5n });
    expect(result.status_name).toBe("balance_out_of_range");
    expect(h.account(10n)!.balance).toBe(5);
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 4n }).status_name).toBe("ok");
    expect(h.account(11n)!.balance).toBe(Number(SAFE_MAX));
  });
});

describe("overdraft", () => {
  test("debit down to -limit is ok, one more is insufficient_funds", () => {
    const h = with_account(100n);
    expect(h.one({ op: Op.debit, account: 10n, amount: 60n }).status_name).toBe("ok");
    const at_limit = h.one({ op: Op.debit, account: 10n, amount: 40n });
    expect(at_limit.status_name).toBe("ok");
    expect(at_limit.balance).toBe(-100n);
    expect(at_limit.available).toBe(0n);
    const beyond = h.one({ op: Op.debit, account: 10n, amount: 1n });
    expect(beyond.status_name).toBe("insufficient_funds");
    expect(beyond.balance).toBe(-100n);
  });

  test("without overdraft a debit may take the balance to exactly zero", () => {
    const h = with_account();
    expect(h.one({ op: Op.debit, account: 10n, amount: 1n }).status_name).toBe("insufficient_funds");
    h.one({ op: Op.credit, account: 10n, amount: 7n });
    expect(h.one({ op: Op.debit, account: 10n, amount: 8n }).status_name).toBe("insufficient_funds");
    expect(h.one({ op: Op.debit, account: 10n, amount: 7n }).balance).toBe(0n);
  });

  test("set_overdraft lowering below what is used is refused; to exactly what is used is ok", () => {
    const h = with_account(100n);
    h.one({ op: Op.debit, account: 10n, amount: 30n });
    h.one({ op: Op.hold, account: 10n, amount: 20n });
    // Used: 30 of overdraft + 20 held = 50.
    expect(h.one({ op: Op.set_overdraft, account: 10n, amount: 49n }).status_name)
      .toBe("insufficient_funds");
    expect(h.account(10n)).toEqual({ balance: -30, held: 20, available: 50 });
    const result = h.one({ op: Op.set_overdraft, account: 10n, amount: 50n });
    expect(result.status_name).toBe("ok");
    expect(result.available).toBe(0n);
    expect(h.one({ op: Op.set_overdraft, account: 10n, amount: 500n }).available).toBe(450n);
  });
});

describe("check", () => {
  test("answers whether available >= amount and changes nothing", () => {
    const h = with_account(10n);
    h.one({ op: Op.credit, account: 10n, amount: 100n });
    h.one({ op: Op.hold, account: 10n, amount: 30n });
    const fits = h.one({ op: Op.check, account: 10n, amount: 80n });
    expect(fits.status_name).toBe("ok");
    expect(fits.balance).toBe(100n);
    expect(fits.available).toBe(80n);
    expect(h.one({ op: Op.check, account: 10n, amount: 81n }).status_name).toBe("insufficient_funds");
    expect(h.account(10n)).toEqual({ balance: 100, held: 30, available: 80 });
  });

  test("check on a frozen account answers like on an open one", () => {
    const h = with_account();
    h.one({ op: Op.credit, account: 10n, amount: 5n });
    h.one({ op: Op.freeze, account: 10n });
    expect(h.one({ op: Op.check, account: 10n, amount: 5n }).status_name).toBe("ok");
  });
});
