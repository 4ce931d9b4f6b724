// Fencing and refusals on the replication link (docs/cluster.md, "Replication data path"): a
// standby refuses an epoch below the highest it accepted, a higher one from any node but the holder
// the control plane records, a peer without the cluster key (both directions) and a frame or an
// entry whose checksum fails; each refusal is an error frame with its code and changes nothing.
// A new epoch cuts the standby's tail at the epoch's first sequence; a standby that missed an
// epoch's first sequence is refused `diverged`, cuts its last epoch's entries and catches up.

import { afterEach, describe, expect, test } from "bun:test";
import { capture_snapshot } from "../../engine/snapshot.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import { list_snapshots, write_snapshot } from "../../journal/snapshot_file.ts";
import { REPLICATION_FRAME_HEADER_BYTES } from "../../cluster/replication/constants.ts";
import { ErrorCode, FrameType } from "../../cluster/replication/frame_layout.ts";
import type { StandbyGroup } from "../../cluster/replication/standby_group.ts";
import {
  acked, DIR, expect_replica, KEY, GROUP, holders_of, journal_lines, open_standby, OTHER_NODE,
  primary,
  PRIMARY_NODE, run_cleanups, serve, STANDBY_NODE, wait_until, type PrimaryNode,
} from "./replication_harness.ts";
import { frame_bytes, RawPrimary } from "./replication_peer.ts";
import { describe_state } from "../durability/group_state.ts";
import {
  ENTRY_FIRST_SEQUENCE_OFFSET, ENTRY_RECORD_COUNT_OFFSET,
} from "../../schema/journal_entry_layout.ts";

function first_sequence_of(entry: Uint8Array): number {
  return new DataView(entry.buffer, entry.byteOffset).getFloat64(ENTRY_FIRST_SEQUENCE_OFFSET, true);
}

afterEach(run_cleanups);

const WRONG_KEY = new TextEncoder().encode("not-the-cluster-key-0123456789abcdef!");

/** A standby that accepted epoch 2 from PRIMARY_NODE and holds its first entries. */
async function streamed_standby(epoch = 2) {
  const holders = holders_of(PRIMARY_NODE, epoch);
  const files = new PowerLossFileLayer();
  const standby = open_standby(files);
  const server = serve(STANDBY_NODE, standby, holders);
  const node = primary({ node: PRIMARY_NODE, epoch, seed: 41,
    standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
  node.replicator.start();
  node.run(15);
  await acked(node);
  return { holders, files, standby, server, node };
}

/** What a refusal must leave as it was. */
function fingerprint(standby: StandbyGroup, files: PowerLossFileLayer): string {
  return JSON.stringify([standby.last_sequence, standby.durable_sequence,
    standby.highest_epoch, describe_state(standby.engine),
    journal_lines(files, standby.durable_sequence)]);
}

async function refused_sender(node: PrimaryNode): Promise<ErrorCode> {
  const sender = node.replicator.senders[0]!;
  node.replicator.start();
  await wait_until(() => sender.error_code !== ErrorCode.none, "a refusal");
  return sender.error_code;
}

describe("replication: epochs", () => {
  test("an epoch below the highest accepted is refused epoch_stale; the current link goes on",
    async () => {
      const { files, standby, server, node } = await streamed_standby();
      const before = fingerprint(standby, files);
      const stale = primary({ node: PRIMARY_NODE, epoch: 1, seed: 43,
        standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
      stale.run(3);
      expect(await refused_sender(stale)).toBe(ErrorCode.epoch_stale);
      expect(fingerprint(standby, files)).toBe(before);
      node.run(5);
      await acked(node);
      expect_replica(standby, files, node, "the current link after the refusal");
    });

  test("a higher epoch from a node the control plane does not record is refused not_holder; " +
    "an unreachable control plane, holder_unknown", async () => {
    const { holders, files, standby, server } = await streamed_standby();
    const before = fingerprint(standby, files);
    const usurper = primary({ node: OTHER_NODE, epoch: 3, seed: 44,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    usurper.run(3);
    expect(await refused_sender(usurper)).toBe(ErrorCode.not_holder);
    expect(fingerprint(standby, files)).toBe(before);
    usurper.replicator.stop();
    holders.set(GROUP, { node: OTHER_NODE, epoch: 3, first_sequence: 1 });
    holders.unreachable = true;
    const unverified = primary({ node: OTHER_NODE, epoch: 3, seed: 44,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    expect(await refused_sender(unverified)).toBe(ErrorCode.holder_unknown);
    expect(fingerprint(standby, files)).toBe(before);
  });

  test("a new epoch from its holder cuts the standby's tail at the epoch's first sequence " +
    "(snapshots past it too); the standby then equals the new primary", async () => {
    const { holders, files, standby, server, node } = await streamed_standby(1);
    node.replicator.stop();
    write_snapshot(files, DIR, standby.engine.last_sequence, capture_snapshot(standby.engine));
    // The new primary had only the first half of the old one's entries when it took over.
    const kept = Math.floor(node.entries.length / 2);
    const successor = primary({ node: OTHER_NODE, epoch: 2, seed: 41,
      history: node.entries.slice(0, kept),
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    const first_sequence = successor.last_sequence + 1;
    holders.set(GROUP, { node: OTHER_NODE, epoch: 2, first_sequence });
    expect(standby.last_sequence).toBeGreaterThan(first_sequence); // a tail to cut
    successor.run(10);
    successor.replicator.start();
    await acked(successor);
    expect_replica(standby, files, successor, "after the cut");
    expect(standby.highest_epoch).toBe(2);
    expect(list_snapshots(files, DIR).map((s) => s.sequence)
      .filter((sequence) => sequence >= first_sequence)).toEqual([]);
    // The deposed primary is refused from now on.
    const deposed = primary({ node: PRIMARY_NODE, epoch: 1, seed: 41,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    deposed.run(2);
    expect(await refused_sender(deposed)).toBe(ErrorCode.epoch_stale);
    // And a restart from the cut disk recovers the same state.
    const restarted = open_standby(files);
    expect_replica(restarted, files, successor, "restarted after the cut");
  });
});

describe("replication: divergence", () => {
  test("a standby whose last entry is another epoch's than the primary's at that sequence (it " +
    "missed a takeover) is refused diverged, cuts its last epoch's entries (its snapshot too), " +
    "and the next link catches it up", async () => {
    const streamed = await streamed_standby(1);
    const { holders, files, node } = streamed;
    node.replicator.stop();
    streamed.server.stop();
    // A snapshot of epoch 1's state, then a restart from it: where epoch 1's run begins is not
    // known past the snapshot, so the snapshot goes too.
    write_snapshot(files, DIR, streamed.standby.engine.last_sequence,
      capture_snapshot(streamed.standby.engine));
    streamed.standby.close();
    const standby = open_standby(files);
    expect(standby.snapshot_sequence).toBe(node.last_sequence);
    // Epoch 2 took over with half of epoch 1's entries and wrote on; epoch 3 took over from it.
    const second = primary({ node: OTHER_NODE, epoch: 2, seed: 41,
      history: node.entries.slice(0, Math.floor(node.entries.length / 2)), standbys: [] });
    second.run(30);
    const third_server = serve(STANDBY_NODE, standby, holders);
    const third = primary({ node: PRIMARY_NODE, epoch: 3, seed: 41, history: second.entries,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: third_server.port }] });
    holders.set(GROUP, { node: PRIMARY_NODE, epoch: 3, first_sequence: third.last_sequence + 1 });
    expect(third.last_sequence).toBeGreaterThan(standby.last_sequence); // nothing to cut
    // The refusal is seen on the primary's side; the standby cut its epoch-1 entries (all it
    // held), and the sender's next link streams the whole journal.
    expect(await refused_sender(third)).toBe(ErrorCode.diverged);
    await acked(third);
    expect_replica(standby, files, third, "after the cut and the next link");
    expect(list_snapshots(files, DIR)).toEqual([]);
    expect(standby.highest_epoch).toBe(3); // the fence rose: epochs 1 and 2 stay refused
    expect_replica(open_standby(files), files, third, "restarted after the cut");
  });

  test("only the last epoch's run is cut: the entries of older epochs the primary shares stay " +
    "(a link after the cut finds their end the primary's)", async () => {
    const { holders, files, standby, server, node } = await streamed_standby(1);
    node.replicator.stop();
    const epoch_1_end = standby.last_sequence;
    // Epoch 2 took over with all of epoch 1 and streamed its own entries to the standby.
    const second = primary({ node: OTHER_NODE, epoch: 2, seed: 42, history: node.entries,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    holders.set(GROUP, { node: OTHER_NODE, epoch: 2, first_sequence: second.last_sequence + 1 });
    second.run(12);
    second.replicator.start();
    await acked(second);
    second.replicator.stop();
    expect(standby.last_sequence).toBeGreaterThan(epoch_1_end + 3);
    // Epoch 3 took over with only the first of epoch 2's entries; epoch 4 from epoch 3, while
    // this standby heard neither.
    const third = primary({ node: PRIMARY_NODE, epoch: 3, seed: 43,
      history: second.entries.slice(0, node.entries.length + 1), standbys: [] });
    third.run(30);
    const fourth = primary({ node: OTHER_NODE, epoch: 4, seed: 44, history: third.entries,
      reconnect_delay_ms: 5_000,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    holders.set(GROUP, { node: OTHER_NODE, epoch: 4, first_sequence: fourth.last_sequence + 1 });
    expect(fourth.last_sequence).toBeGreaterThan(standby.last_sequence); // nothing to cut
    expect(await refused_sender(fourth)).toBe(ErrorCode.diverged);
    fourth.replicator.stop(); // before its next link (5 s later)
    await wait_until(() => standby.last_sequence === epoch_1_end, "the cut of epoch 2's run");
    expect(journal_lines(files, epoch_1_end)).toEqual(journal_lines(node.files, epoch_1_end));
    const resumed = primary({ node: OTHER_NODE, epoch: 4, seed: 44, history: third.entries,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    resumed.replicator.start();
    await acked(resumed);
    expect_replica(standby, files, resumed, "caught up after the cut");
    expect(resumed.replicator.senders[0]!.error_code).toBe(ErrorCode.none);
  });
});

describe("replication: refusals", () => {
  test("a primary without the cluster key is refused auth_failed by the standby; a standby " +
    "without it, by the primary", async () => {
    const holders = holders_of(PRIMARY_NODE, 1);
    const files = new PowerLossFileLayer();
    const standby = open_standby(files);
    const server = serve(STANDBY_NODE, standby, holders);
    const before = fingerprint(standby, files);
    const peer = new RawPrimary({ group: GROUP, epoch: 1, primary_node: PRIMARY_NODE,
      standby_node: STANDBY_NODE }, WRONG_KEY);
    await peer.connect(server.port);
    await wait_until(() => peer.closed, "the standby closes the link");
    expect(peer.of_type(FrameType.error)?.code).toBe(ErrorCode.auth_failed);
    expect(peer.of_type(FrameType.catch_up)).toBeUndefined();
    const keyless = serve(OTHER_NODE, open_standby(), holders, 0, WRONG_KEY);
    const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 45,
      standbys: [{ node: OTHER_NODE, host: "127.0.0.1", port: keyless.port }] });
    expect(await refused_sender(node)).toBe(ErrorCode.auth_failed);
    expect(fingerprint(standby, files)).toBe(before);
  });

  test("an entries frame with a bad checksum is refused bad_frame; an entry whose own CRC " +
    "fails, bad_entry; neither changes the standby", async () => {
    const { files, standby, server, node } = await streamed_standby();
    node.replicator.stop();
    node.run(1);
    const first = standby.last_sequence + 1;
    const entry = node.entries.find((bytes) => first_sequence_of(bytes) === first)!;
    const view = new DataView(entry.buffer, entry.byteOffset);
    const last = first + view.getUint32(ENTRY_RECORD_COUNT_OFFSET, true) - 1;
    const before = fingerprint(standby, files);
    const cases = [["frame", ErrorCode.bad_frame], ["entry", ErrorCode.bad_entry]] as const;
    for (const [damage, code] of cases) {
      const peer = new RawPrimary({ group: GROUP, epoch: 2, primary_node: PRIMARY_NODE,
        standby_node: STANDBY_NODE }, KEY);
      await peer.connect(server.port);
      await wait_until(() => peer.of_type(FrameType.catch_up) !== undefined, "catch_up");
      const body = entry.slice();
      if (damage === "entry") body[body.length - 1]! ^= 0x01; // the frame's CRC covers it
      const bytes = frame_bytes(peer.fields(FrameType.entries, first, last), body);
      if (damage === "frame") bytes[REPLICATION_FRAME_HEADER_BYTES + 100]! ^= 0x01;
      peer.send(bytes);
      await wait_until(() => peer.closed, "the standby closes the link");
      expect(peer.of_type(FrameType.error)?.code).toBe(code);
      expect(peer.of_type(FrameType.ack)).toBeUndefined();
      expect(fingerprint(standby, files)).toBe(before);
    }
  });

  test("a listener holds links_max links and refuses the next links_full; a link silent past " +
    "handshake_timeout_ms is closed handshake_timeout", async () => {
    const holders = holders_of(PRIMARY_NODE, 1);
    const server = serve(STANDBY_NODE, open_standby(), holders, 0, KEY, { links_max: 2 });
    const facts = { group: GROUP, epoch: 1, primary_node: PRIMARY_NODE,
      standby_node: STANDBY_NODE };
    const peers = [0, 1, 2].map(() => new RawPrimary(facts, KEY));
    for (const peer of peers) await peer.connect(server.port, true);
    await wait_until(() => peers[2]!.closed, "the third link closed");
    expect(peers[2]!.of_type(FrameType.error)?.code).toBe(ErrorCode.links_full);
    expect(peers[0]!.received.length + peers[1]!.received.length).toBe(0);
    const quick = serve(OTHER_NODE, open_standby(), holders, 0, KEY, { handshake_timeout_ms: 10 });
    const silent = new RawPrimary({ ...facts, standby_node: OTHER_NODE }, KEY);
    await silent.connect(quick.port, true);
    await wait_until(() => silent.closed, "the silent link closed");
    expect(silent.of_type(FrameType.error)?.code).toBe(ErrorCode.handshake_timeout);
    expect(() => serve(OTHER_NODE, open_standby(), holders, 0, KEY, { links_max: 0 })).toThrow();
    expect(() => serve(OTHER_NODE, open_standby(), holders, 0, KEY,
      { handshake_timeout_ms: 9 })).toThrow();
  });
});
