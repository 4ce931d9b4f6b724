// Capacity limits of a group (common/constants.ts, GroupLimits): a full account table or hold table
// answers limit_exceeded and changes nothing; room comes back as holds are settled and forgotten.

import { describe, expect, test } from "bun:test";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness } from "./harness.ts";

const WINDOW_MS = 60_000;

/** Tiny account and hold tables; a roomy idempotency window (its limits: rules_idempotency). */
function tiny(): EngineHarness {
  return new EngineHarness({ accounts_max: 3, holds_max: 2, idempotency_entries_max: 1 << 16,
    idempotency_window_ms: WINDOW_MS });
}

describe("capacity", () => {
  test("the account table full: open_account is limit_exceeded", () => {
    const h = tiny();
    for (const account of [1n, 2n, 3n]) expect(h.open(account).status_name).toBe("ok");
    expect(h.open(4n).status_name).toBe("limit_exceeded");
    expect(h.account(4n)).toBeNull();
    expect(h.open(3n).status_name).toBe("account_exists");
  });

  test("the hold table full: hold is limit_exceeded until a settled hold is forgotten", () => {
    const h = tiny();
    h.open(1n);
    h.one({ op: Op.credit, account: 1n, amount: 100n });
    const first = h.next_id();
    h.one({ id: first, op: Op.hold, account: 1n, amount: 10n });
    h.one({ op: Op.hold, account: 1n, amount: 10n });
    const refused = h.one({ op: Op.hold, account: 1n, amount: 10n });
    expect(refused.status_name).toBe("limit_exceeded");
    expect(refused.available).toBe(80n);
    h.one({ op: Op.release, account: 1n, ref: first });
    // A settled hold stays recorded for the window (a late capture gets hold_settled).
    expect(h.one({ op: Op.hold, account: 1n, amount: 10n }).status_name).toBe("limit_exceeded");
    h.tick(h.now_ms + WINDOW_MS + 1);
    expect(h.one({ op: Op.hold, account: 1n, amount: 10n }).status_name).toBe("ok");
    expect(h.account(1n)).toEqual({ balance: 100, held: 20, available: 80 });
  });

  test("an expired hold frees its slot after the window as well", () => {
    const h = tiny();
    h.open(1n);
    h.one({ op: Op.credit, account: 1n, amount: 100n });
    h.one({ op: Op.hold, account: 1n, amount: 10n, ref: 1_000n });
    h.one({ op: Op.hold, account: 1n, amount: 10n, ref: 1_000n });
    h.tick(h.now_ms + 1_000);
    expect(h.account(1n)!.held).toBe(0);
    expect(h.one({ op: Op.hold, account: 1n, amount: 10n }).status_name).toBe("limit_exceeded");
    h.tick(h.now_ms + WINDOW_MS + 1);
    expect(h.one({ op: Op.hold, account: 1n, amount: 10n }).status_name).toBe("ok");
  });
});
