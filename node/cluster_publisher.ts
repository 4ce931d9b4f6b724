// The event stream on a cluster node (docs/cluster.md "The event stream across takeovers"): a
// group's events are published by its primary only, from the moment it is led here. Its publisher
// resumes from what Kafka already holds for the group's partition (the last record's last
// sequence), not from a local checkpoint: the previous primary, on another node, may have
// published further than this node ever knew. Events already there may be sent again (the same
// (group, sequence) with the same contents, which projectors skip); none is skipped: the new
// primary holds every committed entry, and Kafka never holds more than what was committed.
//
// Kafka away at promotion: the read is tried again with a backoff; meanwhile the group's segments
// are kept (the cluster journal deletes a led group's segments only behind a checkpoint its
// publisher reported).

import { assert } from "../common/assert.ts";
import type { FileLayer } from "../journal/file_layer.ts";
import { group_dir, list_segments } from "../journal/segment_names.ts";
import { record_last_sequence } from "../publisher/resume.ts";
import type { PublisherGroupLed } from "../publisher/worker.ts";
import { KafkaHistory } from "../storage_load/kafka_history.ts";

export const LED_READ_RETRY_FIRST_MS = 100;
export const LED_READ_RETRY_MAX_MS = 5_000;

export interface ClusterPublisherParts {
  files: FileLayer;
  kafka_brokers: string;
  topic: string;
  data_dir: string;
  /** The group's committed sequence now (the router's durable sequence). */
  durable_of(group: number): number;
  /** Hands the group to the publisher worker. */
  led(led: PublisherGroupLed): void;
}

export class ClusterPublisher {
  /** Groups led here whose start in Kafka is not read yet. */
  private readonly waiting: number[] = [];
  /** Groups handed to the publisher worker (it publishes them for as long as the node runs). */
  private readonly published = new Set<number>();
  private reading = false;

  constructor(private readonly parts: ClusterPublisherParts) {}

  /**
   * The group is led here from now on: publish it from what Kafka holds. Led again after a
   * handover away and back, it goes on from this node's own checkpoint: it may send again events
   * the other primary published meanwhile (the same ones: they came here by replication).
   */
  on_led(group: number): void {
    if (this.published.has(group) || this.waiting.includes(group)) return;
    this.waiting.push(group);
    if (!this.reading) void this.read_waiting();
  }

  // One Kafka connection (one consumer) reads the start of every group waiting, retried while
  // Kafka is away; groups led meanwhile join the next pass.
  private async read_waiting(): Promise<void> {
    this.reading = true;
    let delay_ms = LED_READ_RETRY_FIRST_MS;
    while (this.waiting.length > 0) {
      const groups = [...this.waiting];
      try {
        const starts = await this.kafka_ends(groups);
        this.waiting.splice(0, groups.length);
        for (const [group, checkpoint] of starts) this.hand_over(group, checkpoint);
        delay_ms = LED_READ_RETRY_FIRST_MS;
      } catch (error) {
        console.error(`publisher: reading Kafka's end of groups ${groups.join(",")} failed, ` +
          `retrying in ${delay_ms} ms: ${String(error)}`);
        await Bun.sleep(delay_ms);
        delay_ms = Math.min(delay_ms * 2, LED_READ_RETRY_MAX_MS);
      }
    }
    this.reading = false;
  }

  private hand_over(group: number, checkpoint: number): void {
    const durable = this.parts.durable_of(group);
    const dir = group_dir(this.parts.data_dir, group);
    // Kafka holds only committed events, and this primary holds every committed entry.
    assert(checkpoint <= durable, `group ${group}: Kafka holds sequence ${checkpoint}, past ` +
      `the committed ${durable}`);
    console.log(`publisher: group ${group} led here: publishing after sequence ${checkpoint}`);
    this.published.add(group);
    this.parts.led({ group, dir, checkpoint, durable });
  }

  /** Per group, the last sequence its partition holds (or the journal's start when empty). */
  private async kafka_ends(groups: number[]): Promise<[number, number][]> {
    const history = await KafkaHistory.open(this.parts.kafka_brokers, this.parts.topic,
      "balance-publisher-start");
    try {
      const ends: [number, number][] = [];
      for (const group of groups) ends.push([group, await this.kafka_end(history, group)]);
      return ends;
    } finally {
      await history.close();
    }
  }

  private async kafka_end(history: KafkaHistory, group: number): Promise<number> {
    const { low, high } = history.partition_offsets(group);
    if (high === low) return this.journal_start(group);
    let last_sequence = -1;
    await history.read(group, high - 1, (value) => {
      last_sequence = record_last_sequence(value, group);
    });
    assert(last_sequence >= 0, `group ${group}: the last record in Kafka was read`);
    return last_sequence;
  }

  /** An empty partition: everything the journal still holds is published. */
  private journal_start(group: number): number {
    const first = list_segments(this.parts.files, group_dir(this.parts.data_dir, group))[0];
    return first === undefined ? 0 : first.first_sequence - 1;
  }
}
