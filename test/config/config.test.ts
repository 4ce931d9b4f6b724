// Configuration: documented defaults, and every bad value stops start-up naming its variable,
// at the edges of each limit.

import { describe, expect, test } from "bun:test";
import { GROUPS_MAX, RING_SLOT_COUNT_MAX, RING_SLOT_COUNT_MIN } from "../../common/constants.ts";
import { ConfigError, load_config } from "../../config/config.ts";

describe("defaults", () => {
  test("an empty environment gives the documented defaults", () => {
    const config = load_config({});
    expect(config.host).toBe("127.0.0.1");
    expect(config.port).toBe(8080);
    expect(config.data_dir).toBe("./data");
    expect(config.groups).toBe(4);
    expect(config.engine_workers).toBe(1);
    expect(config.idempotency_window_ms).toBe(10_000);
    expect(config.ring_slots).toBe(4096);
    expect(config.seed_file).toBeNull();
    expect(config.kafka_brokers).toBeNull();
    expect(config.events_topic).toBe("balance-events");
    expect(config.journal_shared_flush).toBe(true);
  });
});

describe("validation", () => {
  const refused = (env: Record<string, string>, variable: string) => {
    expect(() => load_config(env)).toThrow(ConfigError);
    expect(() => load_config(env)).toThrow(variable);
  };

  test("GROUPS from 1 to GROUPS_MAX", () => {
    refused({ GROUPS: "0" }, "GROUPS");
    refused({ GROUPS: String(GROUPS_MAX + 1) }, "GROUPS");
    expect(load_config({ GROUPS: String(GROUPS_MAX) }).groups).toBe(GROUPS_MAX);
    expect(load_config({ GROUPS: "1" }).groups).toBe(1);
  });

  test("ENGINE_WORKERS may not exceed GROUPS", () => {
    refused({ GROUPS: "2", ENGINE_WORKERS: "3" }, "ENGINE_WORKERS");
    expect(load_config({ GROUPS: "2", ENGINE_WORKERS: "2" }).engine_workers).toBe(2);
  });

  test("RING_SLOTS is a power of two within its bounds", () => {
    refused({ RING_SLOTS: "1000" }, "RING_SLOTS");
    refused({ RING_SLOTS: String(RING_SLOT_COUNT_MIN / 2) }, "RING_SLOTS");
    refused({ RING_SLOTS: String(RING_SLOT_COUNT_MAX * 2) }, "RING_SLOTS");
    expect(load_config({ RING_SLOTS: String(RING_SLOT_COUNT_MIN) }).ring_slots).toBe(RING_SLOT_COUNT_MIN);
  });

  test("numbers must be whole numbers", () => {
    refused({ PORT: "80.5" }, "PORT");
    refused({ PORT: "-1" }, "PORT");
    refused({ PORT: "65536" }, "PORT");
    refused({ IDEMPOTENCY_WINDOW_MS: "999" }, "IDEMPOTENCY_WINDOW_MS");
  });

  test("JOURNAL_SHARED_FLUSH is on or off", () => {
    expect(load_config({ JOURNAL_SHARED_FLUSH: "off" }).journal_shared_flush).toBe(false);
    expect(load_config({ JOURNAL_SHARED_FLUSH: "on" }).journal_shared_flush).toBe(true);
    refused({ JOURNAL_SHARED_FLUSH: "yes" }, "JOURNAL_SHARED_FLUSH");
    refused({ JOURNAL_SHARED_FLUSH: "OFF" }, "JOURNAL_SHARED_FLUSH");
  });

  test("GROUP_MAP pins partners to existing groups", () => {
    expect(load_config({ GROUP_MAP: "7:0, 8:3" }).group_map).toEqual(new Map([[7, 0], [8, 3]]));
    refused({ GROUP_MAP: "7:4" }, "GROUP_MAP");
    refused({ GROUP_MAP: "7-1" }, "GROUP_MAP");
    refused({ GROUP_MAP: "0:1" }, "GROUP_MAP");
  });

  test("KAFKA_BROKERS is host:port[,host:port], EVENTS_TOPIC a Kafka topic name", () => {
    expect(load_config({ KAFKA_BROKERS: "a:9092, b.c:9093" }).kafka_brokers).toBe("a:9092,b.c:9093");
    expect(load_config({ EVENTS_TOPIC: "x.y_z-1" }).events_topic).toBe("x.y_z-1");
    refused({ KAFKA_BROKERS: "a" }, "KAFKA_BROKERS");
    refused({ KAFKA_BROKERS: "a:0" }, "KAFKA_BROKERS");
    refused({ KAFKA_BROKERS: "a:9092,,b:1" }, "KAFKA_BROKERS");
    refused({ EVENTS_TOPIC: "a b" }, "EVENTS_TOPIC");
    refused({ EVENTS_TOPIC: ".." }, "EVENTS_TOPIC");
  });

  test("DATABASE_URL (loading from storage) needs KAFKA_BROKERS; DATABASE_SCHEMA an identifier", () => {
    const storage = { DATABASE_URL: "postgres://u@h:5432/db", KAFKA_BROKERS: "k:9092" };
    expect(load_config(storage).database_url).toBe("postgres://u@h:5432/db");
    expect(load_config({}).database_url).toBeNull();
    expect(load_config({ ...storage, DATABASE_SCHEMA: "projection_1" }).database_schema)
      .toBe("projection_1");
    refused({ DATABASE_URL: "postgres://u@h:5432/db" }, "DATABASE_URL needs KAFKA_BROKERS");
    refused({ ...storage, DATABASE_URL: "mysql://h/db" }, "DATABASE_URL");
    refused({ ...storage, DATABASE_SCHEMA: "a; drop table x" }, "DATABASE_SCHEMA");
  });
});
