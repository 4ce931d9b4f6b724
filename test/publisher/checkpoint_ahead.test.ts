// A publisher checkpoint ahead of the recovered journal (a restored older disk, a lost tail) stops
// start-up of a real server process with exit code 3 and a message naming the group, both
// sequences and what the operator can do; a checkpoint exactly at the journal's end starts.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { group_dir } from "../../journal/segment_names.ts";
import { write_checkpoint } from "../../journal/publisher_checkpoint.ts";
import { open_account } from "../../harness/http_client.ts";
import { ServiceProcess } from "../../harness/service_process.ts";
import { ensure_services, type Services } from "../../harness/services.ts";

const EUR = 978;
const PARTNER = 41;
const TEST_TIMEOUT_MS = 90_000;

let services: Services;
let service: ServiceProcess | null = null;

beforeAll(async () => {
  services = await ensure_services();
});

afterAll(async () => {
  if (service !== null) {
    await service.kill();
    service.remove_data();
  }
});

test("a checkpoint past the journal's end stops start-up with exit code 3", async () => {
  const env = { GROUPS: "1", KAFKA_BROKERS: services.kafka_brokers,
    EVENTS_TOPIC: `checkpoint-ahead-${process.pid}-${Date.now()}` };
  service = await ServiceProcess.start({ env });
  let last_sequence = 0;
  for (let k = 0; k < 3; k++) {
    const result = await open_account(service.base_url, PARTNER, BigInt(1000 + k), EUR);
    last_sequence = Number(result.sequence);
  }
  expect(await service.stop()).toBe(0);
  const dir = group_dir(service.data_dir, 0);

  // At the edge: a checkpoint at the journal's last sequence is consistent.
  write_checkpoint(dir, last_sequence);
  service = await service.restart();
  expect(await service.stop()).toBe(0);

  // One past it: Kafka holds an event the journal does not.
  write_checkpoint(dir, last_sequence + 1);
  const failure = await service.restart_refused();
  console.log(failure);
  expect(failure).toContain("exited before ready (code 3");
  expect(failure).toContain(`start-up refused: group 0: the publisher checkpoint is at sequence ` +
    `${last_sequence + 1} but the recovered journal ends at ${last_sequence}`);
  expect(failure).toContain("Restore the data directory");
}, TEST_TIMEOUT_MS);
