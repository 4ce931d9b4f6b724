// A real balance service process for tests: `bun server/main.ts` on a free port with a temporary
// DATA_DIR and small limits, started and awaited until /readyz answers 200, stopped with SIGTERM
// (drain, snapshot, exit 0) or killed with SIGKILL. Its stdout and stderr are captured so a failure
// can say what the server said. Start-up never skips a test: it throws with the server's output.
// Auth is on as in production: once ready, an internal token is minted from the service's keys file
// (the development key it made in DATA_DIR, or AUTH_KEYS_FILE) and registered with http_client, so
// its helpers authenticate; `internal_token` holds it (null with AUTH=off or no HS256 key).

import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { mint_token } from "../auth/dev_keys.ts";
import { load_auth_options } from "../auth/options.ts";
import { read_keys_file } from "../auth/keys.ts";
import { use_token } from "./http_client.ts";
import { temp_dir } from "./temp_dirs.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");
const READY_TIMEOUT_MS_DEFAULT = 30_000;
const STOP_TIMEOUT_MS_DEFAULT = 30_000;
const READY_POLL_MS = 25;
const READY_PROBE_TIMEOUT_MS = 1_000;
const PORT_ATTEMPTS_MAX = 3;
const OUTPUT_TAIL_CHARS = 4_000;
const TEST_TOKEN_TTL_S = 24 * 3600;

/** Small limits, so a test server starts in milliseconds and uses little memory. */
export const SMALL_LIMITS_ENV: Readonly<Record<string, string>> = {
  ACCOUNTS_PER_GROUP: "10000",
  HOLDS_PER_GROUP: "1024",
  IDEMPOTENCY_ENTRIES_PER_GROUP: "65536",
  RING_SLOTS: "256",
  JOURNAL_SEGMENT_BYTES: "1048576",
  GROUPS: "4",
};

export interface ServiceOptions {
  /** Reuse a data directory (a restart); a fresh temporary one otherwise. */
  data_dir?: string;
  /** Extra or overriding environment variables (over SMALL_LIMITS_ENV). */
  env?: Record<string, string>;
  ready_timeout_ms?: number;
  /** The HTTP port (a cluster node advertises its own); a free one otherwise. */
  port?: number;
  /** The service speaks HTTPS (TLS_CERT_FILE in env): the CA (PEM) its readiness is read with. */
  https_ca?: string;
}

/** A free TCP port on 127.0.0.1: bind port 0, read the port, close. */
export function free_port(): number {
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data() {} },
  });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** A data directory for a test's service, removed when the test process exits. */
export function temp_data_dir(label = "balance-test"): string {
  return temp_dir(label);
}

const live = new Set<ServiceProcess>();
process.on("exit", kill_live_services);

/** SIGKILLs every service this process started and has not seen exit (the end of a test run). */
export function kill_live_services(): void {
  for (const service of live) service.kill_now();
}

class OutputCapture {
  text = "";
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this.text += decoder.decode(chunk, { stream: true });
      this.text += decoder.decode();
    })().catch(() => {});
  }
}

/** An internal token from the service's HS256 key, or null (AUTH=off, or no such key). */
async function internal_token(env: Record<string, string | undefined>, data_dir: string)
  : Promise<string | null> {
  const options = load_auth_options(env, data_dir);
  if (!options.enabled || !existsSync(options.keys_file)) return null;
  const entries = await read_keys_file(options.keys_file);
  if (!entries.some((entry) => entry.alg === "HS256")) return null;
  const minted = await mint_token({ keys_file: options.keys_file, issuer: options.issuer,
    audience: options.audience, subject: { internal: true }, ttl_s: TEST_TOKEN_TTL_S });
  return minted.token;
}

/**
 * The test process's environment without the event stream's settings: a test server runs a
 * publisher, or loads from storage, only when its test asks (options.env), not because the shell
 * exported a broker or a database address (DATABASE_URL alone would also stop it at start-up:
 * it needs KAFKA_BROKERS).
 */
function inherited_env(): Record<string, string | undefined> {
  const {
    KAFKA_BROKERS: _brokers, DATABASE_URL: _database, DATABASE_SCHEMA: _schema, ...rest
  } = process.env;
  return rest;
}

/** Whether a server's output (or an error carrying it) says its port was taken before it bound. */
export function port_was_taken(text: string): boolean {
  return /EADDRINUSE|address already in use|port .* in use/i.test(text);
}

export class ServiceProcess {
  readonly base_url: string;
  /** An internal token, registered with http_client for base_url (null: none). */
  internal_token: string | null = null;
  private readonly out: OutputCapture;
  private readonly err: OutputCapture;
  private exit_code: number | null = null;
  private exit_signal: string | null = null;
  readonly exited: Promise<number>;

  private constructor(
    readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">,
    readonly port: number,
    readonly data_dir: string,
    readonly env: Record<string, string>,
    private readonly https_ca: string | null = null,
  ) {
    this.base_url = `${https_ca === null ? "http" : "https"}://127.0.0.1:${port}`;
    this.out = new OutputCapture(proc.stdout);
    this.err = new OutputCapture(proc.stderr);
    this.exited = proc.exited.then((code) => {
      this.exit_code = code;
      this.exit_signal = proc.signalCode === null ? null : String(proc.signalCode);
      live.delete(this);
      return code;
    });
    live.add(this);
  }

  /** Starts a server and waits for /readyz; throws, with the server's output, if it does not come up. */
  static async start(options: ServiceOptions = {}): Promise<ServiceProcess> {
    const data_dir = options.data_dir ?? temp_data_dir();
    const failures: string[] = [];
    const attempts = options.port === undefined ? PORT_ATTEMPTS_MAX : 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const port = options.port ?? free_port();
      // A free TCP port too (unless the caller names one), so servers never meet on the default.
      const env: Record<string, string> = {
        ...SMALL_LIMITS_ENV, TCP_PORT: String(free_port()), ...options.env, DATA_DIR: data_dir,
        PORT: String(port), HOST: "127.0.0.1",
      };
      const proc = Bun.spawn([process.execPath, "server/main.ts"], {
        cwd: REPO_ROOT,
        env: { ...inherited_env(), ...env },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const service = new ServiceProcess(proc, port, data_dir, env, options.https_ca ?? null);
      const failure = await service.wait_ready(options.ready_timeout_ms ?? READY_TIMEOUT_MS_DEFAULT);
      if (failure === null) {
        service.internal_token = await internal_token({ ...process.env, ...env }, data_dir);
        use_token(service.base_url, service.internal_token);
        return service;
      }
      failures.push(`attempt ${attempt} on port ${port}: ${failure}\n${service.output()}`);
      // Another process may have taken the port between the probe and the bind: try another one.
      if (!port_was_taken(service.output())) break;
    }
    throw new Error(`the balance service did not come up (DATA_DIR=${data_dir}):\n` +
      failures.join("\n---\n"));
  }

  /** Starts another process on the same data directory and environment (a restart after a stop). */
  restart(options: Omit<ServiceOptions, "data_dir"> = {}): Promise<ServiceProcess> {
    if (this.running) throw new Error("restart() of a process that is still running");
    const env = { ...this.env, ...options.env };
    const port = env.NODE_HTTP_ADDRESS === undefined ? undefined : this.port; // advertised
    delete env.PORT;
    delete env.DATA_DIR;
    if (options.env?.TCP_PORT === undefined && port === undefined) delete env.TCP_PORT;
    return ServiceProcess.start({ port, ...options, data_dir: this.data_dir, env });
  }

  /** A restart that must fail: what the failure said (the process's output included). */
  async restart_refused(): Promise<string> {
    let started: ServiceProcess;
    try {
      started = await this.restart();
    } catch (error) {
      return (error as Error).message;
    }
    await started.stop();
    throw new Error("the restart was expected to fail, and the service came up");
  }

  private async wait_ready(timeout_ms: number): Promise<string | null> {
    const deadline = performance.now() + timeout_ms;
    let last = "no answer yet";
    while (performance.now() < deadline) {
      if (!this.running) {
        await this.exited;
        await this.output_settled();
        return `exited before ready (code ${this.exit_code}, signal ${this.exit_signal})`;
      }
      try {
        const response = await fetch(`${this.base_url}/readyz`, {
          signal: AbortSignal.timeout(READY_PROBE_TIMEOUT_MS),
          ...(this.https_ca === null ? {} : { tls: { ca: this.https_ca } }),
        });
        const body = await response.text();
        if (response.status === 200) return null;
        last = `/readyz ${response.status} ${body}`;
      } catch (error) {
        last = `/readyz: ${String(error)}`;
      }
      await Bun.sleep(READY_POLL_MS);
    }
    this.kill_now();
    await this.exited;
    await this.output_settled();
    return `not ready within ${timeout_ms} ms (last: ${last})`;
  }

  get running(): boolean {
    return this.exit_code === null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number {
    return this.proc.pid;
  }

  stdout(): string {
    return this.out.text;
  }

  stderr(): string {
    return this.err.text;
  }

  /** The tails of stdout and stderr, for failure messages. */
  output(): string {
    const tail = (text: string) => text.length > OUTPUT_TAIL_CHARS
      ? `...${text.slice(-OUTPUT_TAIL_CHARS)}` : text;
    return `--- stdout (pid ${this.proc.pid}) ---\n${tail(this.out.text)}` +
      `--- stderr ---\n${tail(this.err.text)}`;
  }

  private async output_settled(): Promise<void> {
    await Promise.race([Promise.all([this.out.done, this.err.done]), Bun.sleep(1_000)]);
  }

  /** SIGKILL, without waiting. */
  kill_now(): void {
    if (this.running) this.proc.kill("SIGKILL");
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    this.kill_now();
    await this.exited;
    await this.output_settled();
  }

  /**
   * SIGTERM and wait for the exit (drain, snapshot, exit 0); returns the exit code. A process still
   * running after the timeout is killed and the call throws.
   */
  async stop(timeout_ms = STOP_TIMEOUT_MS_DEFAULT): Promise<number> {
    if (!this.running) {
      await this.exited;
      await this.output_settled();
      return this.exit_code!;
    }
    this.proc.kill("SIGTERM");
    const timed_out = await Promise.race([
      this.exited.then(() => false), Bun.sleep(timeout_ms).then(() => true),
    ]);
    if (timed_out) {
      await this.kill();
      throw new Error(`the service did not stop within ${timeout_ms} ms of SIGTERM\n${this.output()}`);
    }
    await this.output_settled();
    // The callers assert exit code 0, often in an afterAll whose failure names no test: the
    // process's own words are what tell why it did not stop cleanly.
    if (this.exit_code !== 0) {
      console.error(`the service exited with code ${this.exit_code} (signal ${this.exit_signal}) ` +
        `after SIGTERM; its output:\n${this.output()}`);
    }
    return this.exit_code!;
  }

  remove_data(): void {
    rmSync(this.data_dir, { recursive: true, force: true });
  }
}
