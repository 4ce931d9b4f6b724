// The names a JSON batch may use (schema/json_batch.ts), shared by its full parser and its fast
// path (schema/json_batch_fast.ts), so the two accept the same ops, kinds and fields.

import { AccountKind } from "./generated/balance/wire/account-kind.ts";
import { Op } from "./generated/balance/wire/op.ts";

// Ops a client may send: everything but none and the engine's own expire_hold.
export const CLIENT_OPS: ReadonlyMap<string, Op> = new Map([
  ["credit", Op.credit], ["debit", Op.debit], ["check", Op.check], ["hold", Op.hold],
  ["capture", Op.capture], ["release", Op.release], ["transfer", Op.transfer],
  ["open_account", Op.open_account], ["freeze", Op.freeze], ["unfreeze", Op.unfreeze],
  ["set_overdraft", Op.set_overdraft], ["close_account", Op.close_account],
]);

export const ACCOUNT_KINDS: ReadonlyMap<string, AccountKind> = new Map([
  ["partner", AccountKind.partner], ["provider", AccountKind.provider], ["user", AccountKind.user],
]);

/** The fields every order may carry. */
export const BASE_FIELDS = ["id", "op", "partner", "account", "amount", "currency", "ref", "linked"] as const;
export type BaseField = (typeof BASE_FIELDS)[number];

// Friendly field -> the struct field it fills, per op.
export type Alias = { name: string; target: "amount" | "ref" };
export const NO_ALIASES: readonly Alias[] = [];
export const ALIASES: ReadonlyMap<Op, readonly Alias[]> = new Map([
  [Op.open_account, [
    { name: "kind", target: "ref" },
    { name: "overdraft_limit", target: "amount" },
  ]],
  [Op.set_overdraft, [{ name: "overdraft_limit", target: "amount" }]],
  [Op.hold, [{ name: "timeout_ms", target: "ref" }]],
  [Op.capture, [{ name: "hold", target: "ref" }]],
  [Op.release, [{ name: "hold", target: "ref" }]],
  [Op.transfer, [{ name: "to", target: "ref" }]],
] satisfies [Op, Alias[]][]);

/** The alias that fills an account's kind: a name from ACCOUNT_KINDS, not a number. */
export const KIND_ALIAS = "kind";
