// The projector as a process: applies the migrations (projector/migrate.ts), then consumes the
// events topic into PostgreSQL (projector/consumer.ts) until SIGTERM or SIGINT, which let the batch
// in progress finish and commit. Exits 0 when stopped so, 1 when it stopped itself (a record it
// could not apply: see the log), 2 when misconfigured. docs/projector.md.
//
//   DATABASE_URL=postgres://... KAFKA_BROKERS=host:port bun projector/main.ts
//   EVENTS_TOPIC (default balance-events), PROJECTOR_GROUP_ID (default balance-projector)

import { start_projector } from "./consumer.ts";
import { apply_migrations } from "./migrate.ts";

export const EVENTS_TOPIC_DEFAULT = "balance-events";
export const PROJECTOR_GROUP_ID_DEFAULT = "balance-projector";

async function main(): Promise<number> {
  const database_url = process.env.DATABASE_URL ?? "";
  const kafka_brokers = process.env.KAFKA_BROKERS ?? "";
  const topic = process.env.EVENTS_TOPIC || EVENTS_TOPIC_DEFAULT;
  const group_id = process.env.PROJECTOR_GROUP_ID || PROJECTOR_GROUP_ID_DEFAULT;
  if (database_url === "" || kafka_brokers === "") {
    console.error("DATABASE_URL (postgres://user@host:port/database) and KAFKA_BROKERS " +
      "(host:port[,host:port...]) must be set");
    return 2;
  }
  await apply_migrations(database_url);
  const projector = await start_projector({ kafka_brokers, database_url, topic, group_id });
  console.log(`projector: consuming ${topic} as group ${group_id}`);
  let stopped_by_signal = false;
  const on_signal = (signal: string) => {
    if (stopped_by_signal) return;
    stopped_by_signal = true;
    console.log(`projector: ${signal}, finishing the current batch`);
    projector.stop().catch((error) => console.error("projector: stop failed", error));
  };
  process.on("SIGTERM", () => on_signal("SIGTERM"));
  process.on("SIGINT", () => on_signal("SIGINT"));
  try {
    await projector.done;
    console.log("projector: stopped");
    return 0;
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 1;
  }
}

if (import.meta.main) process.exit(await main());
