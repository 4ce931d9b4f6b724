// bun bench/tcp.ts [--json] [--connections=16] [--in-flight=256] [--seconds=5] [--batch=20]
//
// A quick look at the TCP front door end to end (not a test, not the load generator): starts a
// fresh service (AUTH=off, its own DATA_DIR and free ports), opens accounts, then N connections
// each keep M committed batches of `batch` credits in flight for a few seconds; every reply is
// durable (fsync before reply). Prints orders/s, requests/s and request latency p50/p99/max over
// the measured window (after a 1 s warm-up). The client is deliberately lean: frames built from a
// template into one buffer per connection, one write per tick, replies read in place.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { encode_hello, encode_order_batch, PROTOCOL_VERSION_CURRENT } from "../schema/codec.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { Message } from "../schema/generated/balance/wire/message.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");
const WARM_UP_MS = 1_000;
const ACCOUNTS_PER_PARTNER = 100;
const CURRENCY = 978;
const PREFIX_BYTES = 4;
const FRAME_TYPE_POS = 24; // schema/frame_encode.ts: batch frames have a fixed 64-byte header
const FRAME_REQUEST_ID_POS = 48;
const FRAME_COUNT_POS = 60;
const FRAME_BODY_POS = 64;
const LATENCIES_MAX = 1 << 23;
const ID_SEQUENCE_BITS = 22;
/** The service's settings (the window's capacity must not cap the rate: entries / (W + 5 s)). */
const SERVICE_ENV: Record<string, string> = {
  // BENCH_GROUPS=n overrides the group count (to see what more groups per journal worker cost).
  AUTH: "off", GROUPS: process.env.BENCH_GROUPS ?? "4", RING_SLOTS: "8192", IDEMPOTENCY_WINDOW_MS: "1000",
  IDEMPOTENCY_ENTRIES_PER_GROUP: String(1 << 23),
};

interface Options { json: boolean; connections: number; in_flight: number; seconds: number; batch: number }

function parse_options(argv: string[]): Options {
  const options: Options = { json: false, connections: 16, in_flight: 256, seconds: 5, batch: 20 };
  for (const arg of argv) {
    const [name, value] = arg.replace(/^--/, "").split("=");
    if (name === "json") options.json = true;
    else if (name === "connections") options.connections = Number(value);
    else if (name === "in-flight") options.in_flight = Number(value);
    else if (name === "seconds") options.seconds = Number(value);
    else if (name === "batch") options.batch = Number(value);
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

function free_port(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

async function start_service(): Promise<{ proc: Bun.Subprocess; tcp_port: number; data_dir: string }> {
  const data_dir = mkdtempSync(join(tmpdir(), "balance-bench-tcp-"));
  const tcp_port = free_port();
  // BENCH_SERVICE_FLAGS: extra bun flags for the service, e.g. "--cpu-prof-md --cpu-prof-dir=/tmp/p".
  const flags = (process.env.BENCH_SERVICE_FLAGS ?? "").split(" ").filter((f) => f !== "");
  const proc = Bun.spawn([process.execPath, ...flags, "server/main.ts"], {
    cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "inherit",
    env: { ...process.env, ...SERVICE_ENV, DATA_DIR: data_dir, PORT: String(free_port()),
      TCP_PORT: String(tcp_port), HOST: "127.0.0.1" },
  });
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of proc.stdout) {
    text += decoder.decode(chunk);
    if (text.includes("binary TCP protocol on")) break;
  }
  if (!text.includes("binary TCP protocol on")) throw new Error(`the service did not start:\n${text}`);
  return { proc, tcp_port, data_dir };
}

let id_sequence = 0;

/** A time-ordered order id (schema/order_id.ts layout) written as two u32 halves, no BigInt. */
function write_order_id(view: DataView, at: number): void {
  const now_ms = Date.now();
  id_sequence = (id_sequence + 1) & ((1 << ID_SEQUENCE_BITS) - 1);
  view.setUint32(at + 4, Math.floor(now_ms / 1024), true);
  view.setUint32(at, (((now_ms % 1024) << ID_SEQUENCE_BITS) | id_sequence) >>> 0, true);
}

function orders_of(partner: number, count: number, op: Op, first_account: number): Uint8Array {
  const bytes = new Uint8Array(count * ORDER_SIZE_BYTES);
  const view = new DataView(bytes.buffer);
  for (let k = 0; k < count; k++) {
    const at = k * ORDER_SIZE_BYTES;
    write_order_id(view, at);
    view.setBigUint64(at + 8, BigInt(first_account + (k % ACCOUNTS_PER_PARTNER)), true);
    view.setBigUint64(at + 16, op === Op.credit ? 1n : 0n, true);
    view.setBigUint64(at + 24, op === Op.open_account ? BigInt(AccountKind.user) : 0n, true);
    view.setUint32(at + 32, partner, true);
    view.setUint16(at + 36, CURRENCY, true);
    view.setUint8(at + 38, op);
  }
  return bytes;
}

class Stats {
  readonly latencies_ms = new Float64Array(LATENCIES_MAX);
  latency_count = 0;
  orders_ok = 0;
  orders_other = 0;
  client_cpu_percent = 0;
  service_cpu_percent = 0;
  readonly not_ok_by_status = new Float64Array(256);
  requests = 0;
  errors = 0;
  measuring = false;

  record(latency_ms: number, ok: number, other: number): void {
    if (!this.measuring) return;
    this.requests++;
    this.orders_ok += ok;
    this.orders_other += other;
    if (this.latency_count < LATENCIES_MAX) this.latencies_ms[this.latency_count++] = latency_ms;
  }
}

/** One connection keeping `in_flight` batches outstanding; slot s carries request ids = s mod M. */
class BenchConnection {
  private socket!: Bun.Socket<undefined>;
  private readonly template: Uint8Array;
  private out: Uint8Array;
  private out_start = 0;
  private out_end = 0;
  private readonly inbox = new Uint8Array(4 << 20);
  private inbox_bytes = 0;
  private readonly sent_ms: Float64Array;
  running = true;
  outstanding = 0;
  hello_done!: () => void;

  constructor(readonly partner: number, readonly in_flight: number, readonly batch: number,
    readonly stats: Stats) {
    const orders = orders_of(partner, batch, Op.credit, partner * ACCOUNTS_PER_PARTNER);
    const frame = encode_order_batch(0n, Mode.committed, orders, batch);
    this.template = new Uint8Array(PREFIX_BYTES + frame.length);
    new DataView(this.template.buffer).setUint32(0, frame.length, true);
    this.template.set(frame, PREFIX_BYTES);
    this.out = new Uint8Array(this.template.length * in_flight * 2);
    this.sent_ms = new Float64Array(in_flight);
  }

  async connect(port: number): Promise<void> {
    const hello = new Promise<void>((resolve) => (this.hello_done = resolve));
    this.socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: {
      data: (_s, chunk) => this.on_data(chunk),
      drain: () => this.flush(),
    } });
    this.socket.setNoDelay(true);
    const frame = encode_hello(PROTOCOL_VERSION_CURRENT, "bench");
    const bytes = new Uint8Array(PREFIX_BYTES + frame.length);
    new DataView(bytes.buffer).setUint32(0, frame.length, true);
    bytes.set(frame, PREFIX_BYTES);
    this.socket.write(bytes);
    await hello;
  }

  start(): void {
    for (let slot = 0; slot < this.in_flight; slot++) this.send(slot);
    this.flush();
  }

  private send(slot: number): void {
    if (this.out_end + this.template.length > this.out.length) {
      this.out.copyWithin(0, this.out_start, this.out_end);
      this.out_end -= this.out_start;
      this.out_start = 0;
    }
    const at = this.out_end;
    this.out.set(this.template, at);
    const view = new DataView(this.out.buffer, at + PREFIX_BYTES);
    view.setUint32(FRAME_REQUEST_ID_POS, slot, true);
    for (let k = 0; k < this.batch; k++) write_order_id(view, FRAME_BODY_POS + k * ORDER_SIZE_BYTES);
    this.out_end += this.template.length;
    this.sent_ms[slot] = performance.now();
    this.outstanding++;
  }

  private flush(): void {
    if (this.out_end === this.out_start) return;
    const written = this.socket.write(this.out, this.out_start, this.out_end - this.out_start);
    if (written > 0) this.out_start += written;
    if (this.out_start === this.out_end) this.out_start = this.out_end = 0;
  }

  private on_data(chunk: Uint8Array): void {
    this.inbox.set(chunk, this.inbox_bytes);
    this.inbox_bytes += chunk.length;
    const view = new DataView(this.inbox.buffer);
    let at = 0;
    while (this.inbox_bytes - at >= PREFIX_BYTES) {
      const size = view.getUint32(at, true);
      if (this.inbox_bytes - at - PREFIX_BYTES < size) break;
      this.on_frame(view, at + PREFIX_BYTES);
      at += PREFIX_BYTES + size;
    }
    this.inbox.copyWithin(0, at, this.inbox_bytes);
    this.inbox_bytes -= at;
    this.flush();
  }

  private on_frame(view: DataView, frame: number): void {
    const type = view.getUint8(frame + FRAME_TYPE_POS);
    if (this.hello_pending()) return this.hello_done(); // the first frame is HelloOk
    if (type !== Message.BatchResults) {
      this.stats.errors++;
      return;
    }
    const slot = view.getUint32(frame + FRAME_REQUEST_ID_POS, true);
    const count = view.getUint32(frame + FRAME_COUNT_POS, true);
    let ok = 0;
    for (let k = 0; k < count; k++) {
      const status = view.getUint8(frame + FRAME_BODY_POS + k * RESULT_SIZE_BYTES + 32);
      if (status === Status.ok) ok++;
      else if (this.stats.measuring) this.stats.not_ok_by_status[status]!++;
    }
    this.outstanding--;
    this.stats.record(performance.now() - this.sent_ms[slot]!, ok, count - ok);
    if (this.running) this.send(slot);
  }

  private hello_seen = false;
  private hello_pending(): boolean {
    if (this.hello_seen) return false;
    this.hello_seen = true;
    return true;
  }

  close(): void {
    this.socket.end();
  }
}

async function open_accounts(port: number, partners: number): Promise<void> {
  // A plain request/reply loop, one batch of open_account per partner (AUTH=off: internal).
  const replies: number[] = [];
  let resolve_reply: () => void = () => {};
  const conn = await Bun.connect({ hostname: "127.0.0.1", port, socket: {
    data: (_s, chunk) => { replies.push(chunk.length); resolve_reply(); },
  } });
  const send = (frame: Uint8Array) => {
    const bytes = new Uint8Array(PREFIX_BYTES + frame.length);
    new DataView(bytes.buffer).setUint32(0, frame.length, true);
    bytes.set(frame, PREFIX_BYTES);
    conn.write(bytes);
  };
  const wait = () => new Promise<void>((r) => (resolve_reply = r));
  send(encode_hello(PROTOCOL_VERSION_CURRENT, "bench"));
  await wait();
  for (let p = 1; p <= partners; p++) {
    send(encode_order_batch(BigInt(p), Mode.committed,
      orders_of(p, ACCOUNTS_PER_PARTNER, Op.open_account, p * ACCOUNTS_PER_PARTNER),
      ACCOUNTS_PER_PARTNER));
    await wait();
  }
  conn.end();
}

/** Linux: a process's user + system CPU time in clock ticks (/proc/<pid>/stat fields 14, 15). */
const CLOCK_TICKS_PER_S = 100;
function process_cpu_ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const options = parse_options(process.argv.slice(2));
  const service = await start_service();
  try {
    await open_accounts(service.tcp_port, options.connections);
    const stats = new Stats();
    const connections = Array.from({ length: options.connections },
      (_, i) => new BenchConnection(i + 1, options.in_flight, options.batch, stats));
    await Promise.all(connections.map((c) => c.connect(service.tcp_port)));
    connections.forEach((c) => c.start());
    await Bun.sleep(WARM_UP_MS);
    stats.measuring = true;
    const started_ms = performance.now();
    const client_cpu = process.cpuUsage();
    const service_cpu_ticks = process_cpu_ticks(service.proc.pid);
    await Bun.sleep(options.seconds * 1000);
    stats.measuring = false;
    const elapsed_s = (performance.now() - started_ms) / 1000;
    const client_used = process.cpuUsage(client_cpu);
    stats.client_cpu_percent = (client_used.user + client_used.system) / 1e4 / elapsed_s;
    stats.service_cpu_percent =
      (process_cpu_ticks(service.proc.pid) - service_cpu_ticks) / CLOCK_TICKS_PER_S * 100 / elapsed_s;
    for (const c of connections) c.running = false;
    while (connections.some((c) => c.outstanding > 0)) await Bun.sleep(10);
    connections.forEach((c) => c.close());
    report(options, stats, elapsed_s);
  } finally {
    service.proc.kill("SIGTERM");
    await service.proc.exited;
    rmSync(service.data_dir, { recursive: true, force: true });
  }
}

function report(options: Options, stats: Stats, elapsed_s: number): void {
  const sorted = stats.latencies_ms.slice(0, stats.latency_count).sort();
  const summary = {
    connections: options.connections, in_flight: options.in_flight, batch_orders: options.batch,
    seconds: Number(elapsed_s.toFixed(2)),
    orders_per_s: Math.round((stats.orders_ok + stats.orders_other) / elapsed_s),
    orders_ok: stats.orders_ok, orders_not_ok: stats.orders_other,
    requests_per_s: Math.round(stats.requests / elapsed_s), error_frames: stats.errors,
    not_ok_by_status: Object.fromEntries([...stats.not_ok_by_status.entries()]
      .filter(([, n]) => n > 0).map(([status, n]) => [Status[status] ?? String(status), n])),
    latency_ms: { p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)),
      max: round(sorted[sorted.length - 1] ?? NaN) },
    cpu_percent: { client: Math.round(stats.client_cpu_percent),
      service: Math.round(stats.service_cpu_percent) },
    service_env: SERVICE_ENV,
  };
  if (options.json) {
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(`TCP committed: ${options.connections} connections x ${options.in_flight} in flight, ` +
    `${options.batch} orders per batch, ${summary.seconds} s`);
  console.log(`  ${summary.orders_per_s.toLocaleString("en")} orders/s ` +
    `(${summary.requests_per_s.toLocaleString("en")} requests/s), not ok ${summary.orders_not_ok}, ` +
    `error frames ${summary.error_frames} ${JSON.stringify(summary.not_ok_by_status)}`);
  console.log(`  CPU: service ${summary.cpu_percent.service}%, this client ` +
    `${summary.cpu_percent.client}% (of one core; the machine has ${navigator.hardwareConcurrency})`);
  console.log(`  latency p50 ${summary.latency_ms.p50} ms, p99 ${summary.latency_ms.p99} ms, ` +
    `max ${summary.latency_ms.max} ms`);
}

function round(value: number): number {
  return Number(value.toFixed(2));
}

await main();
