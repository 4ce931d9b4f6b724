// Engine time of one engine worker (all its groups share it, so their times agree). It starts at
// the wall clock, or at the latest engine time the recovered groups journaled if that is later:
// at start-up it may jump forward (real downtime passed). While running it advances with the
// monotonic clock, which no one can set, and converges on the wall clock by at most
// ENGINE_TIME_SLEW_MS_PER_S: a jump of the wall clock either way (a wrong NTP step, an operator's
// `date`) neither expires ids and holds early nor stalls engine time. It never goes backwards.

import { assert } from "../common/assert.ts";
import { ENGINE_TIME_SLEW_MS_PER_S } from "../common/constants.ts";

/** The two clocks engine time is made of; tests inject fake ones. */
export interface Clock {
  /** Milliseconds from an arbitrary origin; never jumps, never goes backwards. */
  monotonic_ms(): number;
  /** Milliseconds since the Unix epoch; may jump either way. */
  wall_ms(): number;
}

export const system_clock: Clock = {
  monotonic_ms: () => performance.now(),
  wall_ms: () => Date.now(),
};

export class EngineClock {
  private time_ms: number; // fractional: slewing adds fractions of a ms
  private monotonic_last_ms: number;

  /** `recovered_ms`: the latest engine time of the worker's groups (it never goes back). */
  constructor(private readonly clock: Clock, recovered_ms: number) {
    assert(Number.isFinite(recovered_ms) && recovered_ms >= 0, "recovered engine time is a time");
    this.time_ms = Math.max(clock.wall_ms(), recovered_ms);
    this.monotonic_last_ms = clock.monotonic_ms();
  }

  /**
   * A group joined the worker with a later engine time (a takeover: the old primary's clock ran
   * ahead): engine time continues from there, never going back for any group.
   */
  raise_to(engine_time_ms: number): void {
    assert(Number.isFinite(engine_time_ms) && engine_time_ms >= 0, "engine time is a time");
    this.time_ms = Math.max(this.time_ms, engine_time_ms);
  }

  /** Engine time now, in whole ms: never less than any earlier answer. */
  now_ms(): number {
    const monotonic_ms = this.clock.monotonic_ms();
    const elapsed_ms = monotonic_ms - this.monotonic_last_ms;
    assert(elapsed_ms >= 0, "the monotonic clock never goes backwards");
    this.monotonic_last_ms = monotonic_ms;
    const drift_ms = this.clock.wall_ms() - (this.time_ms + elapsed_ms);
    const slew_ms_max = elapsed_ms * ENGINE_TIME_SLEW_MS_PER_S / 1000;
    const slew_ms = Math.min(slew_ms_max, Math.max(-slew_ms_max, drift_ms));
    this.time_ms += elapsed_ms + slew_ms;
    return Math.floor(this.time_ms);
  }
}
