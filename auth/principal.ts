// Who a request comes from, once its token is verified, and what it may touch. The verifying side
// (keys, JWT checks, revocation) implements Authenticator; HTTP and TCP share it.

import { assert_never } from "../common/assert.ts";
import { ORDER_SIZE_BYTES } from "../common/constants.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { ORDER_OP_OFFSET } from "../schema/layout.ts";
import { is_op } from "../schema/vocabulary.ts";

/** A partner token may act only for its partner; an internal token for any partner. */
export type Principal =
  | { kind: "partner"; partner: number; jti: string; expires_at_ms: number }
  | { kind: "internal"; jti: string; expires_at_ms: number };

export type AuthFailureCode =
  | ErrorCode.not_authenticated
  | ErrorCode.token_invalid
  | ErrorCode.token_expired
  | ErrorCode.unknown_key
  | ErrorCode.token_revoked;

export interface AuthFailure {
  code: AuthFailureCode;
  message: string;
}

export interface Authenticator {
  /** Verifies a token (signature, kid, exp, nbf, iss, aud, jti not revoked). */
  authenticate(token: string): Promise<Principal | AuthFailure>;
  /** Whether a token id was revoked: checked again on open connections. */
  is_revoked(jti: string): boolean;
}

export function is_auth_failure(value: Principal | AuthFailure): value is AuthFailure {
  return "code" in value;
}

export interface Forbidden {
  code: ErrorCode.forbidden;
  message: string;
}

/**
 * Whether an op needs an internal token. Every Op is decided here, one by one: an Op added to
 * schema/balance.fbs fails the typecheck until someone says whether partners may send it.
 */
export function is_admin_op(op: Op): boolean {
  switch (op) {
    case Op.open_account:
    case Op.freeze:
    case Op.unfreeze:
    case Op.set_overdraft:
    case Op.close_account:
      return true;
    case Op.expire_hold: // the engine's own event: no client sends it, a partner not even that far
      return true;
    case Op.none: // refused op_unknown by the engine
    case Op.credit:
    case Op.debit:
    case Op.check:
    case Op.hold:
    case Op.capture:
    case Op.release:
    case Op.transfer:
      return false;
    default:
      return assert_never(op, "op");
  }
}

/**
 * Checks a batch against the principal before it reaches a ring: a partner token's orders must all
 * name its partner and must not administer accounts. One pass over the raw structs.
 */
export function authorize_orders(principal: Principal, orders: DataView, count: number)
  : Forbidden | null {
  if (principal.kind === "internal") return null;
  for (let k = 0; k < count; k++) {
    const at = k * ORDER_SIZE_BYTES;
    const partner = orders.getUint32(at + 32, true);
    if (partner !== principal.partner) {
      return { code: ErrorCode.forbidden,
        message: `order ${k} names partner ${partner}; this token acts for partner ${principal.partner}` };
    }
    const op = orders.getUint8(at + ORDER_OP_OFFSET);
    // A byte no Op names is no administration: the engine refuses it op_unknown.
    if (is_op(op) && is_admin_op(op)) {
      return { code: ErrorCode.forbidden,
        message: `order ${k} is ${Op[op]}: that needs an internal token` };
    }
  }
  return null;
}

/** The partner a read acts for: a partner token's own; an internal token's named one. */
export function partner_for_read(principal: Principal, named_partner: number): number | Forbidden {
  if (principal.kind === "internal") return named_partner;
  if (named_partner !== 0 && named_partner !== principal.partner) {
    return { code: ErrorCode.forbidden,
      message: `partner ${named_partner}; this token acts for partner ${principal.partner}` };
  }
  return principal.partner;
}
