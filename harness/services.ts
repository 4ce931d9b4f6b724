// The real PostgreSQL and Kafka for tests. DATABASE_URL / KAFKA_BROKERS are used when set; the
// rest come from this checkout's private instances, started or reused by scripts/services/up.sh
// (`make test` has already started them, so this is a quick round trip). There are no fakes and
// no skips: if a service cannot be had, ensure_services throws with everything the scripts said.

import { resolve } from "node:path";
import { silence_kafkajs_timeout_warning } from "../common/kafkajs_warning.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");
const UP_SCRIPT = resolve(REPO_ROOT, "scripts", "services", "up.sh");
// A cold start fetches the Kafka jars and installs Debian packages: give it room, bounded.
const UP_TIMEOUT_MS = 600_000;

export interface Services {
  /** postgres://user@host:port/database */
  database_url: string;
  /** host:port[,host:port...] */
  kafka_brokers: string;
}

let services_promise: Promise<Services> | null = null;

/** The services for this test process: resolved once, shared by every test file. */
export function ensure_services(): Promise<Services> {
  silence_kafkajs_timeout_warning();
  if (services_promise === null) {
    services_promise = resolve_services();
    // A failure is reported to every caller, and a later call tries again.
    services_promise.catch(() => {
      services_promise = null;
    });
  }
  return services_promise;
}

/** The brokers as kafkajs wants them. */
export function broker_list(services: Services): string[] {
  return services.kafka_brokers.split(",");
}

async function resolve_services(): Promise<Services> {
  const database_url = process.env.DATABASE_URL ?? "";
  const kafka_brokers = process.env.KAFKA_BROKERS ?? "";
  if (database_url !== "" && kafka_brokers !== "") return { database_url, kafka_brokers };
  const printed = await run_up_script();
  const services = {
    database_url: database_url !== "" ? database_url : printed.get("DATABASE_URL") ?? "",
    kafka_brokers: kafka_brokers !== "" ? kafka_brokers : printed.get("KAFKA_BROKERS") ?? "",
  };
  if (services.database_url === "" || services.kafka_brokers === "") {
    throw new Error(`scripts/services/up.sh printed no DATABASE_URL or KAFKA_BROKERS:\n${[...printed]}`);
  }
  return services;
}

async function run_up_script(): Promise<Map<string, string>> {
  const child = Bun.spawn(["bash", UP_SCRIPT], {
    cwd: REPO_ROOT,
    env: process.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: UP_TIMEOUT_MS,
  });
  const [stdout, stderr, exit_code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (exit_code !== 0) {
    throw new Error(
      `the test services could not be had: scripts/services/up.sh exited ${exit_code}` +
        ` (signal ${child.signalCode ?? "none"})\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
    );
  }
  const printed = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const equals = line.indexOf("=");
    if (equals <= 0) continue;
    printed.set(line.slice(0, equals), line.slice(equals + 1));
  }
  return printed;
}
