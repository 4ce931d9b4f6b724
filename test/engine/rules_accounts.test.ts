// Account states and administration (docs/design.md section 2): unknown, frozen, closed accounts,
// opening and closing, currency checks, another partner's accounts, unknown ops.

import { describe, expect, test } from "bun:test";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, USD } from "./harness.ts";

function funded(amount = 1000n): EngineHarness {
  const h = new EngineHarness();
  h.open(10n);
  h.open(11n);
  h.one({ op: Op.credit, account: 10n, amount });
  return h;
}

describe("unknown account", () => {
  test("every op on an unknown account is account_not_found", () => {
    const h = funded();
    for (const op of [Op.credit, Op.debit, Op.check, Op.hold, Op.transfer, Op.capture]) {
      const result = h.one({ op, account: 99n, amount: 1n, ref: 10n });
      expect(result.status_name).toBe("account_not_found");
      expect(result.balance).toBe(0n);
      expect(result.available).toBe(0n);
    }
    for (const op of [Op.release, Op.freeze, Op.unfreeze, Op.close_account]) {
      expect(h.one({ op, account: 99n }).status_name).toBe("account_not_found");
    }
    expect(h.one({ op: Op.set_overdraft, account: 99n, amount: 5n }).status_name)
      .toBe("account_not_found");
  });

  test("a transfer to an unknown account is account_not_found and moves nothing", () => {
    const h = funded();
    const result = h.one({ op: Op.transfer, account: 10n, ref: 99n, amount: 5n });
    expect(result.status_name).toBe("account_not_found");
    expect(result.balance).toBe(1000n);
  });
});

describe("frozen account", () => {
  test("refuses debit, hold, transfer out and capture; accepts credit and transfer in", () => {
    const h = funded();
    const hold_id = h.next_id();
    h.one({ id: hold_id, op: Op.hold, account: 10n, amount: 100n });
    expect(h.one({ op: Op.freeze, account: 10n }).status_name).toBe("ok");
    expect(h.one({ op: Op.debit, account: 10n, amount: 1n }).status_name).toBe("account_frozen");
    expect(h.one({ op: Op.hold, account: 10n, amount: 1n }).status_name).toBe("account_frozen");
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 1n }).status_name)
      .toBe("account_frozen");
    expect(h.one({ op: Op.capture, account: 10n, ref: hold_id, amount: 1n }).status_name)
      .toBe("account_frozen");
    expect(h.one({ op: Op.credit, account: 10n, amount: 5n }).status_name).toBe("ok");
    h.one({ op: Op.credit, account: 11n, amount: 7n });
    expect(h.one({ op: Op.transfer, account: 11n, ref: 10n, amount: 7n }).status_name).toBe("ok");
    expect(h.account(10n)).toEqual({ balance: 1012, held: 100, available: 912 });
  });

  test("release still gives a hold back; unfreeze restores debits", () => {
    const h = funded();
    const hold_id = h.next_id();
    h.one({ id: hold_id, op: Op.hold, account: 10n, amount: 100n });
    h.one({ op: Op.freeze, account: 10n });
    expect(h.one({ op: Op.release, account: 10n, ref: hold_id }).status_name).toBe("ok");
    expect(h.one({ op: Op.unfreeze, account: 10n }).status_name).toBe("ok");
    expect(h.one({ op: Op.debit, account: 10n, amount: 1000n }).status_name).toBe("ok");
  });

  test("freeze and unfreeze with an amount are amount_invalid", () => {
    const h = funded();
    expect(h.one({ op: Op.freeze, account: 10n, amount: 1n }).status_name).toBe("amount_invalid");
    expect(h.one({ op: Op.debit, account: 10n, amount: 1n }).status_name).toBe("ok");
  });
});

describe("close", () => {
  test("with a balance or open holds is account_not_empty; at zero it closes", () => {
    const h = funded(100n);
    expect(h.one({ op: Op.close_account, account: 10n }).status_name).toBe("account_not_empty");
    const hold_id = h.next_id();
    h.one({ id: hold_id, op: Op.hold, account: 10n, amount: 100n });
    h.one({ op: Op.capture, account: 10n, ref: hold_id, amount: 60n });
    h.one({ op: Op.hold, account: 10n, amount: 40n });
    h.one({ op: Op.debit, account: 10n, amount: 1n }); // refused: all of it is held
    expect(h.account(10n)).toEqual({ balance: 40, held: 40, available: 0 });
    expect(h.one({ op: Op.close_account, account: 10n }).status_name).toBe("account_not_empty");
    expect(h.one({ op: Op.close_account, account: 11n }).status_name).toBe("ok");
  });

  test("a negative balance (overdraft used) is not empty either", () => {
    const h = new EngineHarness();
    h.open(10n, { overdraft: 50n });
    h.one({ op: Op.debit, account: 10n, amount: 5n });
    expect(h.one({ op: Op.close_account, account: 10n }).status_name).toBe("account_not_empty");
    h.one({ op: Op.credit, account: 10n, amount: 5n });
    expect(h.one({ op: Op.close_account, account: 10n }).status_name).toBe("ok");
  });

  test("a closed account refuses everything with account_closed", () => {
    const h = funded();
    h.one({ op: Op.close_account, account: 11n });
    for (const op of [Op.credit, Op.debit, Op.check, Op.hold, Op.transfer]) {
      expect(h.one({ op, account: 11n, amount: 1n, ref: 10n }).status_name).toBe("account_closed");
    }
    for (const op of [Op.freeze, Op.unfreeze, Op.close_account, Op.release]) {
      expect(h.one({ op, account: 11n }).status_name).toBe("account_closed");
    }
    expect(h.one({ op: Op.set_overdraft, account: 11n, amount: 1n }).status_name)
      .toBe("account_closed");
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 1n }).status_name)
      .toBe("account_closed");
    expect(h.open(11n).status_name).toBe("account_exists");
    expect(h.account(10n)!.balance).toBe(1000);
  });

  test("close with an amount is amount_invalid", () => {
    const h = funded();
    expect(h.one({ op: Op.close_account, account: 11n, amount: 1n }).status_name)
      .toBe("amount_invalid");
  });
});

describe("open", () => {
  test("bad currency is currency_invalid; bad kind is invalid; existing is account_exists", () => {
    const h = new EngineHarness();
    expect(h.open(10n, { currency: 0 }).status_name).toBe("currency_invalid");
    expect(h.open(10n, { currency: 1000 }).status_name).toBe("currency_invalid");
    expect(h.open(10n, { kind: 0 }).status_name).toBe("invalid");
    expect(h.open(10n, { kind: 4 }).status_name).toBe("invalid");
    expect(h.account(10n)).toBeNull();
    for (const kind of [1, 2, 3]) expect(h.open(BigInt(10 + kind), { kind }).status_name).toBe("ok");
    expect(h.open(999n, { currency: 999 }).status_name).toBe("ok");
    expect(h.open(11n).status_name).toBe("account_exists");
    // Account numbers are each partner's own: partner 2's 11 is another account.
    expect(h.open(11n, { partner: 2 }).status_name).toBe("ok");
    expect(h.open(11n, { partner: 2 }).status_name).toBe("account_exists");
  });

  test("a new account starts at zero with its overdraft available", () => {
    const h = new EngineHarness();
    const result = h.open(10n, { overdraft: 70n });
    expect(result.balance).toBe(0n);
    expect(result.available).toBe(70n);
  });
});

describe("currency", () => {
  test("an order in another currency is currency_mismatch", () => {
    const h = funded();
    for (const op of [Op.credit, Op.debit, Op.check, Op.hold]) {
      expect(h.one({ op, account: 10n, amount: 1n, currency: USD }).status_name)
        .toBe("currency_mismatch");
    }
    expect(h.account(10n)!.balance).toBe(1000);
  });
});

describe("partners", () => {
  test("another partner's account number is not found and learns nothing", () => {
    const h = funded();
    for (const op of [Op.credit, Op.debit, Op.check, Op.hold, Op.transfer]) {
      const result = h.one({ op, partner: 2, account: 10n, amount: 1n, ref: 11n });
      expect(result.status_name).toBe("account_not_found");
      expect(result.balance).toBe(0n);
      expect(result.available).toBe(0n);
    }
    for (const op of [Op.freeze, Op.close_account]) {
      expect(h.one({ op, partner: 2, account: 10n }).balance).toBe(0n);
    }
    expect(h.account(10n)).toEqual({ balance: 1000, held: 0, available: 1000 });
  });

  test("partner 0 is invalid", () => {
    const h = funded();
    const result = h.one({ op: Op.credit, partner: 0, account: 10n, amount: 1n });
    expect(result.status_name).toBe("invalid");
    expect(result.balance).toBe(0n);
  });
});

describe("ops", () => {
  test("op none, expire_hold from a client and unknown values are op_unknown", () => {
    const h = funded();
    for (const op of [Op.none, Op.expire_hold, 14, 200, 255]) {
      expect(h.one({ op, account: 10n, amount: 1n, ref: 1n }).status_name).toBe("op_unknown");
    }
    expect(h.account(10n)).toEqual({ balance: 1000, held: 0, available: 1000 });
  });
});
