// The JSON batch's fast path (schema/json_batch_fast.ts) against the full parser
// (schema/json_batch.ts): whatever body the fast path takes, the full parser takes with the same
// mode and the same order bytes; whatever the full parser refuses, the fast path leaves to it.
// Bodies: random batches of every op with every field and alias in random order, numbers as
// strings and as JSON integers (up to 2^64 - 1), random JSON whitespace; then the same bodies
// damaged one byte at a time (changed, removed or doubled) and with values the fast path must
// decline (escapes, fractions, duplicates, values over a field's width, unknown names).

import { describe, expect, test } from "bun:test";
import { BATCH_ORDERS_MAX } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { parse_batch_json } from "../../schema/json_batch.ts";
import { parse_batch_json_fast } from "../../schema/json_batch_fast.ts";
import { ALIASES, CLIENT_OPS } from "../../schema/json_batch_fields.ts";

const SEED = 20_261_203;
const RANDOM_BODIES = 3_000;
const DAMAGED_PER_BODY = 8;
const ENCODER = new TextEncoder();
const SPACES = [" ", "\n", "\t", "\r\n", "  "];
const OP_NAMES = [...CLIENT_OPS.keys()];

class BodyMaker {
  constructor(private readonly random: Prng) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random.next_float() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.random.next_float() < p;
  }

  space(): string {
    return this.chance(0.8) ? "" : this.pick(SPACES);
  }

  /** An unsigned value below 2^bits: a decimal string, or a JSON integer when it is safe. */
  unsigned(bits: number): string {
    const width = 1 + Math.floor(this.random.next_float() * bits);
    let value = 0n;
    for (let i = 0; i < width; i += 16) value = (value << 16n) | BigInt(this.random.next_u32() & 0xffff);
    value &= (1n << BigInt(width)) - 1n;
    if (value < 10n ** 15n && this.chance(0.4)) return value.toString();
    return `"${value}"`;
  }

  order(): string {
    const op = this.pick(OP_NAMES);
    const fields: [string, string][] = [
      ["id", this.unsigned(64)], ["op", `"${op}"`], ["partner", this.unsigned(32)],
      ["account", this.unsigned(64)],
    ];
    if (this.chance(0.7)) fields.push(["amount", this.unsigned(64)]);
    if (this.chance(0.7)) fields.push(["currency", this.unsigned(16)]);
    if (this.chance(0.2)) fields.push(["linked", this.chance(0.5) ? "true" : "false"]);
    const aliases = ALIASES.get(CLIENT_OPS.get(op)!) ?? [];
    for (const alias of aliases) {
      if (!this.chance(0.6) || fields.some(([name]) =>
        name === alias.target || aliases.some((other) =>
          other.name === name && other.target === alias.target))) continue;
      const value = alias.name === "kind" ? `"${this.pick(["partner", "provider", "user"])}"`
        : this.unsigned(64);
      fields.push([alias.name, value]);
    }
    const ref_given = fields.some(([name]) =>
      name === "ref" || aliases.some((alias) => alias.name === name && alias.target === "ref"));
    if (!ref_given && this.chance(0.3)) {
      fields.push(["ref", this.unsigned(64)]);
    }
    for (let i = fields.length - 1; i > 0; i--) { // any key order
      const j = Math.floor(this.random.next_float() * (i + 1));
      [fields[i], fields[j]] = [fields[j]!, fields[i]!];
    }
    const s = (): string => this.space();
    return `${s()}{${fields.map(([name, value]) => `${s()}"${name}"${s()}:${s()}${value}${s()}`)
      .join(",")}}${s()}`;
  }

  body(): string {
    const count = 1 + Math.floor(this.random.next_float() * (this.chance(0.05) ? BATCH_ORDERS_MAX : 20));
    const orders = Array.from({ length: count }, () => this.order()).join(",");
    const members = [`"orders"${this.space()}:${this.space()}[${orders}]`];
    if (this.chance(0.5)) members.push(`"mode":"${this.pick(["committed", "accepted"])}"`);
    if (this.chance(0.5)) members.reverse();
    return `${this.space()}{${members.join(",")}}${this.space()}`;
  }

  /** One byte changed, removed or doubled. */
  damaged(body: string): string {
    const at = Math.floor(this.random.next_float() * body.length);
    const kind = this.random.next_u32() % 3;
    if (kind === 0) {
      const byte = this.pick([...'{}[]",:0123456789-.eE tfnlru\\']);
      return body.slice(0, at) + byte + body.slice(at + 1);
    }
    if (kind === 1) return body.slice(0, at) + body.slice(at + 1);
    return body.slice(0, at) + body[at] + body.slice(at);
  }
}

/** The fast path's answer checked against the full parser's; returns whether it took the body. */
function check(body: string): boolean {
  const fast = parse_batch_json_fast(ENCODER.encode(body));
  const full = parse_batch_json(body);
  if (fast === null) return false;
  if (full.type !== "json_batch") throw new Error(`fast path took a refused body: ${body}`);
  expect(fast.mode).toBe(full.mode);
  expect(fast.order_count).toBe(full.order_count);
  expect(fast.orders_bytes).toEqual(full.orders_bytes);
  return true;
}

describe("the JSON batch's fast path", () => {
  test("takes random valid batches, with the full parser's bytes", () => {
    const maker = new BodyMaker(new Prng(SEED));
    let taken = 0;
    for (let i = 0; i < RANDOM_BODIES; i++) {
      const body = maker.body();
      const full = parse_batch_json(body);
      if (full.type !== "json_batch") throw new Error(`${full.message}: ${body}`);
      if (check(body)) taken++;
    }
    // Every generated body is one it is meant for.
    expect(taken).toBe(RANDOM_BODIES);
  });

  test("damaged bodies: taken only with the full parser's bytes, never when refused", () => {
    const maker = new BodyMaker(new Prng(SEED + 1));
    let taken = 0;
    let refused_by_full = 0;
    for (let i = 0; i < RANDOM_BODIES / 3; i++) {
      const body = maker.body();
      for (let k = 0; k < DAMAGED_PER_BODY; k++) {
        const damaged = maker.damaged(body);
        if (parse_batch_json(damaged).type === "decode_error") refused_by_full++;
        if (check(damaged)) taken++;
      }
    }
    // Both kinds happened: some damage leaves a valid batch, most does not.
    expect(taken).toBeGreaterThan(0);
    expect(refused_by_full).toBeGreaterThan(taken);
  });

  test("declines what only the full parser may decide", () => {
    const order = (fields: string): string => `{"orders":[{${fields}}]}`;
    const base = `"id":"1","op":"credit","partner":7,"account":"42"`;
    const declined = [
      order(`${base},"amount":"1\\u0030"`), // an escape
      order(`${base},"amount":1.0`), // a fraction
      order(`${base},"amount":1e3`), // an exponent
      order(`${base},"amount":-1`), // a sign
      order(`${base},"amount":"01"`), // a leading zero
      order(`${base},"amount":0123`),
      order(`${base},"amount":""`),
      order(`${base},"amount":"18446744073709551616"`), // 2^64
      order(`${base},"amount":1234567890123456`), // 16 digits: the full parser's range check
      order(`${base},"currency":65536`),
      order(`"id":"1","op":"credit","partner":"4294967296","account":"42"`),
      order(`${base},"id":"2"`), // a duplicate key
      order(`${base},"to":"5"`), // an alias of another op
      order(`"id":"1","op":"transfer","partner":7,"account":"42","to":"5","ref":"5"`), // both
      order(`"id":"1","op":"expire_hold","partner":7,"account":"42"`),
      order(`"id":"1","op":"credit","account":"42"`), // partner missing
      order(`${base},"linked":null`),
      order(`${base},"extra":1`),
      order(`"id":"1","op":"open_account","partner":7,"account":"42","kind":2`),
      `{"orders":[]}`,
      `{"orders":[${Array.from({ length: BATCH_ORDERS_MAX + 1 }, () => `{${base}}`).join(",")}]}`,
      `{"mode":"committed","mode":"accepted","orders":[{${base}}]}`,
      `{"mode":"later","orders":[{${base}}]}`,
      `{"orders":[{${base}}],}`,
      `{"orders":[{${base}},]}`,
      `{"orders":[{${base}}]} x`,
      `\uFEFF{"orders":[{${base}}]}`, // a byte-order mark
      order(`${base},"amount":"1é"`), // not ASCII
      order(`${base},"ref":"1\t"`), // a control character in a string
    ];
    for (const body of declined) {
      expect([body, parse_batch_json_fast(ENCODER.encode(body))]).toEqual([body, null]);
    }
    // And the usual body is taken.
    expect(parse_batch_json_fast(ENCODER.encode(order(`${base},"amount":"100","currency":978`))))
      .not.toBeNull();
  });

  test("integer strings around where digits stop fitting one double: the full parser's bytes", () => {
    // The first 15 digits accumulate in one double, later ones carry between the 32-bit halves:
    // values at and around that step, the u64 range's ends, and a 21st digit.
    const values = [
      "0", "9", "999999999999999", "1000000000000000", "9007199254740991", "9007199254740992",
      "9007199254740993", "4294967295", "4294967296", "18446744073709551615",
      "10000000000000000000", "12345678901234567890", "99999999999999999999",
      "18446744073709551616", "100000000000000000000", "000000000000001",
    ];
    let taken = 0;
    for (const value of values) {
      // Within the u64 range and without a leading zero: both take it, with the same bytes
      // (check); otherwise the full parser refuses it and the fast path leaves it to it.
      const in_range = BigInt(value) < 2n ** 64n && (value === "0" || !value.startsWith("0"));
      for (const field of ["id", "account", "amount"]) {
        const fields = { id: `"1"`, account: `"42"`, amount: `"100"`, [field]: `"${value}"` };
        const body = `{"orders":[{"id":${fields.id},"op":"credit","partner":7,` +
          `"account":${fields.account},"amount":${fields.amount}}]}`;
        expect([body, parse_batch_json(body).type]).toEqual([body,
          in_range ? "json_batch" : "decode_error"]);
        expect([body, check(body)]).toEqual([body, in_range]);
        if (in_range) taken++;
      }
    }
    expect(taken).toBe(12 * 3); // the four out of range: 2^64, 20 nines, 21 digits, "0...1"
  });
});
