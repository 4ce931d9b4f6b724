// The id index (engine/id_index.ts) against a Map: inserts, removals with backward shift, and the
// prefetch's early touches, which write a zero into pages never written. Whatever is touched, and
// in whatever order, every key keeps its value and no absent key is found; a moved index (a
// promotion's adoption) too.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { IdIndex } from "../../engine/id_index.ts";

/** 2^13 positions of 16 bytes: 32 pages of 4 KiB, most of them empty at the start. */
const ENTRIES_MAX = 1 << 12;
const STEPS = 6_000;
const SEEDS = [1, 2, 3, 4];
/** Few partners and ids, so keys collide in their probe runs and removals shift entries. */
const PARTNERS = 3;

interface Key { partner: number; hi: number; lo: number }

function key_text(key: Key): string {
  return `${key.partner}:${key.hi}:${key.lo}`;
}

function random_key(prng: Prng): Key {
  // Ids near 2^32 too: the value words are unsigned.
  return { partner: 1 + prng.int_below(PARTNERS), hi: prng.int_below(4),
    lo: prng.chance(0.5) ? prng.int_below(5_000) : 0xffff_ffff - prng.int_below(5_000) };
}

function expect_same(index: IdIndex, model: Map<string, { key: Key; value: number }>,
  probes: Key[]): void {
  for (const { key, value } of model.values()) {
    expect(index.find(key.partner, key.hi, key.lo)).toBe(value);
  }
  for (const key of probes) {
    if (!model.has(key_text(key))) expect(index.find(key.partner, key.hi, key.lo)).toBe(-1);
  }
  expect(index.entry_count).toBe(model.size);
}

function run(seed: number, move_at_step: number): { fresh_touches: number } {
  const prng = new Prng(seed);
  let index = new IdIndex(ENTRIES_MAX);
  const model = new Map<string, { key: Key; value: number }>();
  const positions = new Int32Array(64);
  const probes: Key[] = [];
  let fresh_touches = 0;
  for (let step = 0; step < STEPS; step++) {
    if (step === move_at_step) {
      const moved = new IdIndex(ENTRIES_MAX);
      moved.move_in(index.move_out());
      index = moved;
    }
    const key = random_key(prng);
    probes.push(key);
    const text = key_text(key);
    const roll = prng.int_below(10);
    if (roll < 5 && !model.has(text) && model.size < ENTRIES_MAX) {
      const value = prng.int_below(1 << 30);
      index.insert(key.partner, key.hi, key.lo, value);
      model.set(text, { key, value });
    } else if (roll < 7 && model.size > 0) {
      const victim = [...model.values()][prng.int_below(model.size)]!;
      index.remove(victim.key.partner, victim.key.hi, victim.key.lo);
      model.delete(key_text(victim.key));
    } else {
      // The prefetch's touch: where keys would go (present or not), and where keys are.
      let count = 0;
      for (let k = 0; k < positions.length >> 1; k++) {
        const probe = random_key(prng);
        positions[count++] = index.position_of(probe.partner, probe.hi, probe.lo);
      }
      for (const { key: present } of model.values()) {
        if (count === positions.length) break;
        positions[count++] = index.position_of(present.partner, present.hi, present.lo);
      }
      const written_before = index.written_page_count();
      index.touch_positions(positions, count);
      if (index.written_page_count() > written_before) fresh_touches++;
    }
    if (step % 500 === 0) expect_same(index, model, probes);
  }
  expect_same(index, model, probes);
  return { fresh_touches };
}

describe("the id index against a Map", () => {
  for (const seed of SEEDS) {
    test(`seed ${seed}: touches of pages never written change no entry`, () => {
      const { fresh_touches } = run(seed, -1);
      // Some touches reached pages nothing had written before: the branch that writes.
      expect(fresh_touches).toBeGreaterThan(0);
    });
  }

  test("a moved index keeps its entries through touches of any position", () => {
    const { fresh_touches } = run(9, STEPS / 2);
    expect(fresh_touches).toBeGreaterThan(0);
  });

  test("a touch in a page that holds entries writes nothing, before and after a clear", () => {
    const index = new IdIndex(ENTRIES_MAX);
    // Keys whose home positions share one page, touched right after being inserted.
    const keys: Key[] = [];
    for (let lo = 1; keys.length < 40; lo++) {
      const position = index.position_of(1, 0, lo);
      if (position >> 10 === 0) keys.push({ partner: 1, hi: 0, lo });
    }
    const positions = new Int32Array(keys.length);
    keys.forEach((key, k) => {
      index.insert(key.partner, key.hi, key.lo, k);
      positions[k] = index.position_of(key.partner, key.hi, key.lo);
    });
    const written_before = index.written_page_count();
    index.touch_positions(positions, keys.length);
    expect(index.written_page_count()).toBe(written_before);
    keys.forEach((key, k) => expect(index.find(key.partner, key.hi, key.lo)).toBe(k));
    index.clear();
    expect(index.written_page_count()).toBe(32);
    keys.forEach((key) => expect(index.find(key.partner, key.hi, key.lo)).toBe(-1));
    index.insert(1, 0, keys[0]!.lo, 7);
    index.touch_positions(positions, keys.length);
    expect(index.find(1, 0, keys[0]!.lo)).toBe(7);
  });
});
