// The service's JSON reply read back from its bytes, for `loadgen --format json`: the results of
// a `{"results":[...]}` body written into Result structs with no text decoding, no JSON.parse and
// no object or string per result. loadgen shares the machine with the service it measures, and
// reading each reply as text through JSON.parse was about a quarter of its CPU samples in such a
// run (docs/performance.md): CPU the service did not get.
//
// It takes a body only in the exact form the service writes (schema/json.ts, REPLY_PIECES: no
// whitespace, the keys in their order, plain digits, status names the schema knows). Anything
// else returns NOT_THIS_FORM and the caller reads the body with JSON.parse (json_wire.ts), which
// decides what is valid: so this file never refuses a reply the full reader would take.

import { RESULT_FLAG_REPLAYED, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { REPLY_PIECES, STATUS_NAMES } from "../schema/json.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import {
  RESULT_AVAILABLE_OFFSET, RESULT_BALANCE_OFFSET, RESULT_FLAGS_OFFSET, RESULT_ORDER_ID_OFFSET,
  RESULT_RESERVED16_OFFSET, RESULT_RESERVED32_OFFSET, RESULT_SEQUENCE_OFFSET, RESULT_STATUS_OFFSET,
  write_i64,
} from "../schema/layout.ts";

/** reply_results_into's answer for a body not in the service's exact form. */
export const NOT_THIS_FORM = -1;

const QUOTE = 0x22;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const U32_RANGE = 2 ** 32;
const U32_MAX = U32_RANGE - 1;
/** Digits that accumulate exactly in one double (below 10^15 < 2^53) before halves carry. */
const EXACT_DIGITS = 15;

/** The statuses the schema names, by the length of their name (few share one). */
const STATUSES_BY_NAME_LENGTH: number[][] = [];
for (const value of Object.values(Status)) {
  if (typeof value !== "number") continue;
  const length = STATUS_NAMES[value]!.length;
  (STATUSES_BY_NAME_LENGTH[length] ??= []).push(value);
}

/** One reply's reading position and the last value read (no object per field). */
class ReplyReader {
  bytes: Uint8Array = new Uint8Array(0);
  at = 0;
  /** The last number read: a safe integer, or a u64's two halves. */
  value = 0;
  high = 0;
  low = 0;

  /** Whether `piece` comes next (and steps over it). */
  piece(piece: Uint8Array): boolean {
    const bytes = this.bytes;
    const at = this.at;
    if (at + piece.length > bytes.length) return false;
    for (let i = 0; i < piece.length; i++) if (bytes[at + i] !== piece[i]) return false;
    this.at = at + piece.length;
    return true;
  }

  /** Plain digits up to the closing quote (left in place) as a u64 in high and low. */
  u64(): boolean {
    const bytes = this.bytes;
    const start = this.at;
    let at = start;
    let value = 0;
    let byte = bytes[at];
    while (at < start + EXACT_DIGITS && byte !== undefined && byte >= DIGIT_0 && byte <= DIGIT_9) {
      value = value * 10 + (byte - DIGIT_0);
      byte = bytes[++at];
    }
    let high = Math.floor(value / U32_RANGE);
    let low = value - high * U32_RANGE;
    while (byte !== QUOTE) {
      if (byte === undefined || byte < DIGIT_0 || byte > DIGIT_9) return false;
      low = low * 10 + (byte - DIGIT_0);
      const carry = Math.floor(low / U32_RANGE);
      low -= carry * U32_RANGE;
      high = high * 10 + carry;
      if (high > U32_MAX) return false;
      byte = bytes[++at];
    }
    if (!plain_digits(bytes, start, at)) return false;
    this.at = at;
    this.high = high;
    this.low = low;
    return true;
  }

  /** An optionally negative integer of plain digits up to the closing quote, within 2^53 - 1. */
  safe_integer(): boolean {
    const bytes = this.bytes;
    const negative = bytes[this.at] === MINUS;
    const start = negative ? this.at + 1 : this.at;
    let at = start;
    let value = 0;
    let byte = bytes[at];
    while (byte !== QUOTE) {
      if (byte === undefined || byte < DIGIT_0 || byte > DIGIT_9) return false;
      value = value * 10 + (byte - DIGIT_0);
      if (value > Number.MAX_SAFE_INTEGER) return false;
      byte = bytes[++at];
    }
    if (!plain_digits(bytes, start, at) || (negative && value === 0)) return false;
    this.at = at;
    this.value = negative ? -value : value;
    return true;
  }

  /** A status name the schema knows, up to the closing quote (left in place); or -1. */
  status(): number {
    const bytes = this.bytes;
    const start = this.at;
    let end = start;
    while (end < bytes.length && bytes[end] !== QUOTE) end++;
    const candidates = STATUSES_BY_NAME_LENGTH[end - start];
    if (candidates === undefined || end === bytes.length) return -1;
    for (const status of candidates) {
      const name = STATUS_NAMES[status]!;
      let i = 0;
      while (i < name.length && bytes[start + i] === name[i]) i++;
      if (i === name.length) {
        this.at = end;
        return status;
      }
    }
    return -1;
  }
}

/** At least one digit, and no leading zero (JSON's and the service's form). */
function plain_digits(bytes: Uint8Array, start: number, end: number): boolean {
  return end > start && (end - start === 1 || bytes[start] !== DIGIT_0);
}

const reader = new ReplyReader();

/**
 * Writes the results of a reply in the service's exact form into `target` as Result structs and
 * returns how many; NOT_THIS_FORM (nothing to rely on in `target`) for any other body, or one
 * with more results than `target` holds.
 */
export function reply_results_into(body: Uint8Array, target: DataView): number {
  const r = reader;
  r.bytes = body;
  r.at = 0;
  if (!r.piece(REPLY_PIECES.open)) return NOT_THIS_FORM;
  let count = 0;
  for (;;) {
    if (count > 0 && !r.piece(REPLY_PIECES.comma)) break;
    const at = count * RESULT_SIZE_BYTES;
    if (at + RESULT_SIZE_BYTES > target.byteLength) return NOT_THIS_FORM;
    if (!r.piece(REPLY_PIECES.result_open)) {
      if (count > 0) return NOT_THIS_FORM; // a comma, then no result
      break;
    }
    if (!r.u64() || !r.piece(REPLY_PIECES.after_id)) return NOT_THIS_FORM;
    target.setUint32(at + RESULT_ORDER_ID_OFFSET, r.low, true);
    target.setUint32(at + RESULT_ORDER_ID_OFFSET + 4, r.high, true);
    const status = r.status();
    if (status === -1 || !r.piece(REPLY_PIECES.after_status)) return NOT_THIS_FORM;
    if (!r.safe_integer() || r.value < 0) return NOT_THIS_FORM;
    write_i64(target, at + RESULT_SEQUENCE_OFFSET, r.value);
    if (!r.piece(REPLY_PIECES.after_sequence) || !r.safe_integer()) return NOT_THIS_FORM;
    write_i64(target, at + RESULT_BALANCE_OFFSET, r.value);
    if (!r.piece(REPLY_PIECES.after_balance) || !r.safe_integer()) return NOT_THIS_FORM;
    write_i64(target, at + RESULT_AVAILABLE_OFFSET, r.value);
    let flags = 0;
    if (r.piece(REPLY_PIECES.close_replayed)) flags = RESULT_FLAG_REPLAYED;
    else if (!r.piece(REPLY_PIECES.close_not_replayed)) return NOT_THIS_FORM;
    target.setUint8(at + RESULT_STATUS_OFFSET, status);
    target.setUint8(at + RESULT_FLAGS_OFFSET, flags);
    target.setUint16(at + RESULT_RESERVED16_OFFSET, 0, true);
    target.setUint32(at + RESULT_RESERVED32_OFFSET, 0, true);
    count++;
  }
  if (!r.piece(REPLY_PIECES.close) || r.at !== body.length) return NOT_THIS_FORM;
  return count;
}
