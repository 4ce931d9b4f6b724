// Transfers (docs/design.md section 2): debit one account and credit another of the same partner,
// atomically; refused to itself, across partners, between currencies and beyond available.

import { describe, expect, test } from "bun:test";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, USD } from "./harness.ts";

function two_accounts(): EngineHarness {
  const h = new EngineHarness();
  h.open(10n);
  h.open(11n);
  h.open(20n, { partner: 2 });
  h.open(12n, { currency: USD });
  h.one({ op: Op.credit, account: 10n, amount: 1000n });
  return h;
}

describe("transfer", () => {
  test("moves the amount; the result shows the source after it", () => {
    const h = two_accounts();
    const result = h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 400n });
    expect(result.status_name).toBe("ok");
    expect(result.balance).toBe(600n);
    expect(result.available).toBe(600n);
    expect(h.account(11n)!.balance).toBe(400);
    const record = h.records().at(-1)!;
    expect(record.balance_after).toBe(600);
  });

  test("beyond available is insufficient_funds; within the overdraft is ok", () => {
    const h = two_accounts();
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 1001n }).status_name)
      .toBe("insufficient_funds");
    h.one({ op: Op.set_overdraft, account: 10n, amount: 1n });
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 1001n }).status_name).toBe("ok");
    expect(h.account(10n)!.balance).toBe(-1);
  });

  test("to itself is same_account", () => {
    const h = two_accounts();
    expect(h.one({ op: Op.transfer, account: 10n, ref: 10n, amount: 1n }).status_name)
      .toBe("same_account");
  });

  test("to or from another partner's account is account_not_found", () => {
    const h = two_accounts();
    h.one({ op: Op.credit, partner: 2, account: 20n, amount: 50n });
    // The target is looked up among the order's partner's accounts: 20 is not one of partner 1's.
    const result = h.one({ op: Op.transfer, account: 10n, ref: 20n, amount: 1n });
    expect(result.status_name).toBe("account_not_found");
    expect(result.balance).toBe(1000n);
    expect(h.one({ op: Op.transfer, account: 20n, ref: 11n, amount: 1n }).status_name)
      .toBe("account_not_found");
    expect(h.one({ op: Op.transfer, partner: 2, account: 20n, ref: 11n, amount: 1n }).status_name)
      .toBe("account_not_found");
    expect(h.account(20n, 2)!.balance).toBe(50);
    expect(h.account(11n)!.balance).toBe(0);
  });

  test("currency mismatch on either side", () => {
    const h = two_accounts();
    h.one({ op: Op.credit, account: 12n, amount: 10n, currency: USD });
    // Source in EUR, order in EUR, target in USD.
    expect(h.one({ op: Op.transfer, account: 10n, ref: 12n, amount: 1n }).status_name)
      .toBe("currency_mismatch");
    // Source in USD, order in USD, target in EUR.
    expect(h.one({ op: Op.transfer, account: 12n, ref: 10n, amount: 1n, currency: USD }).status_name)
      .toBe("currency_mismatch");
    // Order currency differs from the source.
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 1n, currency: USD }).status_name)
      .toBe("currency_mismatch");
    expect(h.account(10n)!.balance).toBe(1000);
    expect(h.account(12n)!.balance).toBe(10);
  });

  test("held funds are not transferable", () => {
    const h = two_accounts();
    h.one({ op: Op.hold, account: 10n, amount: 600n });
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 401n }).status_name)
      .toBe("insufficient_funds");
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 400n }).status_name).toBe("ok");
  });

  test("to a closed account is account_closed; to a frozen one is ok", () => {
    const h = two_accounts();
    h.open(13n);
    h.one({ op: Op.close_account, account: 13n });
    expect(h.one({ op: Op.transfer, account: 10n, ref: 13n, amount: 1n }).status_name)
      .toBe("account_closed");
    h.one({ op: Op.freeze, account: 11n });
    expect(h.one({ op: Op.transfer, account: 10n, ref: 11n, amount: 1n }).status_name).toBe("ok");
  });
});
