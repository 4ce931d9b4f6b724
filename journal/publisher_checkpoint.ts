// The publisher's checkpoint per group: DATA_DIR/group-NNNN/publisher.checkpoint, the last sequence
// Kafka acknowledged (acks all). Written atomically: temporary file, fsync, rename, fsync of the
// directory, so after any crash it holds an acknowledged sequence (never one ahead of Kafka).
// Format: one line `publisher-checkpoint v1 <sequence>`.

import * as fs from "node:fs";
import { list_segments } from "./segment_names.ts";
import type { FileLayer } from "./file_layer.ts";

export const CHECKPOINT_NAME = "publisher.checkpoint";
const CHECKPOINT_TEMP_NAME = "publisher.checkpoint.tmp";
const PATTERN = /^publisher-checkpoint v1 (\d+)\n$/;

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

/** The checkpoint, or null when the group has none yet. Throws on a damaged file. */
export function read_checkpoint(dir: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(`${dir}/${CHECKPOINT_NAME}`, "utf8");
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return null;
    throw error;
  }
  const match = PATTERN.exec(text);
  const sequence = match === null ? NaN : Number(match[1]);
  if (!Number.isSafeInteger(sequence)) {
    throw new CheckpointError(`${dir}/${CHECKPOINT_NAME} is damaged: ${JSON.stringify(text)}`);
  }
  return sequence;
}

/**
 * Where the publisher starts in a group: its checkpoint, or, with none (a publisher enabled on an
 * existing data directory), just before the oldest sequence the journal still holds.
 */
export function start_checkpoint(files: FileLayer, dir: string): number {
  const checkpoint = read_checkpoint(dir);
  if (checkpoint !== null) return checkpoint;
  const first = list_segments(files, dir)[0];
  return first === undefined ? 0 : first.first_sequence - 1;
}

/**
 * Refuses a checkpoint past the recovered journal's end (a restored older disk, a lost tail): the
 * engine would reissue sequences that Kafka already holds with other events, and the publisher
 * would wait for them silently. Start-up stops with what the operator can do.
 */
export function check_checkpoint_within_journal(group: number, checkpoint_sequence: number,
  journal_last_sequence: number): void {
  if (checkpoint_sequence <= journal_last_sequence) return;
  throw new CheckpointError(`group ${group}: the publisher checkpoint is at sequence ` +
    `${checkpoint_sequence} but the recovered journal ends at ${journal_last_sequence}; Kafka ` +
    `holds events the journal lost (a restored older disk, a lost tail), and new orders would ` +
    `reuse their sequences. Restore the data directory that holds them, or, to rebuild this ` +
    `group from PostgreSQL and Kafka, move its directory away (with DATABASE_URL set, the ` +
    `node then loads it from storage); do not delete the checkpoint alone`);
}

export function write_checkpoint(dir: string, sequence: number): void {
  const temp = `${dir}/${CHECKPOINT_TEMP_NAME}`;
  const fd = fs.openSync(temp, "w", 0o644);
  try {
    fs.writeSync(fd, `publisher-checkpoint v1 ${sequence}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, `${dir}/${CHECKPOINT_NAME}`);
  const dir_fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(dir_fd);
  } finally {
    fs.closeSync(dir_fd);
  }
}
