// docker/docker-compose.yml checked for real without a Docker engine: Debian's docker-compose
// validates it (schema and cross-references), broken copies of it must be refused with the
// specific error, and the resolved file must mean what the stack needs: the service's environment
// passes the service's own configuration, the projector reads the same topic with the service's
// key, start order waits on health, and every file the images run exists.

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { load_auth_options } from "../../auth/options.ts";
import { uses_dev_key } from "../../auth/dev_keys.ts";
import { load_config } from "../../config/config.ts";
import { load_projector_config } from "../../projector/config.ts";
import {
  COMPOSE_FILE, REPO_ROOT, compose_config, compose_config_of, environment_of, is_map, map_at,
  parse_yaml, strings_at, type Yaml,
} from "./compose.ts";
import { command_of, healthcheck_of, read_dockerfile, type Dockerfile } from "./dockerfile.ts";

const source = parse_yaml(await Bun.file(COMPOSE_FILE).text(), COMPOSE_FILE);
const valid = compose_config(COMPOSE_FILE);
const resolved = parse_yaml(valid.stdout, "docker-compose config's output");

/** The names `read` looks up in env (through a Proxy), with its result. */
function names_read<T>(env: Record<string, string>, read: (env: Record<string, string>) => T)
  : { names: Set<string>; result: T } {
  const names = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, name, receiver) {
      if (typeof name === "string") names.add(name);
      return Reflect.get(target, name, receiver);
    },
  });
  return { names, result: read(proxy) };
}

function copy_of(document: Yaml): Yaml {
  return structuredClone(document);
}

function service_of(document: Yaml, name: string): Yaml {
  return map_at(document, "services", name);
}

describe("docker-compose config", () => {
  test("accepts docker/docker-compose.yml", () => {
    expect(valid.stderr).toBe("");
    expect(valid.exit_code).toBe(0);
    expect(Object.keys(map_at(resolved, "services")).sort())
      .toEqual(["kafka", "kafka-init", "migrate", "postgres", "projector", "service"]);
  });

  test("accepts an unchanged copy, so the refusals below come from their change alone", () => {
    const run = compose_config_of(copy_of(source));
    expect(run.stderr).toBe("");
    expect(run.exit_code).toBe(0);
  });

  const broken: { name: string; change: (document: Yaml) => void; error: RegExp }[] = [
    { name: "an unknown key in a service",
      change: (d) => { service_of(d, "service").restart_polcy = "always"; },
      error: /Unsupported config option for services\.service: 'restart_polcy'/ },
    { name: "an unknown top-level key",
      change: (d) => { d.servces = {}; },
      error: /'servces' does not match any of the regexes: '\^x-'/ },
    { name: "depends_on a service that does not exist",
      change: (d) => { map_at(d, "services", "projector", "depends_on").postgress = { condition:
        "service_healthy" }; },
      error: /Service 'projector' depends on service 'postgress' which is undefined/ },
    { name: "a wrong type: stop_grace_period a list",
      change: (d) => { service_of(d, "service").stop_grace_period = ["60s"]; },
      error: /services\.service\.stop_grace_period contains an invalid type, it should be a string/ },
    { name: "a wrong type: an environment value a list",
      change: (d) => { map_at(d, "services", "kafka", "environment").KAFKA_NODE_ID = [1]; },
      error: /services\.kafka\.environment\.KAFKA_NODE_ID contains \[1\], which is an invalid type/ },
    { name: "a wrong type: healthcheck retries a word",
      change: (d) => { map_at(d, "services", "kafka", "healthcheck").retries = "ten"; },
      error: /kafka\.healthcheck\.retries .*"ten" is not a valid integer/ },
    { name: "an unknown depends_on condition",
      change: (d) => {
        map_at(d, "services", "projector", "depends_on", "service").condition = "service_happy";
      },
      error: /services\.projector\.depends_on\.service\.condition contains "service_happy"/ },
    { name: "a named volume that is not declared",
      change: (d) => { delete map_at(d, "volumes")["service-data"]; },
      error: /Named volume "service-data:\/data:rw" is used in service "service" but no declaration/ },
  ];
  for (const { name, change, error } of broken) {
    test(`refuses ${name}`, () => {
      const document = copy_of(source);
      change(document);
      const run = compose_config_of(document);
      expect(run.stderr).toMatch(error);
      expect(run.exit_code).not.toBe(0);
    });
  }
});

/** The resolved file's depends_on of a service: target -> condition. */
function depends_on(service: string): Map<string, string> {
  const entries = map_at(resolved, "services", service).depends_on;
  const conditions = new Map<string, string>();
  if (entries === undefined) return conditions;
  for (const [target, value] of Object.entries(map_at(entries))) {
    const condition = map_at(value).condition;
    expect(typeof condition).toBe("string");
    conditions.set(target, condition as string);
  }
  return conditions;
}

/** The Dockerfile a built service uses. */
function dockerfile_of(service: string): Dockerfile {
  const build = map_at(resolved, "services", service, "build");
  expect(build.context).toBe(REPO_ROOT);
  expect(typeof build.dockerfile).toBe("string");
  return read_dockerfile(join(REPO_ROOT, build.dockerfile as string));
}

function has_healthcheck(service: string): boolean {
  const definition = map_at(resolved, "services", service);
  if (is_map(definition.healthcheck)) return strings_at(definition, "healthcheck", "test").length > 1;
  if (!is_map(definition.build)) return false;
  return healthcheck_of(dockerfile_of(service)).length > 0;
}

describe("the stack's wiring", () => {
  test("every depends_on target exists; healthy means a healthcheck, completed a one-shot job", () => {
    const services = map_at(resolved, "services");
    let checked = 0;
    for (const name of Object.keys(services)) {
      for (const [target, condition] of depends_on(name)) {
        expect(Object.keys(services)).toContain(target);
        if (condition === "service_healthy") expect(has_healthcheck(target)).toBe(true);
        else expect(condition).toBe("service_completed_successfully");
        if (condition === "service_completed_successfully") {
          expect(map_at(services, target).ports).toBeUndefined();
          expect(strings_at(services, target, "command").length).toBeGreaterThan(0);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  test("start order: kafka and the topic, postgres and the tables, the service, the projector", () => {
    expect(depends_on("kafka-init")).toEqual(new Map([["kafka", "service_healthy"]]));
    expect(depends_on("migrate")).toEqual(new Map([["postgres", "service_healthy"]]));
    expect(depends_on("service").get("kafka")).toBe("service_healthy");
    expect(depends_on("service").get("kafka-init")).toBe("service_completed_successfully");
    expect(depends_on("service").get("migrate")).toBe("service_completed_successfully");
    expect(depends_on("projector").get("postgres")).toBe("service_healthy");
    expect(depends_on("projector").get("kafka-init")).toBe("service_completed_successfully");
    expect(depends_on("projector").get("service")).toBe("service_healthy");
    expect(depends_on("kafka").size + depends_on("postgres").size).toBe(0);
  });

  test("the service's environment passes load_config, and it reads every variable given", () => {
    const env = environment_of(resolved, "service");
    const { names, result: config } = names_read(env, load_config);
    for (const name of Object.keys(env)) {
      expect({ name, read: names.has(name) }).toEqual({ name, read: true });
    }
    expect(config.host).toBe("0.0.0.0");
    expect(config.port).toBe(8080);
    expect(config.tcp.port).toBe(8090);
    expect(config.data_dir).toBe("/data");
    expect(config.kafka_brokers).toBe("kafka:9092");
    expect(config.events_topic).toBe("balance-events");
  });

  test("the service makes its development key on its data volume, as `make run` does", () => {
    const env = environment_of(resolved, "service");
    expect(Object.keys(env).filter((name) => name.startsWith("AUTH"))).toEqual([]);
    const options = load_auth_options(env, load_config(env).data_dir);
    expect(uses_dev_key(options)).toBe(true);
    expect(options.keys_file).toBe("/data/auth-keys.json");
    expect(strings_at(resolved, "services", "service", "volumes")).toContain("service-data:/data:rw");
  });

  test("the projector's environment passes its configuration; it verifies with the service's key",
    () => {
      const env = environment_of(resolved, "projector");
      const read = names_read(env, (e) => {
        const config = load_projector_config(e);
        return { config, auth: load_auth_options(e, config.data_dir) };
      });
      for (const name of Object.keys(env)) {
        expect({ name, read: read.names.has(name) }).toEqual({ name, read: true });
      }
      const { config, auth } = read.result;
      expect(config.http_host).toBe("0.0.0.0");
      expect(config.http_port).toBe(8070);
      // The service's volume, read-only, where the service keeps its key and revocations.
      expect(strings_at(resolved, "services", "projector", "volumes"))
        .toContain(`service-data:${config.data_dir}:ro`);
      expect(auth.keys_file).toBe(`${config.data_dir}/auth-keys.json`);
      expect(auth.revoked_file).toBe(`${config.data_dir}/revoked-tokens.txt`);
    });

  test("the projector and the service share the topic, the brokers and the database", () => {
    const service = environment_of(resolved, "service");
    const projector = environment_of(resolved, "projector");
    const config = load_config(service);
    const projector_config = load_projector_config(projector);
    expect(projector_config.events_topic).toBe(config.events_topic);
    expect(projector_config.kafka_brokers).toBe(config.kafka_brokers!);
    // The service gets the projector's database exactly when its configuration reads one.
    const reads_database = names_read({ ...service }, load_config).names.has("DATABASE_URL");
    expect(service.DATABASE_URL).toBe(reads_database ? projector.DATABASE_URL : undefined);
    expect(service.DATABASE_SCHEMA).toBe(projector.DATABASE_SCHEMA);
  });

  test("migrate applies the projector's migrations to the same database, with the projector's image",
    () => {
      const migrate = map_at(resolved, "services", "migrate");
      const command = strings_at(resolved, "services", "migrate", "command");
      expect(command).toEqual(["bun", "projector/migrate.ts"]);
      expect(existsSync(join(REPO_ROOT, command[1]!))).toBe(true);
      expect(migrate.image).toBe(map_at(resolved, "services", "projector").image);
      expect(map_at(migrate, "build")).toEqual(map_at(resolved, "services", "projector", "build"));
      // projector/migrate.ts reads DATABASE_URL alone.
      expect(environment_of(resolved, "migrate"))
        .toEqual({ DATABASE_URL: environment_of(resolved, "projector").DATABASE_URL! });
    });

  test("the projector's DATABASE_URL is the postgres container's user, password and database",
    () => {
      const url = new URL(load_projector_config(environment_of(resolved, "projector")).database_url);
      const postgres = environment_of(resolved, "postgres");
      expect(url.hostname).toBe("postgres");
      expect(url.port).toBe("5432");
      expect(url.username).toBe(postgres.POSTGRES_USER!);
      expect(decodeURIComponent(url.password)).toBe(postgres.POSTGRES_PASSWORD!);
      expect(url.pathname).toBe(`/${postgres.POSTGRES_DB}`);
      expect(strings_at(resolved, "services", "postgres", "healthcheck", "test"))
        .toContain("pg_isready");
      expect(strings_at(resolved, "services", "postgres", "volumes"))
        .toContain("postgres-data:/var/lib/postgresql/data:rw");
    });
});

/** "127.0.0.1:8080:8080/tcp" -> its parts. */
function published(entry: string): { address: string; host_port: number; container_port: number } {
  const match = /^([\d.]+):(\d+):(\d+)\/tcp$/.exec(entry);
  if (match === null) throw new Error(`port "${entry}" is not address:host:container/tcp`);
  return { address: match[1]!, host_port: Number(match[2]), container_port: Number(match[3]) };
}

/** "kafka:9092" or "PLAINTEXT://kafka:9092" -> [listener name, host, port]. */
function listener(entry: string): [string, string, number] {
  const match = /^(?:([A-Z_]+):\/\/)?([\w.-]*):(\d+)$/.exec(entry);
  if (match === null) throw new Error(`"${entry}" is not [NAME://]host:port`);
  return [match[1] ?? "", match[2]!, Number(match[3])];
}

describe("ports, Kafka and the images", () => {
  test("ports are published on 127.0.0.1 only, to the ports the processes listen on", () => {
    const listening: Record<string, number[]> = {
      kafka: [19092], postgres: [5432],
      service: [load_config(environment_of(resolved, "service")).port,
        load_config(environment_of(resolved, "service")).tcp.port],
      projector: [load_projector_config(environment_of(resolved, "projector")).http_port],
    };
    const services = map_at(resolved, "services");
    for (const name of Object.keys(services)) {
      const ports = map_at(services, name).ports === undefined ? []
        : strings_at(services, name, "ports").map(published);
      for (const port of ports) {
        expect(port.address).toBe("127.0.0.1");
        expect(port.host_port).toBeLessThanOrEqual(65535);
      }
      expect(ports.map((port) => port.container_port)).toEqual(listening[name] ?? []);
    }
  });

  test("the brokers both use are kafka's advertised listener; KRaft settings hold together", () => {
    const kafka = environment_of(resolved, "kafka");
    const [, host, port] = listener(load_config(environment_of(resolved, "service")).kafka_brokers!);
    expect(Object.keys(map_at(resolved, "services"))).toContain(host);
    const advertised = kafka.KAFKA_ADVERTISED_LISTENERS!.split(",").map(listener);
    const internal = advertised.find(([, h, p]) => h === host && p === port);
    expect(internal).toBeDefined();
    const bound = kafka.KAFKA_LISTENERS!.split(",").map(listener);
    expect(bound).toContainEqual([internal![0], "", port]);
    expect(kafka.KAFKA_INTER_BROKER_LISTENER_NAME).toBe(internal![0]);
    const [voter_id, voter] = kafka.KAFKA_CONTROLLER_QUORUM_VOTERS!.split("@");
    expect(voter_id).toBe(kafka.KAFKA_NODE_ID!);
    expect(bound).toContainEqual([kafka.KAFKA_CONTROLLER_LISTENER_NAMES!, "", listener(voter!)[2]]);
    expect(Buffer.from(kafka.CLUSTER_ID!, "base64url").byteLength).toBe(16);
    expect(kafka.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe("false");
  });

  test("kafka-init creates the service's topic with one partition per group", () => {
    const config = load_config(environment_of(resolved, "service"));
    const command = strings_at(resolved, "services", "kafka-init", "command");
    const option = (name: string) => command[command.indexOf(name) + 1];
    expect(command[0]).toBe("/opt/kafka/bin/kafka-topics.sh");
    expect(command).toContain("--create");
    expect(command).toContain("--if-not-exists");
    expect(option("--bootstrap-server")).toBe(config.kafka_brokers!);
    expect(option("--topic")).toBe(config.events_topic);
    expect(option("--partitions")).toBe(String(config.groups));
  });

  test("kafka is the version the tests' broker runs", async () => {
    const common = await Bun.file(join(REPO_ROOT, "scripts", "services", "common.sh")).text();
    const version = /^KAFKA_VERSION=(\S+)$/m.exec(common)?.[1];
    expect(version).toBeDefined();
    expect(map_at(resolved, "services", "kafka").image).toBe(`apache/kafka:${version}`);
    expect(map_at(resolved, "services", "kafka-init").image).toBe(`apache/kafka:${version}`);
  });

  test("the built images' CMD and HEALTHCHECK files exist", () => {
    const expected: Record<string, string[]> = {
      service: ["bun", "server/main.ts"], projector: ["bun", "projector/main.ts"],
    };
    for (const [service, command] of Object.entries(expected)) {
      const dockerfile = dockerfile_of(service);
      expect(command_of(dockerfile)).toEqual(command);
      expect(existsSync(join(REPO_ROOT, command[1]!))).toBe(true);
      const healthcheck = healthcheck_of(dockerfile);
      expect(healthcheck.slice(0, 2)).toEqual(["bun", "docker/healthcheck.ts"]);
      expect(existsSync(join(REPO_ROOT, healthcheck[1]!))).toBe(true);
    }
  });
});
