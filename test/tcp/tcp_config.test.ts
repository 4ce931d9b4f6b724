// The TCP settings (docs/protocol.md, Limits): documented defaults, and each bound at its edge.

import { describe, expect, test } from "bun:test";
import {
  TCP_CONNECTIONS_MAX_DEFAULT, TCP_CONNECTIONS_MAX_LIMIT, TCP_FRAME_TIMEOUT_MS_MAX,
  TCP_FRAME_TIMEOUT_MS_MIN, TCP_IDLE_TIMEOUT_MS_MAX, TCP_IDLE_TIMEOUT_MS_MIN,
  TCP_IN_FLIGHT_MAX_LIMIT, TCP_SEND_BUFFER_BYTES_MAX_LIMIT, TCP_SEND_BUFFER_BYTES_MAX_MIN,
} from "../../common/constants.ts";
import { ConfigError, load_config } from "../../config/config.ts";

describe("TCP configuration", () => {
  test("defaults", () => {
    expect(load_config({}).tcp).toEqual({ port: 8090, connections_max: 1024, in_flight_max: 256,
      idle_timeout_ms: 60_000, send_buffer_bytes_max: 4 * 1024 * 1024, frame_timeout_ms: 30_000,
      connections_per_principal_max: 64, unauthenticated_connections_max: 256 });
  });

  const edges: [string, number, number, keyof ReturnType<typeof load_config>["tcp"]][] = [
    ["TCP_PORT", 0, 65535, "port"],
    ["TCP_CONNECTIONS_MAX", 1, TCP_CONNECTIONS_MAX_LIMIT, "connections_max"],
    ["TCP_IN_FLIGHT_MAX", 1, TCP_IN_FLIGHT_MAX_LIMIT, "in_flight_max"],
    ["TCP_IDLE_TIMEOUT_MS", TCP_IDLE_TIMEOUT_MS_MIN, TCP_IDLE_TIMEOUT_MS_MAX, "idle_timeout_ms"],
    ["TCP_SEND_BUFFER_BYTES_MAX", TCP_SEND_BUFFER_BYTES_MAX_MIN, TCP_SEND_BUFFER_BYTES_MAX_LIMIT,
      "send_buffer_bytes_max"],
    ["TCP_FRAME_TIMEOUT_MS", TCP_FRAME_TIMEOUT_MS_MIN, TCP_FRAME_TIMEOUT_MS_MAX,
      "frame_timeout_ms"],
    ["TCP_CONNECTIONS_PER_PRINCIPAL_MAX", 1, TCP_CONNECTIONS_MAX_DEFAULT,
      "connections_per_principal_max"],
    ["TCP_UNAUTHENTICATED_CONNECTIONS_MAX", 1, TCP_CONNECTIONS_MAX_DEFAULT,
      "unauthenticated_connections_max"],
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

  // Shares of TCP_CONNECTIONS_MAX: at most all of it, and their defaults lowered to it.
  const shares = ["TCP_CONNECTIONS_PER_PRINCIPAL_MAX", "TCP_UNAUTHENTICATED_CONNECTIONS_MAX"];
  for (const name of shares) {
    test(`${name} is at most TCP_CONNECTIONS_MAX`, () => {
      expect(() => load_config({ TCP_CONNECTIONS_MAX: "10", [name]: "10" })).not.toThrow();
      expect(() => load_config({ TCP_CONNECTIONS_MAX: "10", [name]: "11" })).toThrow(name);
    });
  }

  test("the shares' defaults are lowered to a smaller TCP_CONNECTIONS_MAX", () => {
    const tcp = load_config({ TCP_CONNECTIONS_MAX: "3" }).tcp;
    expect(tcp.connections_per_principal_max).toBe(3);
    expect(tcp.unauthenticated_connections_max).toBe(3);
  });
});
