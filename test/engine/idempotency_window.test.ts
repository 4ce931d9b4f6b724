// The idempotency window's memory (engine/idempotency.ts), below the engine: one budget of pages
// shared by every time bucket, one index over every live id. What the engine tests cannot reach
// with their small budgets: pages of many ids (only a bucket's last page is partly used), the
// index staying exact through millions of removals, and windows so long that ids keep their high
// word and sequences whole.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { IdempotencyWindow } from "../../engine/idempotency.ts";
import { T0_MS } from "./harness.ts";

interface Id { hi: number; lo: number; partner: number }

/** Ids created at time_ms, each new (a counter in the low bits, as the SDK makes them). */
function id_at(time_ms: number, counter: number, partner = 1): Id {
  const id = (BigInt(time_ms) << 22n) | BigInt(counter & 0x3fffff);
  return { hi: Number(id >> 32n), lo: Number(id & 0xffff_ffffn), partner };
}

/** copy_live_into (a page at a time) agrees with a walk of every entry in for_each's order. */
function expect_columns_copied(w: IdempotencyWindow): void {
  const n = w.count;
  const columns = {
    id_hi: new Uint32Array(n), id_lo: new Uint32Array(n), digest: new Uint32Array(n),
    partner: new Uint32Array(n), status: new Uint8Array(n), sequence: new Float64Array(n),
    balance_minor: new Float64Array(n), available_minor: new Float64Array(n),
  };
  w.copy_live_into(columns);
  let i = 0;
  w.for_each((entry) => {
    expect([columns.id_hi[i], columns.id_lo[i], columns.digest[i], columns.partner[i],
      columns.status[i], columns.sequence[i], columns.balance_minor[i], columns.available_minor[i]])
      .toEqual([w.id_hi(entry), w.id_lo[entry], w.digest[entry], w.partner[entry], w.status[entry],
        w.sequence(entry), w.balance_minor[entry], w.available_minor[entry]]);
    i++;
  });
  expect(i).toBe(n);
}

class Filler {
  sequence = 0;
  counter = 0;
  constructor(readonly w: IdempotencyWindow) {}

  /** Remembers `count` new ids created at time_ms; the ids. */
  add(time_ms: number, count: number, partner = 1): Id[] {
    const ids: Id[] = [];
    for (let n = 0; n < count; n++) {
      const id = id_at(time_ms, ++this.counter, partner);
      expect(this.w.room_for(id.hi, id.lo)).toBeGreaterThan(0);
      this.sequence += 3; // other events between them
      this.w.insert(id.hi, id.lo, this.counter, id.partner, 0, this.sequence, -this.sequence,
        this.sequence * 2);
      ids.push(id);
    }
    return ids;
  }
}

describe("idempotency window: pages of one shared budget", () => {
  test("a bucket's last page is its only partly used one: room and a chain's fit count pages", () => {
    const w = new IdempotencyWindow(1 << 20, 10_000);
    expect([w.page_entries, w.page_count]).toEqual([256, 4096]);
    const t = Math.ceil(T0_MS / w.bucket_ms) * w.bucket_ms;
    const [a, c, n] = [t, t + w.bucket_ms, t + 2 * w.bucket_ms];
    const bucket = (time_ms: number) => Math.floor(time_ms / w.bucket_ms);
    const f = new Filler(w);
    f.add(a, 255);
    expect(w.room_in(bucket(a))).toBe(1 + 4095 * 256);
    f.add(c, 4094 * 256); // a burst: one bucket takes almost every page
    expect(w.count).toBe(255 + 4094 * 256);
    expect(w.room_in(bucket(a))).toBe(1 + 256);
    expect(w.room_in(bucket(c))).toBe(256);
    expect(w.room_in(bucket(n))).toBe(256);
    const numbers = (...times: number[]) => Float64Array.from(times.map(bucket));
    expect(w.fits(numbers(a, a), 2)).toBe(true); // A's last id, then the free page
    expect(w.fits(numbers(a, n, n), 3)).toBe(true); // A's last id; N takes the free page
    expect(w.fits(numbers(a, a, n), 3)).toBe(false); // A and N would each need a page
    expect(w.fits(numbers(n, c), 2)).toBe(false);
    f.add(a, 1);
    expect(w.room_in(bucket(a))).toBe(256);
    f.add(n, 256);
    for (const time_ms of [a, c, n, n + w.bucket_ms]) expect(w.room_in(bucket(time_ms))).toBe(0);
    expect(w.count).toBe(1 << 20); // every id of the budget in use: nothing lost to pages
  });

  test("the index stays exact through whole buckets forgotten: every live id found, no other",
    () => {
    const window_ms = 2_000;
    const w = new IdempotencyWindow(1 << 16, window_ms);
    const prng = new Prng(7);
    const f = new Filler(w);
    const t = Math.ceil(T0_MS / w.bucket_ms) * w.bucket_ms;
    const live: { id: Id; time_ms: number; sequence: number }[] = [];
    let forgotten_count = 0;
    for (let step = 0; step < 400; step++) {
      const now_ms = t + step * (w.bucket_ms / 2);
      w.evict(now_ms);
      const first_live_ms = Math.floor((now_ms - window_ms) / w.bucket_ms) * w.bucket_ms;
      for (let k = live.length - 1; k >= 0; k--) {
        if (live[k]!.time_ms >= first_live_ms) continue;
        const gone = live[k]!.id;
        expect(w.find(gone.partner, gone.hi, gone.lo)).toBe(-1);
        live.splice(k, 1);
        forgotten_count++;
      }
      // Ids created up to the window behind and the skew ahead; two partners share id values.
      for (let n = prng.next_u32() % 300; n > 0; n--) {
        const time_ms = now_ms - window_ms + (prng.next_u32() % (window_ms + 5_000));
        if (time_ms < first_live_ms + w.bucket_ms) continue;
        const [id] = f.add(time_ms, 1, 1 + (prng.next_u32() % 2));
        live.push({ id: id!, time_ms, sequence: f.sequence });
      }
      expect(w.count).toBe(live.length);
    }
    expect(forgotten_count).toBeGreaterThan(10_000);
    expect_columns_copied(w);
    for (const { id, sequence } of live) {
      const at = w.find(id.partner, id.hi, id.lo);
      expect(at).not.toBe(-1);
      expect([w.id_hi(at), w.id_lo[at], w.partner[at], w.sequence(at)])
        .toEqual([id.hi, id.lo, id.partner, sequence]);
      expect(w.find(3 - id.partner, id.hi, id.lo)).toBe(-1); // the other partner's id of that value
    }
  });

  test("a window of a day: ids keep their high word, sequences stay whole", () => {
    const w = new IdempotencyWindow(1 << 12, 24 * 3600 * 1000);
    expect(w.bucket_ms).toBeGreaterThan(2 ** 10);
    const f = new Filler(w);
    f.sequence = 2 ** 40;
    const t = Math.ceil(T0_MS / w.bucket_ms) * w.bucket_ms;
    const ids = [...f.add(t, 3), ...f.add(t + w.bucket_ms - 1, 3)];
    expect_columns_copied(w);
    ids.forEach((id, k) => {
      const at = w.find(id.partner, id.hi, id.lo);
      expect([w.id_hi(at), w.id_lo[at], w.sequence(at)]).toEqual([id.hi, id.lo, 2 ** 40 + 3 * (k + 1)]);
    });
    w.evict(t + 2 * w.bucket_ms + 24 * 3600 * 1000);
    expect(w.count).toBe(0);
    for (const id of ids) expect(w.find(id.partner, id.hi, id.lo)).toBe(-1);
  });

  test("a bucket going live takes the index size its predecessor's ids needed, not doubling up",
    () => {
      const w = new IdempotencyWindow(1 << 16, 10_000);
      const entry_bytes = 33; // engine/idempotency.ts ENTRY_BYTES (narrow buckets)
      const pages_bytes = (ids: number) => Math.ceil(ids / w.page_entries) * w.page_entries * entry_bytes;
      const f = new Filler(w);
      const t = Math.ceil(T0_MS / w.bucket_ms) * w.bucket_ms;
      const first = f.add(t, 3_000);
      const before = w.used_bytes();
      // One id in the next bucket: its index is sized for 3,000 ids (4,096 slots, a load of at
      // most 3/4) at once; it used to start at the minimum (64 slots) and double as it filled.
      const next = f.add(t + w.bucket_ms, 1);
      expect(w.used_bytes() - before).toBe(pages_bytes(1) + (4_096 - 64) * 4);
      const rest = f.add(t + w.bucket_ms, 2_999);
      expect(w.used_bytes() - before).toBe(pages_bytes(3_000) + (4_096 - 64) * 4); // no regrowth
      for (const id of [...first, ...next, ...rest]) {
        expect(w.find(id.partner, id.hi, id.lo)).toBeGreaterThanOrEqual(0);
      }
      expect_columns_copied(w);
    });
});
