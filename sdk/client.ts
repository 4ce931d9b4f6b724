// BalanceClient: the typed client of the balance service over TCP (default) or HTTP, to one node or
// to a cluster through its routing map (seeds, sdk/routing_transport.ts). One method
// per op, each returning the order's typed result; submit() for explicit batches and linked
// chains; account() and order() to read. Batching, pipelining, retries and reconnects are the
// core's (sdk/batcher.ts); docs/sdk.md says what they guarantee.

import { assert, assert_never } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, SDK_SEEDS_MAX } from "../common/constants.ts";
import type { ResultFields } from "../schema/layout.ts";
import { BATCHER_DEFAULTS, Batcher, split_units } from "./batcher.ts";
import { BalanceError, is_retryable } from "./errors.ts";
import { HttpTransport } from "./http_transport.ts";
import { TcpTransport } from "./tcp_transport.ts";
import { RoutingTransport } from "./routing_transport.ts";
import { endpoint_of, scheme_of, type TlsOptions } from "./tls.ts";
import type { NodeTransport, ReadOutcome, Transport } from "./transport.ts";
import {
  type AccountInfo, type AdminInput, type CallOptions, type CaptureInput, type HoldInput,
  type MoneyInput, type OpenAccountInput, type OrderRequest, type OrderResult, type ReleaseInput,
  type SetOverdraftInput, type TransferInput, type ModeName, type U64, mode_of, order_fields,
  order_result,
} from "./types.ts";
import type { TokenSource } from "./wire.ts";

export interface ClientOptions {
  /**
   * "tcp://127.0.0.1:8090" or "http://127.0.0.1:8080", or over TLS "tls://host:8090" and
   * "https://host:8080": one node. Give this or `seeds`.
   */
  url?: string;
  /**
   * A cluster's nodes to read the routing map from ("tcp://host:port", "http://host:port", or
   * their TLS forms tls:// and https://; one scheme): each partner's orders then go to its group's
   * primary (docs/sdk.md, "Seeds").
   */
  seeds?: string[];
  /**
   * tls:// and https:// only: the CA (PEM text) the server's certificate must chain to (else the
   * runtime's bundled CAs), a client certificate and key, the server name to check.
   */
  tls?: TlsOptions;
  /** A JWT, or a function returning one (called per TCP connection / HTTP request). */
  token?: TokenSource;
  /** Overrides the URL's protocol: "tcp" or "http" (a tls:// or https:// URL stays TLS). */
  transport?: "tcp" | "http";
  /** The partner orders and reads name when they do not say (TCP: the token's by default). */
  partner?: number;
  /** Default mode of order calls: "committed" (default) or "accepted". */
  mode?: ModeName;
  /** A call's time limit, retries included (default 5,000 ms). */
  timeout_ms?: number;
  /** Orders per batch (default and maximum 128; the server's HelloOk may lower it). */
  batch_orders_max?: number;
  /** Batches in flight at once (TCP: at most the server's in_flight_max; HTTP default 32). */
  in_flight_max?: number;
  /** Orders waiting to be sent; past it calls fail with `queue_full` (default 65,536). */
  queue_orders_max?: number;
  /** The server's IDEMPOTENCY_WINDOW_MS (default 10,000): lost answers are resent within it. */
  idempotency_window_ms?: number;
  /** Resends stop this long before the window ends (default 1,000 ms, at most a quarter of it). */
  window_margin_ms?: number;
  /** Retry backoff: first delay, doubled per attempt up to the max (defaults 20 and 1,000 ms). */
  retry_delay_ms_min?: number;
  retry_delay_ms_max?: number;
  /** TCP: time to connect and get HelloOk (default 5,000 ms). */
  connect_timeout_ms?: number;
  /** TCP: Ping after this much silence; drop the connection after twice (default 5,000 ms). */
  keepalive_ms?: number;
  /** Connect without waiting for the first connection (TCP); connect() waits by default. */
  lazy?: boolean;
}

const TIMEOUT_MS_DEFAULT = 5_000;
const HTTP_IN_FLIGHT_MAX_DEFAULT = 32;
const TCP_IN_FLIGHT_MAX_DEFAULT = 256;
const CONNECT_TIMEOUT_MS_DEFAULT = 5_000;
const KEEPALIVE_MS_DEFAULT = 5_000;
const READ_RETRY_DELAY_MS = 50;

export class BalanceClient {
  private readonly batcher: Batcher;
  private closed = false;

  private constructor(
    private readonly transport: Transport,
    private readonly options: ClientOptions,
  ) {
    const window_ms = options.idempotency_window_ms ?? BATCHER_DEFAULTS.idempotency_window_ms;
    this.batcher = new Batcher(transport, {
      batch_orders_max: options.batch_orders_max ?? BATCH_ORDERS_MAX,
      queue_orders_max: options.queue_orders_max ?? BATCHER_DEFAULTS.queue_orders_max,
      idempotency_window_ms: window_ms,
      window_margin_ms: options.window_margin_ms ??
        Math.min(BATCHER_DEFAULTS.window_margin_ms, Math.floor(window_ms / 4)),
      retry_delay_ms_min: options.retry_delay_ms_min ?? BATCHER_DEFAULTS.retry_delay_ms_min,
      retry_delay_ms_max: options.retry_delay_ms_max ?? BATCHER_DEFAULTS.retry_delay_ms_max,
    });
  }

  /**
   * A client for `options.url`. Over TCP it connects and authenticates first (a bad token or an
   * unreachable server rejects here with a BalanceError) unless `lazy`; HTTP connects per request.
   */
  static async connect(options: ClientOptions): Promise<BalanceClient> {
    if (options.seeds !== undefined) return BalanceClient.connect_seeds(options, options.seeds);
    if (options.url === undefined) throw new RangeError("give a url or seeds");
    const transport = make_transport(options, options.url);
    const client = new BalanceClient(transport, options);
    if (transport instanceof TcpTransport && options.lazy !== true) {
      const hello = await transport.open();
      if ("kind" in hello) {
        client.close();
        throw new BalanceError(hello.code === undefined ? "unreachable" : "refused",
          `cannot open a session with ${options.url}: ${hello.message}`, { code: hello.code });
      }
    }
    return client;
  }

  /** A client of a cluster: reads the routing map from the seeds first, unless `lazy`. */
  private static async connect_seeds(options: ClientOptions, seeds: string[])
    : Promise<BalanceClient> {
    const transport = routing_transport(options, seeds);
    const client = new BalanceClient(transport, options);
    if (options.lazy === true) return client;
    const why = await transport.open(options.connect_timeout_ms ?? CONNECT_TIMEOUT_MS_DEFAULT);
    if (why !== null) {
      client.close();
      throw new BalanceError("unreachable", why);
    }
    return client;
  }

  /** A client over any Transport (tests, custom transports). */
  static with_transport(transport: Transport, options: Omit<ClientOptions, "url">): BalanceClient {
    return new BalanceClient(transport, { ...options, url: "custom:" });
  }

  credit(input: MoneyInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "credit", ...input }, options);
  }

  debit(input: MoneyInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "debit", ...input }, options);
  }

  /** Is `amount` available? Changes nothing. */
  check(input: MoneyInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "check", ...input }, options);
  }

  /** Holds `amount`; the result's id is the hold's id for capture() and release(). */
  hold(input: HoldInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "hold", ...input }, options);
  }

  capture(input: CaptureInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "capture", ...input }, options);
  }

  release(input: ReleaseInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "release", ...input }, options);
  }

  transfer(input: TransferInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "transfer", ...input }, options);
  }

  open_account(input: OpenAccountInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "open_account", ...input }, options);
  }

  freeze(input: AdminInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "freeze", ...input }, options);
  }

  unfreeze(input: AdminInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "unfreeze", ...input }, options);
  }

  set_overdraft(input: SetOverdraftInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "set_overdraft", ...input }, options);
  }

  close_account(input: AdminInput, options?: CallOptions): Promise<OrderResult> {
    return this.one({ op: "close_account", ...input }, options);
  }

  /**
   * Several orders, results in the same order. Consecutive orders with `linked: true` and the one
   * after them form a chain (all-or-nothing); a chain holds at most 128 orders. Each single order
   * or chain is retried on its own, and the calls of one event-loop turn share batches.
   */
  async submit(requests: OrderRequest[], options: CallOptions = {}): Promise<OrderResult[]> {
    if (requests.length === 0) return [];
    const partner = this.default_partner();
    const units = split_units(requests.map((request) => order_fields(request, partner)));
    const last = requests[requests.length - 1]!;
    if (last.linked === true) throw new RangeError("the last order of a chain must not be linked");
    for (const unit of units) {
      if (unit.length > BATCH_ORDERS_MAX) {
        throw new RangeError(`a linked chain holds at most ${BATCH_ORDERS_MAX} orders`);
      }
    }
    const mode = mode_of(options.mode ?? this.options.mode);
    const timeout_ms = options.timeout_ms ?? this.options.timeout_ms ?? TIMEOUT_MS_DEFAULT;
    const answers = units.map((unit) => new Promise<ResultFields[]>((resolve, reject) => {
      this.batcher.enqueue(unit, mode, timeout_ms, { resolve, reject });
    }));
    const results = await Promise.all(answers);
    return results.flat().map(order_result);
  }

  /** An account's figures (durable), or null when there is no such account. */
  async account(partner: number, account: U64, options: { timeout_ms?: number } = {})
    : Promise<AccountInfo | null> {
    const id = BigInt(account);
    return this.read(options.timeout_ms, (remaining_ms) =>
      this.transport.read_account(partner, id, remaining_ms));
  }

  /** An order's result while its id is in the idempotency window, or null (unknown or older). */
  async order(partner: number, id: bigint, options: { timeout_ms?: number } = {})
    : Promise<OrderResult | null> {
    const result = await this.read(options.timeout_ms, (remaining_ms) =>
      this.transport.read_order(partner, id, remaining_ms));
    return result === null ? null : order_result(result);
  }

  /** Fails calls not yet answered with reason `closed` and ends the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.batcher.close();
    this.transport.close();
  }

  private default_partner(): number {
    return this.options.partner ?? this.transport.token_partner();
  }

  private async one(request: OrderRequest, options: CallOptions = {}): Promise<OrderResult> {
    const results = await this.submit([{ ...request, linked: false }], options);
    assert(results.length === 1, "one order, one result");
    return results[0]!;
  }

  /** A read, retried (reads change nothing) until it answers or the time is up. */
  private async read<T>(timeout_ms: number | undefined,
    attempt: (remaining_ms: number) => Promise<ReadOutcome<T>>): Promise<T | null> {
    const deadline_ms = Date.now() + (timeout_ms ?? this.options.timeout_ms ?? TIMEOUT_MS_DEFAULT);
    let last = "no attempt";
    while (!this.closed) {
      const remaining_ms = deadline_ms - Date.now();
      if (remaining_ms <= 0) break;
      const outcome = await attempt(remaining_ms);
      switch (outcome.kind) {
        case "found":
          return outcome.value;
        case "not_found":
          return null;
        case "refused":
          if (!is_retryable(outcome.code)) {
            throw new BalanceError("refused", outcome.message, { code: outcome.code });
          }
          last = outcome.message;
          await sleep(Math.min(Math.max(outcome.retry_after_ms, READ_RETRY_DELAY_MS),
            remaining_ms));
          break;
        case "lost":
        case "unreachable":
          if (outcome.kind === "unreachable" && outcome.code !== undefined &&
            !is_retryable(outcome.code)) {
            throw new BalanceError("refused", outcome.message, { code: outcome.code });
          }
          last = outcome.message;
          await sleep(Math.min(READ_RETRY_DELAY_MS, remaining_ms));
          break;
        default:
          assert_never(outcome, "read outcome");
      }
    }
    if (this.closed) throw new BalanceError("closed", "the client was closed");
    throw new BalanceError("timeout", `no answer within timeout_ms (last: ${last})`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function make_transport(options: ClientOptions, url_text: string): NodeTransport {
  const url = new URL(url_text);
  const endpoint = endpoint_of(url.protocol, options.transport, options.tls);
  if (endpoint.kind === "http") {
    return http_transport(options, `${endpoint.secure ? "https" : "http"}://${url.host}`);
  }
  const port = Number(url.port);
  if (!Number.isInteger(port) || port <= 0) {
    throw new RangeError(`a tcp url needs a port: ${url_text}`);
  }
  return tcp_transport(options, url.hostname, port, endpoint.secure);
}

function http_transport(options: ClientOptions, base_url: string): HttpTransport {
  return new HttpTransport({
    base_url,
    token: options.token,
    tls: options.tls,
    limits: {
      batch_orders_max: options.batch_orders_max ?? BATCH_ORDERS_MAX,
      in_flight_max: options.in_flight_max ?? HTTP_IN_FLIGHT_MAX_DEFAULT,
    },
  });
}

function tcp_transport(options: ClientOptions, host: string, port: number, secure: boolean)
  : TcpTransport {
  return new TcpTransport({
    host: host.replace(/^\[(.*)\]$/, "$1"), // an IPv6 literal's brackets are the URL's
    port,
    tls: secure ? options.tls ?? {} : undefined,
    token: options.token,
    limits: {
      batch_orders_max: options.batch_orders_max ?? BATCH_ORDERS_MAX,
      in_flight_max: options.in_flight_max ?? TCP_IN_FLIGHT_MAX_DEFAULT,
    },
    connect_timeout_ms: options.connect_timeout_ms ?? CONNECT_TIMEOUT_MS_DEFAULT,
    keepalive_ms: options.keepalive_ms ?? KEEPALIVE_MS_DEFAULT,
  });
}

/** The seeds' one scheme (or `transport`) and their host:port addresses. */
function routing_transport(options: ClientOptions, seeds: string[]): RoutingTransport {
  if (seeds.length === 0 || seeds.length > SDK_SEEDS_MAX) {
    throw new RangeError(`seeds: 1..${SDK_SEEDS_MAX} addresses, got ${seeds.length}`);
  }
  const urls = seeds.map((seed) => new URL(seed));
  const schemes = new Set(urls.map((url) =>
    scheme_of(endpoint_of(url.protocol, options.transport, options.tls))));
  const scheme = [...schemes][0]!;
  if (schemes.size !== 1) {
    throw new RangeError(
      `seeds must share one scheme (tcp, tls, http or https): ${seeds.join(", ")}`);
  }
  const kind = scheme === "tcp" || scheme === "tls" ? "tcp" : "http";
  for (const url of urls) {
    if (url.port === "") throw new RangeError(`a seed needs a port: ${url.href}`);
  }
  const in_flight_max = options.in_flight_max ??
    (kind === "tcp" ? TCP_IN_FLIGHT_MAX_DEFAULT : HTTP_IN_FLIGHT_MAX_DEFAULT);
  return new RoutingTransport({
    seeds: urls.map((url) => url.host),
    scheme: kind,
    connect: (address) => make_transport(options, `${scheme}://${address}`),
    limits: { batch_orders_max: options.batch_orders_max ?? BATCH_ORDERS_MAX, in_flight_max },
  });
}
