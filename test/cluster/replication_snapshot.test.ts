// Snapshot catch-up over real TCP on 127.0.0.1 (docs/cluster.md, "Catch-up"): a standby the
// primary's journal no longer reaches (segments deleted behind its snapshots) is sent the newest
// snapshot in chunks, installs it (its own journal and snapshots go), then gets the journal after
// it and live entries. A link lost part-way leaves the standby as it was; bad snapshot frames are
// refused with their code and change nothing.

import { afterEach, describe, expect, test } from "bun:test";
import {
  REPLICATION_FRAME_HEADER_BYTES, REPLICATION_SNAPSHOT_BYTES_MAX,
  REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX,
} from "../../cluster/replication/constants.ts";
import { ErrorCode, FrameType } from "../../cluster/replication/frame_layout.ts";
import type { StandbyGroup } from "../../cluster/replication/standby_group.ts";
import { Prng } from "../../common/prng.ts";
import { DiskFullError } from "../../journal/file_layer.ts";
import {
  PowerLossFileLayer, SimulatedCrashError,
} from "../../journal/power_loss_file_layer.ts";
import { peek_newest_snapshot_file } from "../../journal/snapshot_file.ts";
import { describe_state } from "../durability/group_state.ts";
import {
  acked, DIR, expect_snapshot_replica, GROUP, holders_of, journal_lines, KEY, open_standby,
  primary, PRIMARY_NODE, run_cleanups, serve, STANDBY_NODE, wait_until, type PrimaryNode,
  StandbysBehind,
} from "./replication_harness.ts";
import { frame_bytes, RawPrimary } from "./replication_peer.ts";

afterEach(run_cleanups);

/** Bulk commits and two snapshots: the segments behind the first are deleted. */
function outrun_journal(node: PrimaryNode, behind_sequence: number): void {
  node.run(150, true);
  node.write_snapshot();
  node.run(150, true);
  node.write_snapshot();
  node.run(5);
  expect(node.first_held_sequence).toBeGreaterThan(behind_sequence + 1);
}

/** What a refusal or a lost link must leave as it was. */
function fingerprint(standby: StandbyGroup, files: PowerLossFileLayer): string {
  return JSON.stringify([standby.last_sequence, standby.durable_sequence, standby.highest_epoch,
    standby.snapshot_sequence, describe_state(standby.engine), files.list(DIR).sort(),
    journal_lines(files, standby.durable_sequence)]);
}

describe("replication: snapshot catch-up", () => {
  test("standbys the journal no longer reaches (an empty disk; a restarted one with an old " +
    "prefix) get the newest snapshot in chunks, then the journal after it, then live entries",
  async () => {
    const behind = await StandbysBehind.start(51);
    const { node, prefix_files, empty_files } = behind;
    const [prefix_sender, empty_sender] = node.replicator.senders;
    behind.prefix_dies();
    const prefix_sequence = behind.prefix_sequence;
    outrun_journal(node, prefix_sequence);
    const snapshot = peek_newest_snapshot_file(node.files, DIR)!;
    expect(snapshot.file_bytes.length).toBeGreaterThan(REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX);
    const { restarted, empty } = behind.restart();
    await acked(node);
    expect(prefix_sequence).toBeGreaterThan(0);
    for (const sender of [prefix_sender!, empty_sender!]) {
      expect(sender.snapshots_sent_count).toBe(1);
      expect(sender.error_code).toBe(ErrorCode.none);
    }
    expect(restarted.snapshot_sequence).toBe(snapshot.sequence);
    expect(empty.snapshot_sequence).toBe(snapshot.sequence);
    expect_snapshot_replica(empty, empty_files, node, "the empty disk");
    expect_snapshot_replica(restarted, prefix_files, node, "the restarted prefix");
    node.run(20); // and live again
    await acked(node);
    expect_snapshot_replica(empty, empty_files, node, "the empty disk, live");
    expect_snapshot_replica(restarted, prefix_files, node, "the restarted prefix, live");
    // What was installed is on disk: a restart recovers from the snapshot and the journal after.
    empty.close();
    expect_snapshot_replica(open_standby(empty_files), empty_files, node, "reopened");
  });

  test("a link lost part-way through a snapshot leaves the standby as it was; the next link " +
    "sends the snapshot again, whole", async () => {
    const holders = holders_of(PRIMARY_NODE, 1);
    const files = new PowerLossFileLayer();
    const standby = open_standby(files);
    const server = serve(STANDBY_NODE, standby, holders);
    const address = { node: STANDBY_NODE, host: "127.0.0.1", port: server.port };
    const first = primary({ node: PRIMARY_NODE, epoch: 1, seed: 52, standbys: [address] });
    first.replicator.start();
    first.run(10);
    await acked(first); // the standby's prefix
    first.replicator.stop();
    // The same primary (same seed: the same entries), its replicator not started yet.
    const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 52, standbys: [address] });
    node.run(10);
    expect(journal_lines(node.files, node.last_sequence))
      .toEqual(journal_lines(files, standby.last_sequence));
    outrun_journal(node, standby.last_sequence);
    const before = fingerprint(standby, files);
    const { sequence, file_bytes } = peek_newest_snapshot_file(node.files, DIR)!;
    // The primary, by hand: the first chunk, then a read barrier the standby acks only after
    // handling the chunk, then the link is lost.
    const peer = new RawPrimary({ group: GROUP, epoch: 1, primary_node: PRIMARY_NODE,
      standby_node: STANDBY_NODE }, KEY);
    await peer.connect(server.port);
    await wait_until(() => peer.of_type(FrameType.catch_up) !== undefined, "catch_up");
    peer.send(frame_bytes(peer.fields(FrameType.snapshot, sequence, file_bytes.length),
      file_bytes.subarray(0, REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX)));
    peer.send(frame_bytes(peer.fields(FrameType.heartbeat, node.last_sequence, 7), null));
    await wait_until(() => peer.received.some((f) => f.type === FrameType.ack && f.argument === 7),
      "the barrier's ack");
    expect(peer.of_type(FrameType.error)).toBeUndefined();
    peer.close();
    await wait_until(() => peer.closed, "the link is lost");
    expect(fingerprint(standby, files)).toBe(before);
    node.replicator.start();
    await acked(node);
    expect(node.replicator.senders[0]!.snapshots_sent_count).toBe(1);
    expect_snapshot_replica(standby, files, node, "after the lost link");
  });

  test("bad snapshot frames are refused with their code and change nothing: before the " +
    "handshake, at or below the standby's journal end, chunks of two snapshots, chunks past " +
    "the total, a damaged file, a later epoch's state, a total past the limit, entries inside",
  async () => {
    const holders = holders_of(PRIMARY_NODE, 1);
    const files = new PowerLossFileLayer();
    const standby = open_standby(files);
    const server = serve(STANDBY_NODE, standby, holders);
    const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 53,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    node.replicator.start();
    node.run(10);
    await acked(node);
    node.replicator.stop();
    outrun_journal(node, standby.last_sequence);
    const { sequence, file_bytes } = peek_newest_snapshot_file(node.files, DIR)!;
    const later = primary({ node: PRIMARY_NODE, epoch: 3, seed: 54, standbys: [] });
    later.run(60);
    later.write_snapshot();
    const later_file = peek_newest_snapshot_file(later.files, DIR)!;
    const damaged = file_bytes.slice();
    damaged[file_bytes.length >> 1]! ^= 0x01;
    const held = standby.last_sequence;
    type Peer = InstanceType<typeof RawPrimary>;
    const chunk = (peer: Peer, at: number, total: number, body: Uint8Array) =>
      frame_bytes(peer.fields(FrameType.snapshot, at, total), body);
    const cases: [string, ErrorCode, boolean, (peer: Peer) => Uint8Array[]][] = [
      ["before the handshake", ErrorCode.unexpected_frame, true,
        (peer) => [chunk(peer, sequence, 40, file_bytes.subarray(0, 40))]],
      ["at the journal's end", ErrorCode.snapshot_behind, false,
        (peer) => [chunk(peer, held, file_bytes.length, file_bytes.subarray(0, 40))]],
      ["two snapshots", ErrorCode.bad_snapshot, false, (peer) => [
        chunk(peer, sequence, file_bytes.length, file_bytes.subarray(0, 40)),
        chunk(peer, sequence + 1, file_bytes.length, file_bytes.subarray(40, 80))]],
      ["past the total", ErrorCode.bad_snapshot, false, (peer) => [
        chunk(peer, sequence, 100, file_bytes.subarray(0, 60)),
        chunk(peer, sequence, 100, file_bytes.subarray(60, 120))]],
      ["a damaged file", ErrorCode.bad_snapshot, false, (peer) => split(damaged).map((body) =>
        chunk(peer, sequence, damaged.length, body))],
      ["a later epoch's state", ErrorCode.bad_snapshot, false, (peer) => [chunk(peer,
        later_file.sequence, later_file.file_bytes.length,
        later_file.file_bytes)]],
      ["a total past the limit", ErrorCode.bad_frame, false, (peer) => [past_limit(
        chunk(peer, sequence, file_bytes.length, file_bytes.subarray(0, 40)))]],
      ["entries inside", ErrorCode.unexpected_frame, false, (peer) => [
        chunk(peer, sequence, file_bytes.length, file_bytes.subarray(0, 40)),
        frame_bytes(peer.fields(FrameType.entries, held + 1, held + 1), node.entries.at(-1)!)]],
    ];
    expect(later_file.sequence).toBeGreaterThan(held);
    const before = fingerprint(standby, files);
    for (const [what, code, silent, frames] of cases) {
      const peer = new RawPrimary({ group: GROUP, epoch: 1, primary_node: PRIMARY_NODE,
        standby_node: STANDBY_NODE }, KEY);
      await peer.connect(server.port, silent);
      if (!silent) {
        await wait_until(() => peer.of_type(FrameType.catch_up) !== undefined, "catch_up");
      }
      for (const bytes of frames(peer)) peer.send(bytes);
      await wait_until(() => peer.closed, `the standby closes the link (${what})`);
      expect([what, peer.of_type(FrameType.error)?.code]).toEqual([what, code]);
      expect(peer.of_type(FrameType.ack)).toBeUndefined();
      expect(fingerprint(standby, files)).toBe(before);
    }
  });
});

describe("replication: installing a snapshot", () => {
  test("power lost at any step of an install leaves the old journal (or less) or the snapshot " +
    "with a journal continuing it; a full disk while staging changes nothing", () => {
    const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 55, standbys: [] });
    node.run(10);
    const prefix = node.entries.map((entry) => entry.slice());
    const prefix_end = node.last_sequence;
    outrun_journal(node, prefix_end);
    const { sequence, file_bytes } = peek_newest_snapshot_file(node.files, DIR)!;
    const full = standby_with(prefix);
    const before = fingerprint(full.standby, full.files);
    full.files.set_free_bytes(1_000);
    expect(() => full.standby.install_snapshot(sequence, file_bytes)).toThrow(DiskFullError);
    expect(fingerprint(full.standby, full.files)).toBe(before);
    full.files.set_free_bytes(null);
    expect(full.standby.install_snapshot(sequence, file_bytes)).toBe(sequence);
    // Every step the install takes, power lost there: recovery works and finds either the
    // snapshot whole (with nothing before it) or the old journal (all of it, or a shorter one).
    let step = 1;
    for (; ; step++) {
      const { files, standby } = standby_with(prefix);
      files.crash_after_operations(step);
      try {
        standby.install_snapshot(sequence, file_bytes);
        break; // past the last step: the install completed
      } catch (error) {
        if (!(error instanceof SimulatedCrashError)) throw error;
      }
      files.crash(new Prng(step));
      const recovered = open_standby(files);
      if (recovered.snapshot_sequence === sequence) {
        expect(recovered.last_sequence).toBe(sequence);
      } else {
        expect(recovered.snapshot_sequence).toBe(0);
        expect(recovered.last_sequence).toBeLessThanOrEqual(prefix_end);
      }
    }
    expect(step).toBeGreaterThan(5); // staged, the old files deleted, named: each a step
  });
});

/** A standby on a fresh disk holding `entries`, durably. */
function standby_with(entries: Uint8Array[]): { files: PowerLossFileLayer;
  standby: StandbyGroup } {
  const files = new PowerLossFileLayer();
  const standby = open_standby(files);
  for (const entry of entries) {
    const copy = entry.slice();
    standby.append_entries(new DataView(copy.buffer), 0, copy.length);
  }
  standby.sync();
  return { files, standby };
}

/** A file's chunks of the largest size. */
function split(file_bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < file_bytes.length; at += REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX) {
    chunks.push(file_bytes.subarray(at, at + REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX));
  }
  return chunks;
}

/** A snapshot frame rewritten, as a buggy peer would send it, to name a total past the limit. */
function past_limit(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, REPLICATION_FRAME_HEADER_BYTES);
  view.setFloat64(32, REPLICATION_SNAPSHOT_BYTES_MAX + 1, true);
  view.setUint32(44, Bun.hash.crc32(bytes.subarray(0, 44)), true);
  return bytes;
}
