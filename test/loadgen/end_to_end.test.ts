// loadgen against a real service process (auth on, its development key found in DATA_DIR): a
// short run over HTTP and one over TCP, each in committed mode, and one in accepted mode over TCP.
// The end check must pass (exit code 0) and the --json line must carry the documented keys.
// No timing assertions.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { ServiceProcess } from "../../harness/service_process.ts";
import { start_fake_service } from "./fake_service.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const REQUIRED_KEYS =
  ["orders_per_sec", "requests_per_sec", "p50_ms", "p99_ms", "errors", "statuses"];
const TEST_TIMEOUT_MS = 60_000;

let service: ServiceProcess;

beforeAll(async () => {
  // A 1 s idempotency window gives the small test limits room for several runs in a row; set-up
  // resends orders answered busy, the load counts them.
  service = await ServiceProcess.start({ env: { IDEMPOTENCY_WINDOW_MS: "1000" } });
});

afterAll(async () => {
  await service.stop();
  service.remove_data();
});

async function loadgen(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, "loadgen/main.ts",
    "--http-port", String(service.port), "--tcp-port", service.env.TCP_PORT!,
    "--data-dir", service.data_dir, "--partners", "5", "--accounts", "8", "--seed", "7",
    "--no-progress", ...args], {
    cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    env: { ...process.env, HOST: "127.0.0.1" },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited,
  ]);
  return { code, stdout, stderr };
}

function parse_json_line(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  expect(lines.length).toBe(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe("loadgen end to end", () => {
  for (const transport of ["http", "tcp"]) {
    test(`a short run over ${transport}: the end check passes, --json has the keys`, async () => {
      // 4 x 8 in flight stays within a partner's share of the test server's small rings (no busy).
      const in_flight = transport === "tcp" ? ["--in-flight", "8"] : [];
      const run = await loadgen(["--transport", transport, "--requests", "300",
        "--connections", "4", ...in_flight, "--json"]);
      const context = `exit ${run.code}\n${run.stdout}\n${run.stderr}\n${service.output()}`;
      expect(run.code, context).toBe(0);
      const json = parse_json_line(run.stdout);
      for (const key of REQUIRED_KEYS) expect(json, `${key} in ${run.stdout}`).toHaveProperty(key);
      expect(json.end_check).toBe("pass");
      expect(json.requests).toBe(300);
      expect(json.orders).toBe(300 * 20);
      expect(json.errors).toBe(0);
      const statuses = json.statuses as Record<string, number>;
      const total = Object.values(statuses).reduce((a, b) => a + b, 0);
      expect(total).toBe(300 * 20);
      expect(statuses.ok ?? 0).toBeGreaterThan(0);
    }, TEST_TIMEOUT_MS);
  }

  test("HTTP with JSON bodies (--format json): the end check passes on the JSON answers",
    async () => {
      const run = await loadgen(["--transport", "http", "--format", "json", "--requests", "200",
        "--connections", "4", "--json"]);
      expect(run.code, `${run.stdout}\n${run.stderr}\n${service.output()}`).toBe(0);
      const json = parse_json_line(run.stdout);
      expect([json.format, json.end_check, json.orders, json.errors]).toEqual(
        ["json", "pass", 200 * 20, 0]);
      const statuses = json.statuses as Record<string, number>;
      expect(Object.values(statuses).reduce((a, b) => a + b, 0)).toBe(200 * 20);
      expect(statuses.ok ?? 0).toBeGreaterThan(0);
    }, TEST_TIMEOUT_MS);

  test("accepted mode over TCP: every order answered pending, the check skipped (nothing to check)",
    async () => {
      const run = await loadgen(["--transport", "tcp", "--requests", "200", "--mode", "accepted",
        "--in-flight", "8", "--json"]);
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      const json = parse_json_line(run.stdout);
      expect(json.end_check).toBe("skipped");
      expect(json.mode).toBe("accepted");
      // Answered at once, the client may outrun the engine: a full ring is refused `busy` (the
      // server queues nothing), so every order is either answered pending or in a busy request.
      const statuses = json.statuses as Record<string, number>;
      const refusals = json.refusals as Record<string, number>;
      expect(Object.keys(statuses)).toEqual(["pending"]);
      expect(Object.keys(refusals).filter((reason) => reason !== "Error busy")).toEqual([]);
      expect(statuses.pending! + 20 * (refusals["Error busy"] ?? 0)).toBe(200 * 20);
      expect(typeof json.ack_p99_ms).toBe("number");
    }, TEST_TIMEOUT_MS);

  test("the text summary has the original's sections", async () => {
    const run = await loadgen(["--transport", "http", "--requests", "100", "--batch", "5"]);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    for (const section of ["Reqs/sec", "Orders/sec", "Latency Distribution", "99%", "HTTP codes:",
      "2xx - 100", "Order statuses:", "Throughput:", "End check: PASS"]) {
      expect(run.stdout).toContain(section);
    }
  }, TEST_TIMEOUT_MS);

  test("a usage error exits 2 and names the flag", async () => {
    const run = await loadgen(["--transport", "http", "--in-flight", "4"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--in-flight");
    const json_over_tcp = await loadgen(["--transport", "tcp", "--format", "json"]);
    expect(json_over_tcp.code).toBe(2);
    expect(json_over_tcp.stderr).toContain("--format json");
  }, TEST_TIMEOUT_MS);

  test("a service whose balances do not follow its answers fails the end check loudly (exit 1)",
    async () => {
      // The fake acknowledges every order ok but never changes a balance.
      const fake = start_fake_service(0);
      try {
        const run = await loadgen(["--transport", "tcp", "--tcp-port", String(fake.port),
          "--requests", "50", "--internal-token", "unused"]);
        expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(1);
        expect(run.stdout).toContain("End check: FAIL");
        expect(run.stdout)
          .toMatch(/account \d+\/\d+: expected balance -?\d+ held \d+, read balance/);
      } finally {
        fake.stop(true);
      }
    }, TEST_TIMEOUT_MS);
});
