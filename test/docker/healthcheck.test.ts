// docker/healthcheck.ts, the images' HEALTHCHECK, against a real HTTP server on 127.0.0.1: exit 0
// only for a 200 from /healthz; 1 for another status, a closed port or a bad port variable
// (Docker reserves 2).

import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { probe_port } from "../../docker/healthcheck.ts";
import { free_port } from "../../harness/service_process.ts";
import { REPO_ROOT } from "./compose.ts";

let status = 200;
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (request) => new URL(request.url).pathname === "/healthz"
    ? new Response("{}", { status }) : new Response("not found", { status: 404 }),
});
afterAll(() => server.stop(true));

/** Runs the check (asynchronously: the server answering it lives in this process). */
async function check(env: Record<string, string>): Promise<[number, string]> {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, "docker", "healthcheck.ts"),
    "PORT", "8080"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "ignore", stderr: "pipe", timeout: 30_000 });
  const stderr = await new Response(proc.stderr).text();
  return [await proc.exited, stderr];
}

test("exit 0 for a 200 from /healthz on $PORT", async () => {
  status = 200;
  expect(await check({ PORT: String(server.port) })).toEqual([0, ""]);
});

test("exit 1 naming the status for a 503", async () => {
  status = 503;
  const [code, stderr] = await check({ PORT: String(server.port) });
  expect(code).toBe(1);
  expect(stderr).toContain(`http://127.0.0.1:${server.port}/healthz answered 503`);
});

test("exit 1 when nothing listens on the port", async () => {
  const [code, stderr] = await check({ PORT: String(free_port()) });
  expect(code).toBe(1);
  expect(stderr).toContain("unhealthy:");
});

test("exit 1 for a port variable that is not a port; the default when it is unset", async () => {
  expect(await check({ PORT: "80x" })).toEqual([1, "PORT is not a port 1..65535\n"]);
  expect(probe_port({}, "PORT", "8080")).toBe(8080);
  expect(probe_port({ PORT: "65536" }, "PORT", "8080")).toBeNull();
  expect(probe_port({ PORT: "0" }, "PORT", "8080")).toBeNull();
});
