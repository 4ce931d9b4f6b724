// A tiny seeded PRNG (mulberry32) so that random tests replay exactly from a printed seed.
// Not for anything secret.

import { assert } from "./assert.ts";

export class Prng {
  private state: number;

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), "seed is an integer");
    this.state = seed >>> 0;
  }

  next_u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform float in [0, 1). */
  next_float(): number {
    return this.next_u32() / 4294967296;
  }

  /** A uniform integer in [0, bound_exclusive). */
  int_below(bound_exclusive: number): number {
    assert(Number.isSafeInteger(bound_exclusive), "bound is an integer");
    assert(bound_exclusive > 0 && bound_exclusive <= 2 ** 32, "bound within 32 bits");
    return Math.floor(this.next_float() * bound_exclusive);
  }

  /** True with the given probability. */
  chance(probability: number): boolean {
    assert(probability >= 0 && probability <= 1, "probability within [0, 1]");
    return this.next_float() < probability;
  }

  fill(target: Uint8Array): void {
    for (let index = 0; index < target.length; index++) {
      target[index] = this.next_u32() & 0xff;
    }
  }
}
