// Checked guards from untrusted bytes to the wire's enums (schema/balance.fbs): a byte no value of
// the enum names is refused with its own status before anyone switches over the enum, so every
// such switch can be exhaustive (`default: assert_never`). The tables follow the generated enums,
// so a value added to the schema is known here without an edit.

import { Op } from "./generated/balance/wire/op.ts";
import { Status } from "./generated/balance/wire/status.ts";

/** Both enums are ubytes on the wire. */
const UBYTE_VALUES = 256;

function known_values(names: Record<string, string | number>): Uint8Array {
  const known = new Uint8Array(UBYTE_VALUES);
  for (const value of Object.values(names)) {
    if (typeof value === "number") known[value] = 1;
  }
  return known;
}

const OP_KNOWN = known_values(Op);
const STATUS_KNOWN = known_values(Status);

/** Whether a byte is a value of Op (none and expire_hold included: they are values). */
export function is_op(value: number): value is Op {
  return OP_KNOWN[value] === 1;
}

/** Whether a byte is a value of Status. */
export function is_status(value: number): value is Status {
  return STATUS_KNOWN[value] === 1;
}
