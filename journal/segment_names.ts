// Segment file names: `segment-<first sequence, 20 digits>.jrnl`, so that names sort like sequences
// and a segment's first sequence is known without opening it.

import { assert } from "../common/assert.ts";
import type { FileLayer } from "./file_layer.ts";

const SEGMENT_PATTERN = /^segment-(\d{20})\.jrnl$/;
const SEQUENCE_DIGITS = 20;

/** A group's directory in DATA_DIR: its segments, snapshots and publisher checkpoint. */
export function group_dir(data_dir: string, group: number): string {
  return `${data_dir}/group-${String(group).padStart(4, "0")}`;
}

/** The next segment, preallocated ahead of time; renamed to its real name when it is used. */
export const SEGMENT_PREPARED_NAME = "segment-next.jrnl.tmp";

export interface SegmentListing {
  name: string;
  first_sequence: number;
}

export function segment_name(first_sequence: number): string {
  assert(Number.isSafeInteger(first_sequence) && first_sequence >= 1, "sequence >= 1");
  return `segment-${String(first_sequence).padStart(SEQUENCE_DIGITS, "0")}.jrnl`;
}

export function parse_segment_name(name: string): number | null {
  const match = SEGMENT_PATTERN.exec(name);
  if (match === null || match[1] === undefined) return null;
  const first_sequence = Number(match[1]);
  if (!Number.isSafeInteger(first_sequence) || first_sequence < 1) return null;
  return first_sequence;
}

/** Segments of a group directory, by first sequence. Other files are ignored. */
export function list_segments(files: FileLayer, dir: string): SegmentListing[] {
  const segments: SegmentListing[] = [];
  for (const name of files.list(dir)) {
    const first_sequence = parse_segment_name(name);
    if (first_sequence !== null) segments.push({ name, first_sequence });
  }
  segments.sort((a, b) => a.first_sequence - b.first_sequence);
  return segments;
}
