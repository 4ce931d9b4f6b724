// The TCP settings (docs/protocol.md, Limits): documented defaults, and each bound at its edge.

import { describe, expect, test } from "bun:test";
import {
  TCP_CONNECTIONS_MAX_LIMIT, TCP_IDLE_TIMEOUT_MS_MAX, TCP_IDLE_TIMEOUT_MS_MIN,
  TCP_IN_FLIGHT_MAX_LIMIT, TCP_SEND_BUFFER_BYTES_MAX_LIMIT, TCP_SEND_BUFFER_BYTES_MAX_MIN,
} from "../../common/constants.ts";
import { ConfigError, load_config } from "../../config/config.ts";

describe("TCP configuration", () => {
  test("defaults", () => {
    expect(load_config({}).tcp).toEqual({ port: 8090, connections_max: 1024, in_flight_max: 256,
      idle_timeout_ms: 60_000, send_buffer_bytes_max: 4 * 1024 * 1024 });
  });

  const edges: [string, number, number, keyof ReturnType<typeof load_config>["tcp"]][] = [
    ["TCP_PORT", 0, 65535, "port"],
    ["TCP_CONNECTIONS_MAX", 1, TCP_CONNECTIONS_MAX_LIMIT, "connections_max"],
    ["TCP_IN_FLIGHT_MAX", 1, TCP_IN_FLIGHT_MAX_LIMIT, "in_flight_max"],
    ["TCP_IDLE_TIMEOUT_MS", TCP_IDLE_TIMEOUT_MS_MIN, TCP_IDLE_TIMEOUT_MS_MAX, "idle_timeout_ms"],
    ["TCP_SEND_BUFFER_BYTES_MAX", TCP_SEND_BUFFER_BYTES_MAX_MIN, TCP_SEND_BUFFER_BYTES_MAX_LIMIT,
      "send_buffer_bytes_max"],
  ];
  for (const [name, min, max, field] of edges) {
    test(`${name} from ${min} to ${max}`, () => {
      expect(load_config({ [name]: String(min) }).tcp[field]).toBe(min);
      expect(load_config({ [name]: String(max) }).tcp[field]).toBe(max);
      expect(() => load_config({ [name]: String(max + 1) })).toThrow(ConfigError);
      expect(() => load_config({ [name]: String(max + 1) })).toThrow(name);
      if (min > 0) expect(() => load_config({ [name]: String(min - 1) })).toThrow(name);
      expect(() => load_config({ [name]: "12.5" })).toThrow(name);
    });
  }
});
