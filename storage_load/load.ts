// Loading from storage (docs/design.md section 5): a node that starts with no local state for a
// group reads the group's balances, open holds and their sequence S from PostgreSQL in one
// REPEATABLE READ transaction, replays the group's Kafka partition from far enough back to rebuild
// the idempotency window up to the partition's end, and writes the result as a snapshot (plus the
// publisher's checkpoint at its sequence). The ordinary start-up then recovers from that snapshot,
// so a loaded group and a restarted one serve from the same code path.
//
// Where reading starts: the first record written at or after (time of S) - window - margin. Record
// timestamps are the publisher's clock when it sent them, never before the engine time of their
// events, so that record is at or before both S+1 and the oldest id the window needs. If what was
// read does not reach back that far (a clock set back, a topic that lost records), reading starts
// again from the partition's oldest record; if the window still cannot be rebuilt whole, the node
// waits until every id it might miss has expired (an order id older than engine time - window is
// refused as expired, whatever the window holds) before it serves.

import postgres from "postgres";
import { capture_snapshot } from "../engine/snapshot.ts";
import type { GroupEngine } from "../engine/group_engine.ts";
import { group_dir } from "../journal/segment_names.ts";
import type { GroupLimits } from "../engine/rules.ts";
import { decode_event_record } from "../events/decode.ts";
import type { FileLayer } from "../journal/file_layer.ts";
import { list_segments } from "../journal/segment_names.ts";
import { read_newest_snapshot, write_snapshot } from "../journal/snapshot_file.ts";
import { write_checkpoint } from "../journal/publisher_checkpoint.ts";
import { EventEntries } from "./event_entries.ts";
import { GroupBuilder } from "./group_builder.ts";
import { KafkaHistory } from "./kafka_history.ts";
import {
  nothing_stored, projection_exists, read_group_state, type GroupStoredState,
} from "./postgres_state.ts";

/** Reading starts this much before the window needs, for clocks that differ a little. */
export const LOAD_TIME_MARGIN_MS = 60_000;

export interface StorageLoadOptions {
  files: FileLayer;
  data_dir: string;
  groups: number[];
  limits: GroupLimits;
  database_url: string;
  /** The schema of the projector's tables (null: the server's search_path). */
  database_schema: string | null;
  kafka_brokers: string;
  topic: string;
  log: (line: string) => void;
}

export interface GroupLoad {
  group: number;
  /** The sequence PostgreSQL held. */
  stored_sequence: number;
  /** The sequence the group continues from. */
  last_sequence: number;
  /** Events before S read back for their ids, and events after S replayed. */
  remembered_events: number;
  replayed_events: number;
  kafka_from_offset: number;
  /** False when Kafka no longer holds every event the window needs (see the file comment). */
  window_complete: boolean;
  engine_time_ms: number;
  duration_ms: number;
}

/** The groups of `groups` with neither a snapshot nor a journal segment in DATA_DIR. */
export function groups_without_state(files: FileLayer, data_dir: string,
  groups: number[]): number[] {
  return groups.filter((group) => {
    const dir = group_dir(data_dir, group);
    files.mkdir_p(dir);
    return read_newest_snapshot(files, dir) === null && list_segments(files, dir).length === 0;
  });
}

/** Loads each group of options.groups (none may have local state) and writes its snapshot. */
export async function load_groups_from_storage(options: StorageLoadOptions): Promise<GroupLoad[]> {
  const client = postgres(options.database_url, {
    max: 1, onnotice: () => {},
    connection: options.database_schema === null ? {} : { search_path: options.database_schema },
  });
  const history = await KafkaHistory.open(options.kafka_brokers, options.topic, "balance-load");
  try {
    const projected = await projection_exists(client);
    if (!projected) {
      options.log(`PostgreSQL has no projection${options.database_schema === null ? "" :
        ` in schema ${options.database_schema}`} (no projector has migrated it): loading from ` +
        `Kafka alone, from each partition's first event`);
    }
    const loads: GroupLoad[] = [];
    for (const group of options.groups) {
      const load = await load_group(options, projected ? client : null, history, group);
      options.log(load_line(load));
      loads.push(load);
    }
    await wait_out_incomplete_windows(loads, options);
    return loads;
  } finally {
    await history.close();
    await client.end({ timeout: 5 });
  }
}

/** What the log says of one group's load. */
function load_line(load: GroupLoad): string {
  if (load.last_sequence === 0) {
    return `group ${load.group}: nothing in storage either: an ordinary first start`;
  }
  return `group ${load.group}: loaded from storage at sequence ${load.last_sequence} ` +
    `(PostgreSQL ${load.stored_sequence}, ${load.replayed_events} events replayed from Kafka, ` +
    `${load.remembered_events} read back for the window) in ${load.duration_ms.toFixed(0)} ms`;
}

/** client: null when PostgreSQL has no projection (nothing stored: Kafka alone). */
async function load_group(options: StorageLoadOptions, client: postgres.Sql | null,
  history: KafkaHistory, group: number): Promise<GroupLoad> {
  const started_ms = performance.now();
  const window_ms = options.limits.idempotency_window_ms;
  const stored = client === null ? nothing_stored(group) :
    await read_group_state(client, group, window_ms);
  const range = history.partition_offsets(group);
  const from_time_offset = stored.sequence === 0 ? range.low :
    await history.offset_at_time(group, stored.engine_time_ms - window_ms - LOAD_TIME_MARGIN_MS);
  let attempt = await replay_partition(options, history, stored, from_time_offset);
  if (!attempt.reaches_back && from_time_offset > range.low) {
    options.log(`group ${group}: the records from offset ${from_time_offset} do not reach back ` +
      `far enough; reading again from offset ${range.low}`);
    attempt = await replay_partition(options, history, stored, range.low);
  }
  const engine = attempt.builder.finish(stored.engine_time_ms);
  write_group_files(options, engine);
  return {
    group,
    stored_sequence: stored.sequence,
    last_sequence: engine.last_sequence,
    remembered_events: attempt.builder.remembered_events,
    replayed_events: attempt.builder.replayed_events,
    kafka_from_offset: attempt.from_offset,
    window_complete: attempt.reaches_back,
    engine_time_ms: engine.engine_time_ms,
    duration_ms: performance.now() - started_ms,
  };
}

interface ReplayAttempt {
  builder: GroupBuilder;
  from_offset: number;
  /** The events read cover S+1 and every id the window needs. */
  reaches_back: boolean;
}

async function replay_partition(options: StorageLoadOptions, history: KafkaHistory,
  stored: GroupStoredState, from_offset: number): Promise<ReplayAttempt> {
  const builder = new GroupBuilder(stored, options.limits);
  const entries = new EventEntries();
  const add = builder.add_entry.bind(builder);
  await history.read(stored.group, from_offset, (value, offset) => {
    const decoded = decode_event_record(value);
    if (!decoded.ok) {
      throw new Error(`Kafka ${history.topic} partition ${stored.group} offset ${offset}: ` +
        `the record does not decode (${decoded.error})`);
    }
    if (decoded.record.header.group !== stored.group) {
      throw new Error(`Kafka ${history.topic} partition ${stored.group} offset ${offset}: ` +
        `a record of group ${decoded.record.header.group}`);
    }
    entries.each_entry(decoded.record, stored.sequence, add);
  });
  return { builder, from_offset, reaches_back: reaches_back(builder, stored, options) };
}

function reaches_back(builder: GroupBuilder, stored: GroupStoredState,
  options: StorageLoadOptions): boolean {
  if (builder.first_event_sequence === 0) return stored.sequence === 0;
  if (builder.first_event_sequence > stored.sequence + 1) return false;
  if (builder.first_event_sequence === 1) return true;
  const end_time_ms = Math.max(builder.engine.engine_time_ms, stored.engine_time_ms);
  return builder.first_event_time_ms <= end_time_ms - options.limits.idempotency_window_ms;
}

function write_group_files(options: StorageLoadOptions, engine: GroupEngine): void {
  if (engine.last_sequence === 0) return; // nothing stored anywhere: an ordinary first start
  const dir = group_dir(options.data_dir, engine.group);
  options.files.mkdir_p(dir);
  write_snapshot(options.files, dir, engine.last_sequence, capture_snapshot(engine));
  // Kafka has every event up to here: the publisher continues after it.
  write_checkpoint(dir, engine.last_sequence);
}

/** With an incomplete window, serving waits until every id it might lack has expired. */
async function wait_out_incomplete_windows(loads: GroupLoad[], options: StorageLoadOptions) {
  const window_ms = options.limits.idempotency_window_ms;
  const until_ms = Math.max(0, ...loads.filter((l) => !l.window_complete)
    .map((l) => l.engine_time_ms + window_ms));
  const wait_ms = until_ms - Date.now();
  if (wait_ms <= 0) return;
  options.log(`Kafka no longer holds every event of the idempotency window of groups ` +
    `${loads.filter((l) => !l.window_complete).map((l) => l.group).join(", ")}: ` +
    `waiting ${wait_ms} ms until every id they might lack has expired`);
  await Bun.sleep(wait_ms);
}
