// bench:cluster's load: loadgen run as a child process (its --json summary), and each node's CPU
// time per order over the run (/proc/<pid>/stat utime+stime before and after).

import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dir, "..");
const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux

export interface Throughput {
  orders_per_sec: number; p50_ms: number; p99_ms: number; end_check: string;
  cpu_us_per_order: Record<string, number>;
}

function cpu_s(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S; // utime, stime
}

export async function loadgen(args: string[]): Promise<Record<string, unknown>> {
  const child = Bun.spawn([process.execPath, "loadgen/main.ts", ...args],
    { cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(),
    new Response(child.stderr).text(), child.exited]);
  if (code !== 0 && code !== 1) throw new Error(`loadgen exited ${code}: ${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

export async function measured(pids: Record<string, number>, args: string[]): Promise<Throughput> {
  const before = Object.fromEntries(Object.entries(pids).map(([id, pid]) => [id, cpu_s(pid)]));
  const run = await loadgen(args);
  const orders = Number(run.orders);
  const cpu_us_per_order = Object.fromEntries(Object.entries(pids).map(([id, pid]) =>
    [id, Math.round((cpu_s(pid) - before[id]!) / orders * 1e6 * 10) / 10]));
  return { orders_per_sec: Number(run.orders_per_sec), p50_ms: Number(run.p50_ms),
    p99_ms: Number(run.p99_ms), end_check: String(run.end_check), cpu_us_per_order };
}

