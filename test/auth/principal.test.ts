// What a partner token may send, decided for every Op: administration (and the engine's own
// expire_hold event) needs an internal token. The classification is an exhaustive switch, so a
// new Op fails the typecheck until it is decided; here every Op is tried with both kinds of token.

import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../common/assert.ts";
import { ORDER_SIZE_BYTES } from "../../common/constants.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { write_order_fields } from "../../schema/layout.ts";
import { authorize_orders, is_admin_op, type Principal } from "../../auth/principal.ts";

const PARTNER = 7;
const partner_token: Principal = { kind: "partner", partner: PARTNER, jti: "p", expires_at_ms: 0 };
const internal_token: Principal = { kind: "internal", jti: "i", expires_at_ms: 0 };
const ADMIN_OPS = [Op.open_account, Op.freeze, Op.unfreeze, Op.set_overdraft, Op.close_account,
  Op.expire_hold];
const EVERY_OP = Object.values(Op).filter((value): value is Op => typeof value === "number");

/** A credit, then one order of `op` (a raw byte: it may be no Op at all), both of PARTNER. */
function batch_with(op: number): DataView {
  const view = new DataView(new ArrayBuffer(2 * ORDER_SIZE_BYTES));
  for (let k = 0; k < 2; k++) {
    write_order_fields(view, k * ORDER_SIZE_BYTES, { id: BigInt(k + 1), account: 1n, amount: 1n,
      ref: 0n, partner: PARTNER, currency: 978, op: Op.credit, flags: 0 });
  }
  view.setUint8(ORDER_SIZE_BYTES + 38, op);
  return view;
}

describe("every Op is classified", () => {
  test("administration and expire_hold need an internal token; nothing else does", () => {
    expect(EVERY_OP.filter((op) => is_admin_op(op)).sort()).toEqual([...ADMIN_OPS].sort());
  });

  test("a value outside Op is not classified: it fails an assertion", () => {
    expect(() => is_admin_op(200 as Op)).toThrow(AssertionError);
  });
});

describe("a partner token", () => {
  test("cannot send any administration op: the batch is refused whole", () => {
    for (const op of EVERY_OP.filter((value) => is_admin_op(value))) {
      const forbidden = authorize_orders(partner_token, batch_with(op), 2);
      expect({ op: Op[op], code: forbidden?.code })
        .toEqual({ op: Op[op], code: ErrorCode.forbidden });
      expect(forbidden!.message).toContain(`order 1 is ${Op[op]}`);
      expect(authorize_orders(internal_token, batch_with(op), 2)).toBeNull();
    }
  });

  test("may send every other op, and a byte no Op names (the engine answers op_unknown)", () => {
    for (const op of EVERY_OP.filter((value) => !is_admin_op(value))) {
      expect({ op: Op[op], forbidden: authorize_orders(partner_token, batch_with(op), 2) })
        .toEqual({ op: Op[op], forbidden: null });
    }
    expect(authorize_orders(partner_token, batch_with(200), 2)).toBeNull();
  });
});
