// make benchmark: the original's benchmark shape against a fresh service. Starts the service
// (embedded default: no Kafka or Postgres) on 127.0.0.1 with its own temporary DATA_DIR and free
// ports, waits for /readyz, runs `loadgen` for BENCHMARK_REQUESTS requests (default 1,000,000)
// of 20 orders over HTTP, then the same over TCP, printing both summaries, and stops the service
// with SIGTERM. The idempotency window is shortened (same entries per group) so the window's
// capacity does not cap the rate: a group sustains about entries / (W + 5 s) orders/s.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dir, "..");
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
const REQUESTS_DEFAULT = 1_000_000;

/** The service's settings for the benchmark, printed with the results. */
const SERVICE_ENV: Record<string, string> = {
  IDEMPOTENCY_WINDOW_MS: "2000",
  IDEMPOTENCY_ENTRIES_PER_GROUP: String(1 << 21),
  GROUPS: "4",
};

function free_port(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

async function wait_ready(base_url: string, service: Bun.Subprocess): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (service.exitCode !== null) throw new Error(`the service exited (${service.exitCode})`);
    try {
      const response = await fetch(`${base_url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(50);
  }
  throw new Error(`the service was not ready within ${READY_TIMEOUT_MS} ms`);
}

async function stop(service: Bun.Subprocess): Promise<number | null> {
  if (service.exitCode !== null) return service.exitCode;
  service.kill("SIGTERM");
  const exited = await Promise.race([service.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => null)]);
  if (exited === null) {
    service.kill("SIGKILL");
    await service.exited;
  }
  return exited;
}

async function loadgen(args: string[]): Promise<number> {
  const child = Bun.spawn([process.execPath, "loadgen/main.ts", ...args],
    { cwd: REPO_ROOT, stdin: "ignore", stdout: "inherit", stderr: "inherit", env: process.env });
  return child.exited;
}

async function main(): Promise<number> {
  const requests = Number(process.env.BENCHMARK_REQUESTS ?? REQUESTS_DEFAULT);
  if (!Number.isSafeInteger(requests) || requests < 1) {
    throw new Error("BENCHMARK_REQUESTS must be a positive integer, got " +
      `${process.env.BENCHMARK_REQUESTS}`);
  }
  const extra = (process.env.BENCHMARK_ARGS ?? "").split(/\s+/).filter((a) => a !== "");
  const data_dir = mkdtempSync(join(tmpdir(), "balance-benchmark-"));
  const http_port = free_port();
  const tcp_port = free_port();
  const settings = Object.entries(SERVICE_ENV).map(([k, v]) => `${k}=${v}`).join(" ");
  console.log(`benchmark: ${requests.toLocaleString("en-US")} requests of 20 orders over HTTP, ` +
    `then over TCP\nservice: 127.0.0.1 http ${http_port} tcp ${tcp_port}, DATA_DIR=${data_dir}, ` +
    `${settings} (fsync journal on, committed mode)`);
  const service = Bun.spawn([process.execPath, "server/main.ts"], {
    cwd: REPO_ROOT, stdin: "ignore", stdout: "ignore", stderr: "inherit",
    env: { ...process.env, ...SERVICE_ENV, HOST: "127.0.0.1", PORT: String(http_port),
      TCP_PORT: String(tcp_port), DATA_DIR: data_dir },
  });
  let failures = 0;
  try {
    await wait_ready(`http://127.0.0.1:${http_port}`, service);
    const common = ["--requests", String(requests), "--batch", "20", "--host", "127.0.0.1",
      "--http-port", String(http_port), "--tcp-port", String(tcp_port), "--data-dir", data_dir];
    for (const transport of ["http", "tcp"]) {
      console.log("");
      const label = `${transport.toUpperCase()}; service ${settings}`;
      const code = await loadgen(["--transport", transport, ...common, "--label", label, ...extra]);
      if (code !== 0) failures++;
    }
  } finally {
    const code = await stop(service);
    console.log(`\nservice stopped (exit ${code ?? "killed after timeout"})`);
    rmSync(data_dir, { recursive: true, force: true });
  }
  return failures === 0 ? 0 : 1;
}

process.exit(await main());
