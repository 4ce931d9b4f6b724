// Start-up of one group: the newest valid snapshot, then the journal after it, replayed by recorded
// outcomes. The reader cuts a torn tail (a crash mid-write) and refuses real corruption. The result
// tells the journal worker where to continue appending.

import { assert } from "../common/assert.ts";
import { JOURNAL_ENTRY_HEADER_BYTES } from "../common/constants.ts";
import type { FileLayer } from "../journal/file_layer.ts";
import { read_journal, type JournalRecovery } from "../journal/journal_reader.ts";
import { list_segments } from "../journal/segment_names.ts";
import { read_newest_snapshot } from "../journal/snapshot_file.ts";
import type { GroupEngine } from "../engine/group_engine.ts";
import { replay_entry } from "../engine/replay.ts";
import { restore_snapshot } from "../engine/snapshot.ts";

export interface GroupRecovery {
  group: number;
  snapshot_sequence: number;
  last_sequence: number;
  replayed_events: number;
  epoch: number;
  engine_time_ms: number;
  duration_ms: number;
  journal: JournalRecovery;
}

/** Rebuilds `engine` (freshly constructed) from its directory, and starts its next epoch. */
export function recover_group(files: FileLayer, dir: string, engine: GroupEngine): GroupRecovery {
  const started_ms = performance.now();
  files.mkdir_p(dir);
  const snapshot = read_newest_snapshot(files, dir);
  if (snapshot !== null) {
    restore_snapshot(engine, snapshot.bytes);
    assert(engine.last_sequence === snapshot.sequence, "snapshot holds the state at its sequence");
  }
  const snapshot_sequence = engine.last_sequence;
  // A first pass reads only where engine time ends, so replay need not remember ids the window
  // would drop before the end anyway. Engine time never goes backwards, so the last segment tells
  // (when it holds no entry yet, the horizon is only earlier: more ids remembered, then dropped,
  // the same state); reading the whole journal twice cost recovery about a fifth of its time.
  let end_time_ms = engine.engine_time_ms;
  const last_segment = list_segments(files, dir).at(-1);
  const first_pass_after = last_segment === undefined ? snapshot_sequence
    : Math.max(snapshot_sequence, last_segment.first_sequence - 1);
  const first_pass = read_journal(files, dir, first_pass_after, (_view, _offset, header) => {
    end_time_ms = Math.max(end_time_ms, header.engine_time_ms);
  });
  const second_pass = read_journal(files, dir, snapshot_sequence, (view, offset, header) => {
    // Snapshots are taken between batches, so an entry is never split by one.
    assert(header.first_sequence === engine.last_sequence + 1, "journal entry straddles the snapshot");
    replay_entry(engine, header, view, offset + JOURNAL_ENTRY_HEADER_BYTES, end_time_ms);
  });
  // The first pass already cut a torn tail: report what it cut.
  const journal = { ...second_pass,
    tail_cut_bytes: first_pass.tail_cut_bytes + second_pass.tail_cut_bytes };
  assert(journal.last_sequence === engine.last_sequence, "replay reached the journal's end");
  engine.epoch += 1;
  return {
    group: engine.group,
    snapshot_sequence,
    last_sequence: engine.last_sequence,
    replayed_events: engine.last_sequence - snapshot_sequence,
    epoch: engine.epoch,
    engine_time_ms: engine.engine_time_ms,
    duration_ms: performance.now() - started_ms,
    journal,
  };
}
