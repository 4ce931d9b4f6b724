// Entry point of a cluster node's journal worker (a single node runs journal/worker.ts). It owns
// every group's journal, the replication listener of the groups it follows and the replicators of
// the groups it leads (cluster_journal.ts). Any failure here kills the process, as in the single
// node's journal worker: a failed fsync must never be retried (docs/design.md section 4).

import { assert_never } from "../../common/assert.ts";
import type { GroupHolder } from "../replication/holder.ts";
import { ClusterJournal } from "./cluster_journal.ts";
import type { ClusterJournalMessage, ClusterJournalRequest } from "./messages.ts";

declare const self: Worker;

function post(message: ClusterJournalMessage, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer);
}

let journal: ClusterJournal | null = null;
let next_request_id = 1;
const holder_waits = new Map<number, { resolve: (holder: GroupHolder | null) => void;
  reject: (error: Error) => void }>();

// The control plane lives on the main thread: a standby asks it through a message.
const holders = {
  who_holds(group: number): Promise<GroupHolder | null> {
    const request_id = next_request_id++;
    return new Promise<GroupHolder | null>((resolve, reject) => {
      holder_waits.set(request_id, { resolve, reject });
      post({ type: "who_holds", request_id, group });
    });
  },
};

async function start(request: Extract<ClusterJournalRequest, { type: "init" }>): Promise<void> {
  journal = new ClusterJournal(request.init, holders, post, die);
  journal.start_timers();
  post({ type: "ready", groups: journal.standby_states(), replication_port: journal.server.port });
  await journal.loop.run();
  journal.stop();
  post({ type: "stopped" });
}

function die(error: unknown): never {
  console.error("cluster journal worker failed, stopping the process:", error);
  process.kill(process.pid, "SIGKILL");
  throw error;
}

// A timer's or an immediate's exception would otherwise end this worker alone, silently, and
// leave the node running without its journals.
process.on("uncaughtException", die);
process.on("unhandledRejection", die);

function handle(request: ClusterJournalRequest): void {
  if (request.type === "init") {
    start(request).catch(die);
    return;
  }
  if (journal === null) die(new Error(`${request.type} before init`));
  switch (request.type) {
    case "snapshot":
      return journal.add_snapshot(request.group, request.sequence, request.buffer,
        request.size_bytes);
    case "holder": {
      const wait = holder_waits.get(request.request_id);
      holder_waits.delete(request.request_id);
      if (request.error !== null) return wait?.reject(new Error(request.error));
      return wait?.resolve(request.holder);
    }
    case "fence":
      return post({ type: "fenced", group: request.group,
        durable_sequence: journal.fence(request.group) });
    case "unfence":
      return journal.unfence(request.group);
    case "promote":
      return journal.promote(request.group, request.epoch, request.standbys, request.counted);
    case "uncount":
      return journal.uncount(request.group, request.node);
    case "drain":
      return journal.drain(request.group, request.last_sequence, request.target);
    case "add_standby":
      return journal.add_standby(request.group, request.standby);
    case "to_standby":
      return journal.to_standby(request.group);
    case "read_barrier":
      return journal.read_barrier(request.group, request.read_id);
    case "caught_up_recorded":
      return journal.caught_up_recorded(request.group, request.node);
    case "publisher_checkpoint":
      return journal.publisher_checkpoint(request.group, request.sequence);
    default:
      return assert_never(request, "cluster journal request");
  }
}

self.onmessage = (event: MessageEvent<ClusterJournalRequest>) => {
  try {
    handle(event.data);
  } catch (error) {
    die(error);
  }
};
