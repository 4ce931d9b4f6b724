// When the membership loop runs next, behind an interface: the node uses the event loop's timers,
// tests a scheduler they fire by hand (so a test decides when a tick happens, not the machine).

export interface Timer {
  cancel(): void;
}

export interface Scheduler {
  /** Runs `run` once, about `delay_ms` from now, unless cancelled first. */
  after(delay_ms: number, run: () => void): Timer;
}

export const timer_scheduler: Scheduler = {
  after(delay_ms: number, run: () => void): Timer {
    const handle = setTimeout(run, delay_ms);
    return { cancel: () => clearTimeout(handle) };
  },
};
