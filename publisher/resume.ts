// Where a cluster node's publisher resumes a group it comes to lead (node/cluster_publisher.ts):
// after the last sequence of the last record Kafka holds for the group's partition.

import { assert } from "../common/assert.ts";
import { decode_event_record } from "../events/decode.ts";

/** The last sequence of a record read from `group`'s partition (checked whole first). */
export function record_last_sequence(value: Uint8Array, group: number): number {
  const decoded = decode_event_record(value);
  assert(decoded.ok, `group ${group}: the last record in Kafka is damaged`);
  assert(decoded.record.header.group === group, "a partition holds its own group's records");
  return decoded.record.header.last_sequence;
}
