// Entry point of an engine worker thread: recovers its groups, says ready, then runs the engine
// loop until asked to stop. An assertion failure here crashes the whole process on purpose: a
// corrupted state must never serve (the journal and snapshot restore it on restart).

import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { NodeFileLayer } from "../journal/file_layer.ts";
import { move_in_engine, type GroupEngineState } from "../engine/engine_move.ts";
import { Ring, type RingShape } from "../common/ring.ts";
import { EngineClock, system_clock } from "../engine/engine_clock.ts";
import { EngineLoop } from "../engine/engine_loop.ts";
import { GroupEngine } from "../engine/group_engine.ts";
import { JournalCorruptError } from "../journal/journal_reader.ts";
import { group_dir } from "../journal/segment_names.ts";
import { recover_group, type GroupRecovery } from "./recovery.ts";
import type { GroupLimits } from "../engine/rules.ts";
import { WorkerControl } from "../common/worker_control.ts";

declare const self: Worker;

export interface EngineWorkerInit {
  worker: number;
  groups: number[];
  limits: GroupLimits;
  data_dir: string;
  control: SharedArrayBuffer;
  inbound: SharedArrayBuffer;
  inbound_shape: RingShape;
  results: SharedArrayBuffer;
  results_shape: RingShape;
  journal: SharedArrayBuffer;
  journal_shape: RingShape;
  /**
   * A cluster node's engine worker starts with no group (`groups` empty) and adopts the groups
   * this node comes to lead through this port, while its loop runs (it never yields to the event
   * loop, so it reads the port itself). Null on a single node.
   */
  adoptions: MessagePort | null;
}

/** A group this worker leads from now on: the standby's engine moved whole, at the lease's epoch. */
export interface GroupAdoption {
  kind: "adopt";
  group: number;
  epoch: number;
  state: GroupEngineState;
}

export type EngineWorkerMessage =
  | { type: "ready"; recoveries: GroupRecovery[] }
  | { type: "snapshot"; group: number; sequence: number; buffer: SharedArrayBuffer; size_bytes: number }
  | { type: "stopped" }
  | { type: "adopted"; group: number; last_sequence: number }
  | { type: "released"; group: number; last_sequence: number }
  /** Recovery found the journal damaged: start-up stops with this message for the operator. */
  | { type: "journal_corrupt"; message: string };

function post(message: EngineWorkerMessage, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer);
}

function start(init: EngineWorkerInit): void {
  const files = new NodeFileLayer();
  const engines = new Map<number, GroupEngine>();
  const recoveries: GroupRecovery[] = [];
  for (const group of init.groups) {
    const engine = new GroupEngine(group, 0, init.limits);
    recoveries.push(recover_group(files, group_dir(init.data_dir, group), engine));
    engines.set(group, engine);
  }
  // One clock for the worker's groups: their engine times agree from here on.
  const clock = new EngineClock(system_clock,
    Math.max(0, ...recoveries.map((recovery) => recovery.engine_time_ms)));
  post({ type: "ready", recoveries });
  const loop = new EngineLoop({
    engines,
    worker: init.worker,
    inbound: Ring.attach(init.inbound, init.inbound_shape),
    results: Ring.attach(init.results, init.results_shape),
    journal_ring: Ring.attach(init.journal, init.journal_shape),
    control: new WorkerControl(init.control),
    clock,
    on_snapshot: (group, sequence, buffer, size_bytes) => {
      post({ type: "snapshot", group, sequence, buffer, size_bytes });
    },
    on_cycle: init.adoptions === null ? undefined : () => adopt_arrived(init, loop),
  });
  loop.run();
  post({ type: "stopped" });
}

/** A group this worker stops leading (a planned handover). */
export interface GroupRelease {
  kind: "release";
  group: number;
}

/**
 * Takes what arrived on the port: groups adopted (restored from the standby's state, no replay)
 * and groups released.
 */
function adopt_arrived(init: EngineWorkerInit, loop: EngineLoop): void {
  for (;;) {
    const received = receiveMessageOnPort(init.adoptions!);
    if (received === undefined) return;
    const message = received.message as GroupAdoption | GroupRelease;
    if (message.kind === "release") {
      post({ type: "released", group: message.group, last_sequence: loop.release(message.group) });
      continue;
    }
    const adoption = message;
    const engine = new GroupEngine(adoption.group, adoption.epoch, init.limits);
    move_in_engine(engine, adoption.state);
    engine.epoch = adoption.epoch; // the lease's: entries from here on carry it
    loop.adopt(engine);
    post({ type: "adopted", group: adoption.group, last_sequence: engine.last_sequence });
  }
}

self.onmessage = (event: MessageEvent<EngineWorkerInit>) => {
  try {
    start(event.data);
  } catch (error) {
    if (error instanceof JournalCorruptError) {
      post({ type: "journal_corrupt", message: error.message });
      return;
    }
    console.error(`engine worker ${event.data.worker} failed:`, error);
    process.kill(process.pid, "SIGKILL");
  }
};
