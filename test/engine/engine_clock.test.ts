// Engine time under wall-clock jumps (engine/engine_clock.ts), driven by a fake monotonic and a
// fake wall clock, with a real GroupEngine: a jump of an hour either way while running neither
// expires correctly timed ids and short holds nor stalls engine time; a restart lets downtime pass.

import { describe, expect, test } from "bun:test";
import { ENGINE_TIME_SLEW_MS_PER_S, ORDER_ID_FUTURE_SKEW_MS_MAX } from "../../common/constants.ts";
import { EngineClock, type Clock } from "../../engine/engine_clock.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, order_id_at, T0_MS } from "./harness.ts";

const HOUR_MS = 3_600_000;
const HOLD_TIMEOUT_MS = 10_000;

/** A fake clock pair: `true_ms` is what a correct clock says; the wall clock may be off by jump. */
class FakeClock implements Clock {
  monotonic = 0;
  jump_ms = 0;
  monotonic_ms(): number {
    return this.monotonic;
  }
  wall_ms(): number {
    return this.true_ms + this.jump_ms;
  }
  get true_ms(): number {
    return T0_MS + this.monotonic;
  }
}

class Node {
  readonly fake = new FakeClock();
  readonly h = new EngineHarness();
  readonly clock = new EngineClock(this.fake, 0);
  private counter = 0;

  /** One order stamped at `id_ms` (by default the true time), applied at engine time now. */
  order(op: Op, amount: bigint, options: { id_ms?: number; ref?: bigint } = {}): string {
    this.h.now_ms = this.clock.now_ms();
    const id = order_id_at(options.id_ms ?? this.fake.true_ms, ++this.counter);
    return this.h.one({ id, op, account: 10n, amount, ref: options.ref ?? 0n }).status_name;
  }

  tick(): void {
    this.h.tick(this.clock.now_ms());
  }

  advance(elapsed_ms: number): void {
    this.fake.monotonic += elapsed_ms;
  }

  held(): number {
    return this.h.account(10n)!.held;
  }
}

function opened(): Node {
  const node = new Node();
  expect(node.order(Op.open_account, 0n, { ref: 3n })).toBe("ok");
  expect(node.order(Op.credit, 1_000n)).toBe("ok");
  expect(node.order(Op.hold, 300n, { ref: BigInt(HOLD_TIMEOUT_MS) })).toBe("ok");
  return node;
}

describe("engine time under wall-clock jumps", () => {
  test("a forward jump of an hour while running: new ids accepted, a short hold not expired early",
    () => {
      const node = opened();
      node.advance(1_000);
      node.fake.jump_ms = HOUR_MS;
      expect(node.order(Op.credit, 5n)).toBe("ok"); // an id stamped at the true time
      node.advance(HOLD_TIMEOUT_MS / 2);
      node.tick();
      expect(node.held()).toBe(300);
      // Engine time gained at most the slew on the true time, never the hour.
      const gained_ms = node.h.engine.engine_time_ms - node.fake.true_ms;
      expect(gained_ms).toBeGreaterThan(0);
      const slew_ms_max = Math.ceil(node.fake.monotonic * ENGINE_TIME_SLEW_MS_PER_S / 1000);
      expect(gained_ms).toBeLessThanOrEqual(slew_ms_max);
      // A client whose clock jumped too stamps ids an hour ahead of engine time: id_invalid.
      expect(node.order(Op.credit, 5n, { id_ms: node.fake.wall_ms() })).toBe("id_invalid");
      // The hold (made at monotonic 0) expires by its timeout, early by at most the slew.
      const slew_ratio = ENGINE_TIME_SLEW_MS_PER_S / 1000;
      node.advance(Math.floor(HOLD_TIMEOUT_MS / (1 + slew_ratio)) - 1 - node.fake.monotonic);
      node.tick();
      expect(node.held()).toBe(300);
      node.advance(HOLD_TIMEOUT_MS - node.fake.monotonic);
      node.tick();
      expect(node.held()).toBe(0);
    });

  test("engine time converges on a jumped wall clock at the slew rate, then follows it", () => {
    const node = opened();
    const jump_ms = 2_000;
    node.fake.jump_ms = jump_ms;
    const converge_ms = jump_ms * 1000 / ENGINE_TIME_SLEW_MS_PER_S;
    node.advance(converge_ms / 2);
    expect(node.clock.now_ms()).toBe(node.fake.true_ms + jump_ms / 2);
    node.advance(converge_ms / 2 + 1_000);
    expect(node.clock.now_ms()).toBe(node.fake.wall_ms());
    expect(node.order(Op.credit, 5n, { id_ms: node.fake.wall_ms() })).toBe("ok");
  });

  test("a backward jump of an hour neither stalls engine time nor sends it back", () => {
    const node = opened();
    const before_ms = node.clock.now_ms();
    node.advance(1_000);
    node.fake.jump_ms = -HOUR_MS;
    const after_ms = node.clock.now_ms();
    const slowest_ms = 1_000 * (1 - ENGINE_TIME_SLEW_MS_PER_S / 1000);
    expect(after_ms).toBeGreaterThanOrEqual(before_ms + slowest_ms);
    expect(after_ms).toBeLessThanOrEqual(before_ms + 1_000);
    expect(node.order(Op.credit, 5n)).toBe("ok");
    // The hold still expires, late by at most the slew of its lifetime.
    node.advance(HOLD_TIMEOUT_MS * (1 + 2 * ENGINE_TIME_SLEW_MS_PER_S / 1000));
    node.tick();
    expect(node.held()).toBe(0);
  });

  test("at a restart engine time jumps forward to the wall clock (downtime passes)", () => {
    const node = opened();
    node.advance(3_000);
    node.tick();
    const recovered_ms = node.h.engine.engine_time_ms;
    const restarted = new FakeClock();
    restarted.monotonic = 77; // a new process: another origin
    restarted.jump_ms = HOUR_MS; // an hour of downtime
    expect(new EngineClock(restarted, recovered_ms).now_ms()).toBe(restarted.wall_ms());
    // A wall clock behind the journaled time never takes engine time back.
    restarted.jump_ms = -HOUR_MS;
    expect(new EngineClock(restarted, recovered_ms).now_ms()).toBe(recovered_ms);
  });

  test("ids within the future skew of engine time are accepted, beyond it id_invalid", () => {
    const node = opened();
    const now_ms = node.clock.now_ms();
    expect(node.order(Op.credit, 5n, { id_ms: now_ms + ORDER_ID_FUTURE_SKEW_MS_MAX })).toBe("ok");
    expect(node.order(Op.credit, 5n, { id_ms: now_ms + ORDER_ID_FUTURE_SKEW_MS_MAX + 1 }))
      .toBe("id_invalid");
  });
});
