// With a publisher, journal segments are deleted only behind min(previous snapshot, publisher
// checkpoint); without one, behind the previous snapshot (unchanged).

import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { JOURNAL_SEGMENT_SIZE_BYTES_MIN } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { read_journal } from "../../journal/journal_reader.ts";
import { JournalWriter } from "../../journal/journal_writer.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { SnapshotQueue } from "../../journal/snapshot_queue.ts";
import { make_entry } from "../journal/entries.ts";

const GROUP = 7;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function first_segment_after(publisher: Map<number, number> | null, checkpoint: number): number {
  const files = new NodeFileLayer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "retention-test-"));
  dirs.push(dir);
  const writer = JournalWriter.open(files, dir, read_journal(files, dir, 0, () => {}),
    { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_MIN });
  const prng = new Prng(1);
  let sequence = 1;
  for (let n = 0; n < 300; n++) {
    writer.append(make_entry(prng, sequence, 200, GROUP));
    sequence += 200;
  }
  const durable = writer.sync();
  expect(list_segments(files, dir).length).toBeGreaterThan(4);
  const queue = new SnapshotQueue(files, new Map([[GROUP, writer]]),
    new Map([[GROUP, { dir, sequence: 0 }]]), () => {}, publisher);
  if (publisher !== null) queue.set_publisher_checkpoint(GROUP, checkpoint);
  const durable_by_group = new Map([[GROUP, durable]]);
  for (const snapshot_sequence of [durable - 400, durable]) {
    queue.add({ group: GROUP, sequence: snapshot_sequence, chunks: [new Uint8Array(64)],
      release: () => {} });
    while (queue.step(durable_by_group)) { /* write it */ }
  }
  const first = list_segments(files, dir)[0]!.first_sequence;
  writer.close();
  return first;
}

test("segments are kept behind the publisher's checkpoint", () => {
  const without = first_segment_after(null, 0);
  expect(without).toBeGreaterThan(1); // deleted behind the previous snapshot
  expect(first_segment_after(new Map(), 0)).toBe(1); // nothing published: nothing deleted
  const partly = first_segment_after(new Map(), 15_000);
  expect(partly).toBeGreaterThan(1);
  expect(partly).toBeLessThanOrEqual(15_001);
  expect(first_segment_after(new Map(), 1_000_000)).toBe(without);
});
