// Waits until a Kafka broker answers a real round trip: kafkajs connects, asks for the cluster's
// metadata (DescribeCluster over a Metadata request) and sees at least one broker and a controller,
// then asks the group coordinator about a probe group (FindCoordinator, DescribeGroups): on a new
// broker that creates the offsets topic and waits out "the coordinator is loading", so the first
// consumer group of a test does not meet it.
// Used by scripts/services/kafka.sh after it starts the broker, never a fixed sleep.
//
//   bun scripts/services/kafka_ready.ts <brokers, comma-separated> <timeout_s>
//
// Exit 0 and one line "cluster <id>, brokers <n>" when ready; exit 1 with the last error otherwise.

import { Kafka, logLevel } from "kafkajs";
import { silence_kafkajs_timeout_warning } from "../../common/kafkajs_warning.ts";

const POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 2_000;
const PROBE_GROUP_ID = "balance-services-ready";

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function probe_once(brokers: string[]): Promise<string> {
  const kafka = new Kafka({
    clientId: "balance-services-ready",
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: REQUEST_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    assert(cluster.brokers.length > 0, "the metadata lists no broker");
    assert(cluster.controller !== null && cluster.controller >= 0, "the metadata has no controller");
    const described = await admin.describeGroups([PROBE_GROUP_ID]);
    assert(described.groups.length === 1, "the group coordinator described no group");
    return `cluster ${cluster.clusterId}, brokers ${cluster.brokers.length}`;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function main(): Promise<void> {
  silence_kafkajs_timeout_warning();
  const brokers_arg = process.argv[2];
  const timeout_s = Number(process.argv[3] ?? "60");
  assert(brokers_arg !== undefined && brokers_arg !== "", "usage: kafka_ready.ts <brokers> <timeout_s>");
  assert(Number.isFinite(timeout_s) && timeout_s > 0, `timeout_s must be positive: ${timeout_s}`);
  const brokers = brokers_arg.split(",");
  const deadline_ms = Date.now() + timeout_s * 1000;
  let last_error = "";
  while (Date.now() < deadline_ms) {
    try {
      console.log(await probe_once(brokers));
      return;
    } catch (error) {
      last_error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    await Bun.sleep(POLL_MS);
  }
  console.error(`Kafka at ${brokers_arg} did not answer a metadata request in ${timeout_s}s: ${last_error}`);
  process.exit(1);
}

await main();
