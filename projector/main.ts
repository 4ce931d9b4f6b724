// The projector as a process: reads its configuration (projector/config.ts), serves the read API
// (projector/read_api.ts) at once (/readyz says 503 until the migrations are applied), applies the
// migrations (projector/migrate.ts), then consumes the events topic into PostgreSQL
// (projector/consumer.ts) until SIGTERM or SIGINT, which let the batch in progress finish and
// commit. Exits 0 when stopped so, 1 when it stopped itself (a record it could not apply, or
// PostgreSQL / Kafka unreachable at start: see the log), 2 when misconfigured. docs/projector.md.
//
//   DATABASE_URL=postgres://... KAFKA_BROKERS=host:port bun projector/main.ts

import { set_up_auth, type AuthSetup } from "../auth/setup.ts";
import { ConfigError, load_projector_config, type ProjectorConfig } from "./config.ts";
import { start_projector, type Projector } from "./consumer.ts";
import { apply_migrations, MIGRATIONS_SCHEMA_DEFAULT, type MigrateOptions } from "./migrate.ts";
import { ProjectorMetrics } from "./metrics.ts";
import { database_readiness, start_read_api } from "./read_api.ts";
import { open_read_pool } from "./read_queries.ts";

async function configure(): Promise<{ config: ProjectorConfig; auth: AuthSetup } | number> {
  try {
    const config = load_projector_config();
    const auth = await set_up_auth(process.env, config.data_dir);
    return { config, auth };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`configuration: ${error.message}`);
    return 2;
  }
}

/** Migrations, then the consumer; null (logged) when PostgreSQL or Kafka cannot be had. */
async function start_consuming(config: ProjectorConfig, metrics: ProjectorMetrics)
  : Promise<Projector | null> {
  const schema = config.database_schema;
  const migrate_options: MigrateOptions = schema === null ? {}
    : { migrations_schema: schema, search_path: schema };
  try {
    await apply_migrations(config.database_url, migrate_options);
    return await start_projector({
      kafka_brokers: config.kafka_brokers, database_url: config.database_url,
      topic: config.events_topic, group_id: config.group_id,
      on_applied: (applied) => metrics.on_applied(applied, Date.now()),
      ...(schema === null ? {} : { search_path: schema }),
    });
  } catch (error) {
    console.error(`projector: could not start: ${error instanceof Error ? error.message : error}`);
    return null;
  }
}

async function main(): Promise<number> {
  const configured = await configure();
  if (typeof configured === "number") return configured;
  const { config, auth } = configured;
  const pool = open_read_pool(config.database_url, config.database_schema);
  const migrations_schema = config.database_schema ?? MIGRATIONS_SCHEMA_DEFAULT;
  const metrics = new ProjectorMetrics();
  const server = start_read_api({
    host: config.http_host, port: config.http_port, auth: auth.authenticator, db: pool.db,
    readiness: database_readiness(pool.db, migrations_schema), metrics: () => metrics.render(),
  });
  console.log(`projector: read API on http://${server.hostname}:${server.port}`);
  for (const line of auth.banner) console.log(line);
  try {
    const projector = await start_consuming(config, metrics);
    if (projector === null) return 1;
    console.log(`projector: consuming ${config.events_topic} as group ${config.group_id}` +
      ` into schema ${config.database_schema ?? "(search_path)"}`);
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
  } finally {
    server.stop(true);
    auth.authenticator?.close();
    await pool.close();
  }
}

if (import.meta.main) process.exit(await main());
