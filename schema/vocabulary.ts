// Checked guards from untrusted bytes to the wire's enums (schema/balance.fbs): a value the enum
// does not name is refused with its own status before anyone switches over the enum, so every such
// switch can be exhaustive (`default: assert_never`). The tables are built from the generated
// enums, so a value added to the schema is known here without an edit.

import { ErrorCode } from "./generated/balance/wire/error-code.ts";
import { Message } from "./generated/balance/wire/message.ts";
import { Op } from "./generated/balance/wire/op.ts";

/** Op and the Message union's type are ubytes on the wire. */
const UBYTE_VALUES = 256;

function known_values(names: Record<string, string | number>, size: number): Uint8Array {
  const known = new Uint8Array(size);
  for (const value of Object.values(names)) {
    if (typeof value === "number") known[value] = 1;
  }
  return known;
}

const OP_KNOWN = known_values(Op, UBYTE_VALUES);
const MESSAGE_KNOWN = known_values(Message, UBYTE_VALUES);
const ERROR_CODES = new Set<number>(Object.values(ErrorCode).filter((v) => typeof v === "number"));

/** Whether a byte is a value of Op (none and expire_hold included: they are values). */
export function is_op(value: number): value is Op {
  return OP_KNOWN[value] === 1;
}

/** Whether a number is a value of ErrorCode (none included). */
export function is_error_code(value: number): value is ErrorCode {
  return ERROR_CODES.has(value);
}

/** Whether a byte is a type of the Message union (NONE included). */
export function is_message(value: number): value is Message {
  return MESSAGE_KNOWN[value] === 1;
}
