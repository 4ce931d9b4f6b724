// The command line of `bun run loadgen`: every flag with its default, parsed and validated before
// anything connects. `--help` prints the table below.

import { readFileSync } from "node:fs";
import type { WireFormat } from "./json_wire.ts";
import type { ClientTls } from "./connection.ts";
import { BATCH_ORDERS_MAX, SDK_SEEDS_MAX } from "../common/constants.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { MIX_OPS, OP_MIX_DEFAULT, type OpMix } from "./workload.ts";

export type Transport = "tcp" | "http";

export interface Options {
  transport: Transport;
  /** The HTTP body format of the load's batches (set-up and checks use FlatBuffers). */
  format: WireFormat;
  host: string;
  http_port: number;
  tcp_port: number;
  connections: number;
  in_flight: number; // requests in flight per connection
  batch_orders: number;
  requests: number; // Infinity with --duration
  duration_ms: number; // Infinity with --requests
  partners: number;
  accounts_per_partner: number;
  first_partner: number;
  skew: number;
  mix: OpMix;
  mode: Mode;
  currency: number;
  opening_balance: number;
  seed: number;
  token: string | null;
  internal_token: string | null;
  data_dir: string;
  json: boolean;
  progress: boolean;
  check: boolean;
  request_timeout_ms: number;
  label: string;
  /** --seeds: a cluster's nodes (TCP host:port each); null: the one service at --host. */
  seeds: string[] | null;
  /** --tls / --ca: TLS on every connection; null: plaintext. */
  tls: ClientTls | null;
}

/** --ca FILE: the CA's PEM text, read now so a wrong path is a usage error, not a failed load. */
function client_tls(tls: boolean, ca_file: string | undefined): ClientTls | null {
  if (ca_file === undefined) return tls ? { ca: null } : null;
  try {
    return { ca: readFileSync(ca_file, "utf8") };
  } catch (error) {
    throw new UsageError(`--ca: cannot read ${ca_file} (${(error as Error).message})`);
  }
}

export const USAGE = `bun run loadgen [flags]   (all optional; defaults in brackets)

  --transport tcp|http     wire to load [tcp]
  --format flatbuffers|json   HTTP body of the load's batches (JSON: the API's curl-friendly
                           form, 64-bit values as strings) [flatbuffers]
  --host H                 service address [$HOST or 127.0.0.1]
  --http-port N            HTTP port [$PORT or 8080]
  --tcp-port N             TCP port [$TCP_PORT or 8090]
  --tls                    TLS on both ports (https, TLS TCP), trusting the system's CAs
  --ca FILE                TLS trusting this CA's PEM certificate (implies --tls)
  --seeds tcp://H:P,...    (or tls://H:P,... with --ca) a cluster: read its routing map from these nodes and send each
                           batch to the primary of its partners' groups (TCP only; --host and
                           the ports are then unused; --connections is per node)
  --connections N          sockets [tcp 4, http 64]
  --in-flight N            requests in flight per connection [tcp 64; http 1: Bun.serve closes
                           a connection that pipelines, so HTTP takes no other value]
  --batch N                orders per request, 1..${BATCH_ORDERS_MAX} [20]
  --requests N             stop after N requests (load phase) [--duration 10s]
  --duration D             stop after D (500ms, 30s, 2m) [10s]
  --partners N             partners [100]
  --accounts N             accounts per partner (index 0 is the partner's own) [100]
  --first-partner N        partner ids are N .. N+partners-1 [1]
  --skew S                 Zipf exponent of the hot-partner skew, 0 = uniform [1]
  --mix op=w,...           weights of ${MIX_OPS.join(", ")}
                           [${MIX_OPS.map((op) => `${op}=${OP_MIX_DEFAULT[op]}`).join(",")}]
  --mode committed|accepted   reply after fsync, or pending at once (only) [committed]
  --currency N             ISO 4217 numeric code of the accounts [978]
  --opening-balance N      set-up credits accounts below half of this up to it [1000000000]
  --seed N                 PRNG seed of the workload (and the id instance) [random]
  --token T                partner or internal token for the load (else the internal one)
  --internal-token T       internal token for set-up and checks (else minted from the dev key)
  --data-dir D             where make run keeps auth-keys.json [$DATA_DIR or ./data]
  --timeout D              a request unanswered this long fails the run [30s]
  --label L                a name printed in the summary
  --json                   print one line of JSON instead of the summary
  --no-progress            no progress bar (it is drawn only when stderr is a terminal)
  --no-check               skip the end check
  --help
`;

export class UsageError extends Error {
  override name = "UsageError";
}

function integer(name: string, text: string, min: number, max: number): number {
  const value = Number(text.replaceAll("_", "").replaceAll(",", ""));
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be an integer in ${min}..${max}, got "${text}"`);
  }
  return value;
}

/** "500ms", "30s", "2m", "1h", or a plain number of seconds. */
export function parse_duration_ms(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) {
    throw new UsageError(`${name} must look like 500ms, 30s or 2m, got "${text}"`);
  }
  const unit_ms = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  const value_ms = Number(match[1]) * unit_ms;
  if (!(value_ms > 0)) throw new UsageError(`${name} must be positive`);
  return value_ms;
}

export function parse_mix(text: string): OpMix {
  const mix: OpMix =
    { debit: 0, credit: 0, transfer: 0, check: 0, hold: 0, capture: 0, release: 0 };
  for (const part of text.split(",")) {
    const [name, weight] = part.split("=").map((s) => s.trim());
    if (!(MIX_OPS as readonly string[]).includes(name ?? "") || weight === undefined) {
      throw new UsageError(`--mix: "${part}" is not op=weight, op one of ${MIX_OPS.join(", ")}`);
    }
    const value = Number(weight);
    if (!(value >= 0) || !Number.isFinite(value)) {
      throw new UsageError(`--mix: bad weight "${part}"`);
    }
    mix[name as keyof OpMix] = value;
  }
  if (MIX_OPS.every((op) => mix[op] === 0)) throw new UsageError("--mix: all weights are 0");
  return mix;
}

export function parse_options(argv: readonly string[], env: Record<string, string | undefined>)
  : Options | "help" {
  const flags = new Map<string, string>();
  const switches = new Set<string>();
  const SWITCHES = ["--json", "--no-progress", "--no-check", "--help", "--tls"];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (SWITCHES.includes(arg)) {
      switches.add(arg);
      continue;
    }
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"`);
    const equals = arg.indexOf("=");
    const name = equals < 0 ? arg : arg.slice(0, equals);
    const value = equals < 0 ? argv[++i] : arg.slice(equals + 1);
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    flags.set(name, value);
  }
  if (switches.has("--help")) return "help";
  const take = (name: string): string | undefined => {
    const value = flags.get(name);
    flags.delete(name);
    return value;
  };
  const options = build(take, switches, env);
  const unknown = [...flags.keys()];
  if (unknown.length > 0) throw new UsageError(`unknown flag ${unknown.join(", ")} (see --help)`);
  return options;
}

function build(take: (name: string) => string | undefined, switches: Set<string>,
  env: Record<string, string | undefined>): Options {
  const transport = take("--transport") ?? "tcp";
  if (transport !== "tcp" && transport !== "http") {
    throw new UsageError(`--transport must be tcp or http, got "${transport}"`);
  }
  const format = take("--format") ?? "flatbuffers";
  if (format !== "flatbuffers" && format !== "json") {
    throw new UsageError(`--format must be flatbuffers or json, got "${format}"`);
  }
  if (format === "json" && transport !== "http") {
    throw new UsageError("--format json is an HTTP body: --transport http");
  }
  const mode_text = take("--mode") ?? "committed";
  if (mode_text !== "committed" && mode_text !== "accepted") {
    throw new UsageError(`--mode must be committed or accepted, got "${mode_text}"`);
  }
  const requests_text = take("--requests");
  const duration_text = take("--duration");
  if (requests_text !== undefined && duration_text !== undefined) {
    throw new UsageError("give --requests or --duration, not both");
  }
  const is_tcp = transport === "tcp";
  const int = (name: string, fallback: number, min: number, max: number) => {
    const text = take(name);
    return text === undefined ? fallback : integer(name, text, min, max);
  };
  const skew_text = take("--skew") ?? "1";
  const skew = Number(skew_text);
  if (!(skew >= 0 && skew <= 10)) {
    throw new UsageError(`--skew must be in 0..10, got "${skew_text}"`);
  }
  const mix_text = take("--mix");
  const seeds_text = take("--seeds");
  const seeds = parse_seeds(seeds_text, transport);
  // tls:// seeds mean TLS on every node (the map names their TLS ports), trusting --ca if given.
  const tls_seeds = seeds_text !== undefined && seeds_text.trim().startsWith("tls://");
  const tls = client_tls(switches.has("--tls") || tls_seeds, take("--ca"));
  if (seeds !== null && (tls !== null) !== tls_seeds) {
    throw new UsageError("--seeds over TLS are written tls://host:port (and take --ca); " +
      "tcp:// seeds are plaintext");
  }
  const in_flight = int("--in-flight", is_tcp ? 64 : 1, 1, 65536);
  if (!is_tcp && in_flight !== 1) {
    throw new UsageError("--in-flight: HTTP keeps one request per connection (Bun.serve closes " +
      "connections that pipeline); raise --connections instead");
  }
  return {
    transport,
    format,
    host: take("--host") ?? env.HOST ?? "127.0.0.1",
    http_port: int("--http-port", integer("PORT", env.PORT ?? "8080", 1, 65535), 1, 65535),
    tcp_port: int("--tcp-port", integer("TCP_PORT", env.TCP_PORT ?? "8090", 1, 65535), 1, 65535),
    connections: int("--connections", is_tcp ? 4 : 64, 1, 4096),
    in_flight,
    batch_orders: int("--batch", 20, 1, BATCH_ORDERS_MAX),
    requests: requests_text === undefined ? Infinity
      : integer("--requests", requests_text, 1, Number.MAX_SAFE_INTEGER),
    duration_ms: requests_text !== undefined ? Infinity
      : parse_duration_ms("--duration", duration_text ?? "10s"),
    partners: int("--partners", 100, 1, 1_000_000),
    accounts_per_partner: int("--accounts", 100, 1, 1 << 24),
    first_partner: int("--first-partner", 1, 1, 0xffff_ffff),
    skew,
    mix: mix_text === undefined ? { ...OP_MIX_DEFAULT } : parse_mix(mix_text),
    mode: mode_text === "committed" ? Mode.committed : Mode.accepted,
    currency: int("--currency", 978, 1, 999),
    opening_balance: int("--opening-balance", 1_000_000_000, 0, 2 ** 50),
    seed: int("--seed", Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31),
    token: take("--token") ?? null,
    internal_token: take("--internal-token") ?? null,
    data_dir: take("--data-dir") ?? env.DATA_DIR ?? "./data",
    json: switches.has("--json"),
    progress: !switches.has("--no-progress"),
    check: !switches.has("--no-check"),
    request_timeout_ms: parse_duration_ms("--timeout", take("--timeout") ?? "30s"),
    label: take("--label") ?? "",
    seeds,
    tls,
  };
}

/** tcp://host:port,... (or tls://, all alike) -> host:port each; null without the flag. */
export function parse_seeds(text: string | undefined, transport: Transport): string[] | null {
  if (text === undefined) return null;
  if (transport !== "tcp") {
    throw new UsageError("--seeds reads the routing map over TCP: --transport tcp");
  }
  const seeds = text.split(",").map((seed) => seed.trim());
  if (seeds.length > SDK_SEEDS_MAX) {
    throw new UsageError(`--seeds: ${seeds.length} seeds, at most ${SDK_SEEDS_MAX}`);
  }
  const scheme = seeds[0]!.startsWith("tls://") ? "tls" : "tcp";
  return seeds.map((seed) => {
    const match = new RegExp(`^${scheme}://([^\\s:/]+):(\\d+)$`).exec(seed);
    if (match === null) {
      throw new UsageError(`--seeds: "${seed}" is not ${scheme}://host:port (one scheme for all)`);
    }
    return `${match[1]}:${integer("--seeds port", match[2]!, 1, 65535)}`;
  });
}
