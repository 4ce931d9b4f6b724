// Holds (docs/design.md section 2): hold, capture up to the held amount (the rest released),
// release, expiry by engine time as an event of its own, and the statuses of late or repeated
// settlements.

import { describe, expect, test } from "bun:test";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { EngineHarness } from "./harness.ts";

function funded(amount = 1000n): EngineHarness {
  const h = new EngineHarness();
  h.open(10n);
  h.one({ op: Op.credit, account: 10n, amount });
  return h;
}

/** Opens a hold on account 10 and returns its id (the id of the order that created it). */
function hold(h: EngineHarness, amount: bigint, timeout_ms = 0n): bigint {
  const id = h.next_id();
  expect(h.one({ id, op: Op.hold, account: 10n, amount, ref: timeout_ms }).status_name).toBe("ok");
  return id;
}

describe("hold", () => {
  test("reserves funds: held up, available down, balance unchanged", () => {
    const h = funded();
    const result = h.one({ op: Op.hold, account: 10n, amount: 300n });
    expect(result.status_name).toBe("ok");
    expect(result.balance).toBe(1000n);
    expect(result.available).toBe(700n);
    expect(h.account(10n)).toEqual({ balance: 1000, held: 300, available: 700 });
  });

  test("a hold above available is insufficient_funds; exactly available is ok", () => {
    const h = funded(100n);
    hold(h, 40n);
    expect(h.one({ op: Op.hold, account: 10n, amount: 61n }).status_name).toBe("insufficient_funds");
    hold(h, 60n);
    expect(h.one({ op: Op.debit, account: 10n, amount: 1n }).status_name).toBe("insufficient_funds");
  });

  test("a timeout above 30 days is invalid", () => {
    const h = funded();
    const too_long = BigInt(30 * 24 * 3600 * 1000 + 1);
    expect(h.one({ op: Op.hold, account: 10n, amount: 1n, ref: too_long }).status_name).toBe("invalid");
    expect(h.one({ op: Op.hold, account: 10n, amount: 1n, ref: too_long - 1n }).status_name).toBe("ok");
  });
});

describe("capture", () => {
  test("full capture: balance down, held back to 0", () => {
    const h = funded();
    const id = hold(h, 300n);
    const result = h.one({ op: Op.capture, account: 10n, amount: 300n, ref: id });
    expect(result.status_name).toBe("ok");
    expect(h.account(10n)).toEqual({ balance: 700, held: 0, available: 700 });
  });

  test("partial capture: the rest is released, balance down by the captured part only", () => {
    const h = funded();
    const id = hold(h, 300n);
    const result = h.one({ op: Op.capture, account: 10n, amount: 120n, ref: id });
    expect(result.status_name).toBe("ok");
    expect(result.balance).toBe(880n);
    expect(result.available).toBe(880n);
    expect(h.account(10n)).toEqual({ balance: 880, held: 0, available: 880 });
  });

  test("capture above the held amount is capture_exceeds_hold and changes nothing", () => {
    const h = funded();
    const id = hold(h, 300n);
    expect(h.one({ op: Op.capture, account: 10n, amount: 301n, ref: id }).status_name)
      .toBe("capture_exceeds_hold");
    expect(h.account(10n)).toEqual({ balance: 1000, held: 300, available: 700 });
    expect(h.one({ op: Op.capture, account: 10n, amount: 300n, ref: id }).status_name).toBe("ok");
  });

  test("capture of zero is amount_invalid; of an unknown hold hold_not_found", () => {
    const h = funded();
    const id = hold(h, 300n);
    expect(h.one({ op: Op.capture, account: 10n, amount: 0n, ref: id }).status_name)
      .toBe("amount_invalid");
    expect(h.one({ op: Op.capture, account: 10n, amount: 1n, ref: id + 1n }).status_name)
      .toBe("hold_not_found");
  });

  test("a hold is only found through its own account", () => {
    const h = funded();
    h.open(11n);
    const id = hold(h, 300n);
    expect(h.one({ op: Op.capture, account: 11n, amount: 1n, ref: id }).status_name)
      .toBe("hold_not_found");
    expect(h.one({ op: Op.release, account: 11n, ref: id }).status_name).toBe("hold_not_found");
  });

  test("capture twice, or after a release, is hold_settled", () => {
    const h = funded();
    const captured = hold(h, 100n);
    h.one({ op: Op.capture, account: 10n, amount: 100n, ref: captured });
    expect(h.one({ op: Op.capture, account: 10n, amount: 1n, ref: captured }).status_name)
      .toBe("hold_settled");
    const released = hold(h, 100n);
    h.one({ op: Op.release, account: 10n, ref: released });
    expect(h.one({ op: Op.capture, account: 10n, amount: 1n, ref: released }).status_name)
      .toBe("hold_settled");
    expect(h.account(10n)).toEqual({ balance: 900, held: 0, available: 900 });
  });
});

describe("release", () => {
  test("gives the hold back in full; twice is hold_settled", () => {
    const h = funded();
    const id = hold(h, 300n);
    const result = h.one({ op: Op.release, account: 10n, ref: id });
    expect(result.status_name).toBe("ok");
    expect(result.available).toBe(1000n);
    expect(h.one({ op: Op.release, account: 10n, ref: id }).status_name).toBe("hold_settled");
    expect(h.account(10n)).toEqual({ balance: 1000, held: 0, available: 1000 });
  });

  test("a release with an amount is amount_invalid", () => {
    const h = funded();
    const id = hold(h, 300n);
    expect(h.one({ op: Op.release, account: 10n, ref: id, amount: 1n }).status_name)
      .toBe("amount_invalid");
    expect(h.account(10n)!.held).toBe(300);
  });
});

describe("expiry", () => {
  test("a tick past the timeout expires the hold as its own journaled event", () => {
    const h = funded();
    const id = hold(h, 300n, 5_000n);
    const sequence_before = h.last_sequence;
    h.tick(h.now_ms + 4_999);
    expect(h.account(10n)!.held).toBe(300);
    expect(h.last_sequence).toBe(sequence_before);
    h.tick(h.now_ms + 1);
    expect(h.account(10n)).toEqual({ balance: 1000, held: 0, available: 1000 });
    expect(h.last_sequence).toBe(sequence_before + 1);
    const record = h.records().at(-1)!;
    expect(record.order.op).toBe(Op.expire_hold);
    expect(record.order.id).toBe(0n);
    expect(record.order.ref).toBe(id);
    expect(record.order.account).toBe(10n);
    expect(record.order.amount).toBe(300n);
    expect(record.sequence).toBe(sequence_before + 1);
    expect(record.status).toBe(Status.ok);
    expect(record.held_after).toBe(0);
    expect(h.one({ op: Op.capture, account: 10n, amount: 300n, ref: id }).status_name)
      .toBe("hold_expired");
    expect(h.one({ op: Op.release, account: 10n, ref: id }).status_name).toBe("hold_expired");
  });

  test("a capture in the batch where the hold falls due: the expiry comes first", () => {
    const h = funded();
    const id = hold(h, 300n, 1_000n);
    const sequence_before = h.last_sequence;
    h.now_ms += 1_000;
    const result = h.one({ op: Op.capture, account: 10n, amount: 300n, ref: id });
    expect(result.status_name).toBe("hold_expired");
    expect(result.sequence).toBe(BigInt(sequence_before + 2));
    const records = h.records().slice(-2);
    expect(records.map((r) => r.order.op)).toEqual([Op.expire_hold, Op.capture]);
    expect(records.map((r) => r.sequence)).toEqual([sequence_before + 1, sequence_before + 2]);
    expect(h.account(10n)).toEqual({ balance: 1000, held: 0, available: 1000 });
  });

  test("a capture just before the timeout succeeds and the hold never expires", () => {
    const h = funded();
    const id = hold(h, 300n, 1_000n);
    h.now_ms += 999;
    expect(h.one({ op: Op.capture, account: 10n, amount: 200n, ref: id }).status_name).toBe("ok");
    const sequence = h.last_sequence;
    h.tick(h.now_ms + 10_000);
    expect(h.last_sequence).toBe(sequence);
    expect(h.account(10n)).toEqual({ balance: 800, held: 0, available: 800 });
  });

  test("holds without a timeout never expire; several due holds expire in one tick", () => {
    const h = funded();
    hold(h, 100n);
    hold(h, 50n, 2_000n);
    hold(h, 25n, 1_000n);
    const sequence_before = h.last_sequence;
    h.tick(h.now_ms + 3_000_000);
    expect(h.last_sequence).toBe(sequence_before + 2);
    expect(h.records().slice(-2).map((r) => r.order.amount)).toEqual([25n, 50n]);
    expect(h.account(10n)!.held).toBe(100);
  });

  test("a settled hold is forgotten after the window: then hold_not_found", () => {
    const h = funded();
    const id = hold(h, 100n);
    h.one({ op: Op.release, account: 10n, ref: id });
    h.tick(h.now_ms + 60_001);
    expect(h.one({ op: Op.release, account: 10n, ref: id }).status_name).toBe("hold_not_found");
  });
});
