// Routing over a cluster (docs/sdk.md, "Seeds"): a Transport that reads the routing map from the
// seeds (the first that answers), keeps one transport per node, and sends each partner's orders to
// its group's primary. A batch whose orders span primaries is split (a linked chain never: it goes
// whole to its first order's primary; a chain naming several partners is the server's to refuse)
// and its results are put back in order. Orders answered not_primary, or sent to a node that was
// lost or unreachable, make it read the map again (from the seeds, then any node of the last map)
// and are resent with the SAME ids, at most SDK_ROUTING_RESENDS_MAX times with backoff: a node
// answers `replayed` for one it committed already, so nothing is applied twice. The batching core
// above (sdk/batcher.ts) sees one transport and keeps every promise it makes.

import { assert, assert_never } from "../common/assert.ts";
import {
  ORDER_FLAG_LINKED, ORDER_SIZE_BYTES, SDK_MAP_READ_TIMEOUT_MS, SDK_ROUTING_BACKOFF_MS_MAX,
  SDK_ROUTING_BACKOFF_MS_MIN, SDK_ROUTING_RESENDS_MAX, SDK_SEEDS_MAX,
} from "../common/constants.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import {
  ORDER_FLAGS_OFFSET, ORDER_PARTNER_OFFSET, type ResultFields,
} from "../schema/layout.ts";
import {
  merge_routing_maps, RoutingTable as Routes, type RoutingMap,
} from "../schema/routing_map.ts";
import type {
  BatchOutcome, NodeTransport, ReadOutcome, Transport, TransportLimits, WireBatch,
} from "./transport.ts";
import type { AccountInfo } from "./types.ts";

export interface RoutingOptions {
  /** Seed nodes, host:port each, all of `scheme`. */
  seeds: string[];
  scheme: "tcp" | "http";
  /** A transport to the node at host:port (one per node, kept). */
  connect: (address: string) => NodeTransport;
  limits: TransportLimits;
}

export class RoutingTransport implements Transport {
  private routes: Routes | null = null;
  private stale = true;
  private refreshing: Promise<Routes | string> | null = null;
  private readonly transports = new Map<string, NodeTransport>();
  /** Where the map is read from: the seeds, then the last map's other nodes. */
  private known: string[];
  private next_request_id = 0n;

  constructor(private readonly options: RoutingOptions) {
    assert(options.seeds.length >= 1 && options.seeds.length <= SDK_SEEDS_MAX, "seeds checked");
    this.known = [...new Set(options.seeds)];
  }

  limits(): TransportLimits {
    let { batch_orders_max, in_flight_max } = this.options.limits;
    for (const transport of this.transports.values()) {
      batch_orders_max = Math.min(batch_orders_max, transport.limits().batch_orders_max);
      in_flight_max = Math.min(in_flight_max, transport.limits().in_flight_max);
    }
    return { batch_orders_max, in_flight_max };
  }

  token_partner(): number {
    for (const transport of this.transports.values()) {
      if (transport.token_partner() !== 0) return transport.token_partner();
    }
    return 0;
  }

  /** Reads the map now: null once read, else why no node answered it. */
  async open(timeout_ms: number): Promise<string | null> {
    const routes = await this.current_routes(Date.now() + timeout_ms);
    return typeof routes === "string" ? routes : null;
  }

  route_of(partner: number): string {
    return this.routes?.address_of_partner(partner) ?? "";
  }

  async send_batch(batch: WireBatch): Promise<BatchOutcome> {
    const deadline_ms = Date.now() + batch.timeout_ms;
    const attempt = new SplitBatch(batch);
    let positions = Array.from({ length: batch.count }, (_, k) => k);
    for (let resend = 0; ; resend++) {
      const routes = await this.current_routes(deadline_ms);
      if (typeof routes === "string") {
        attempt.fail(positions, { kind: "unreachable", message: routes });
        break;
      }
      positions = await this.send_parts(attempt, routes, positions, deadline_ms);
      if (positions.length === 0 || resend >= SDK_ROUTING_RESENDS_MAX) break;
      const left_ms = deadline_ms - Date.now();
      if (left_ms <= 0) break;
      await sleep(Math.min(routing_backoff_ms(resend), left_ms));
    }
    return attempt.outcome();
  }

  read_account(partner: number, account: bigint, timeout_ms: number)
    : Promise<ReadOutcome<AccountInfo>> {
    return this.read(partner, timeout_ms,
      (transport, left_ms) => transport.read_account(partner, account, left_ms));
  }

  read_order(partner: number, order_id: bigint, timeout_ms: number)
    : Promise<ReadOutcome<ResultFields>> {
    return this.read(partner, timeout_ms,
      (transport, left_ms) => transport.read_order(partner, order_id, left_ms));
  }

  close(): void {
    for (const transport of this.transports.values()) transport.close();
  }

  /** Sends the orders at `positions` to their primaries; the positions to send again. */
  private async send_parts(attempt: SplitBatch, routes: Routes, positions: number[],
    deadline_ms: number): Promise<number[]> {
    const parts = split_by_primary(attempt.batch.orders_bytes, positions, routes);
    const again: number[] = [];
    await Promise.all([...parts].map(async ([address, part]) => {
      const timeout_ms = Math.max(1, deadline_ms - Date.now());
      this.next_request_id++;
      const sub = attempt.part_batch(part, this.next_request_id, timeout_ms);
      const outcome = await this.transport(address).send_batch(sub);
      again.push(...attempt.take(part, outcome));
    }));
    if (again.length > 0) this.stale = true;
    return again.sort((a, b) => a - b);
  }

  private async read<T>(partner: number, timeout_ms: number,
    attempt: (transport: NodeTransport, left_ms: number) => Promise<ReadOutcome<T>>)
    : Promise<ReadOutcome<T>> {
    const deadline_ms = Date.now() + timeout_ms;
    const routes = await this.current_routes(deadline_ms);
    if (typeof routes === "string") return { kind: "unreachable", message: routes };
    const address = routes.address_of_partner(partner);
    const outcome = await attempt(this.transport(address), Math.max(1, deadline_ms - Date.now()));
    const misrouted = outcome.kind === "refused" && outcome.code === ErrorCode.not_primary;
    if (misrouted || outcome.kind === "lost" || outcome.kind === "unreachable") this.stale = true;
    return outcome;
  }

  private transport(address: string): NodeTransport {
    let transport = this.transports.get(address);
    if (transport === undefined) {
      transport = this.options.connect(address);
      this.transports.set(address, transport);
    }
    return transport;
  }

  /** The routes to use: read again when stale (one read at a time). */
  private async current_routes(deadline_ms: number): Promise<Routes | string> {
    if (this.routes !== null && !this.stale) return this.routes;
    if (this.refreshing === null) {
      this.refreshing = this.read_map(deadline_ms).finally(() => {
        this.refreshing = null;
      });
    }
    const routes = await this.refreshing;
    // No node answered: the old map is still the best guess, if there is one.
    return typeof routes === "string" && this.routes !== null ? this.routes : routes;
  }

  /**
   * Asks every node it knows for the map at once and merges the answers: per group the highest
   * epoch wins, so a node cut off from the control plane (which serves the map it last read)
   * cannot keep the client on a primary that was deposed meanwhile.
   */
  private async read_map(deadline_ms: number): Promise<Routes | string> {
    const left_ms = deadline_ms - Date.now();
    if (left_ms <= 0) return "no node answered the routing map (no time left)";
    const outcomes = await Promise.all(this.known.map(async (address) => ({ address,
      outcome: await this.transport(address).read_map(Math.min(left_ms, SDK_MAP_READ_TIMEOUT_MS)),
    })));
    const maps: RoutingMap[] = [];
    const reasons: string[] = [];
    for (const { address, outcome } of outcomes) {
      if (outcome.kind === "found") maps.push(outcome.value);
      else reasons.push(`${address}: ${outcome.kind === "not_found" ? "no map" : outcome.message}`);
    }
    if (maps.length === 0) return `no node answered the routing map (${reasons.join("; ")})`;
    return this.adopt(merge_routing_maps(maps));
  }

  private adopt(map: RoutingMap): Routes {
    const routes = new Routes(map, this.options.scheme);
    this.routes = routes;
    this.stale = false;
    this.known = [...new Set([...this.options.seeds, ...routes.addresses])];
    return routes;
  }
}

/** One batch of the batching core, split over primaries and put back together. */
class SplitBatch {
  private readonly results: (ResultFields | null)[];
  /** What the last part that brought no results said. */
  private failure: BatchOutcome | null = null;

  constructor(readonly batch: WireBatch) {
    this.results = new Array<ResultFields | null>(batch.count).fill(null);
  }

  part_batch(part: number[], request_id: bigint, timeout_ms: number): WireBatch {
    const orders_bytes = new Uint8Array(part.length * ORDER_SIZE_BYTES);
    part.forEach((position, k) => orders_bytes.set(this.batch.orders_bytes.subarray(
      position * ORDER_SIZE_BYTES, (position + 1) * ORDER_SIZE_BYTES), k * ORDER_SIZE_BYTES));
    return { request_id, mode: this.batch.mode, orders_bytes, count: part.length, timeout_ms };
  }

  /** Records a part's outcome; returns its positions to send again (re-read the map first). */
  take(part: number[], outcome: BatchOutcome): number[] {
    if (outcome.kind === "results" && outcome.results.length !== part.length) {
      return this.fail(part, { kind: "lost", message: "results do not match the orders sent" });
    }
    switch (outcome.kind) {
      case "results":
        part.forEach((position, k) => { this.results[position] = outcome.results[k]!; });
        return part.filter((_, k) => outcome.results[k]!.status === Status.not_primary);
      case "refused":
        this.fail(part, outcome);
        return outcome.code === ErrorCode.not_primary ? part : [];
      case "lost":
      case "unreachable":
        return this.fail(part, outcome);
      default:
        return assert_never(outcome, "batch outcome");
    }
  }

  /** The part brought no results: `outcome` stands for it; every position may be sent again. */
  fail(part: number[], outcome: BatchOutcome): number[] {
    for (const position of part) this.results[position] = null;
    this.failure = outcome;
    return part;
  }

  /**
   * Every result when every order has one; else what the parts without results said, as it is
   * when no order has a result, or `lost` when some have (some orders may have been applied: the
   * core resends the whole batch with the same ids and each applied order is answered replayed).
   */
  outcome(): BatchOutcome {
    const answered = this.results.filter((result) => result !== null).length;
    if (answered === this.batch.count) {
      return { kind: "results", results: this.results as ResultFields[] };
    }
    const failure = this.failure!;
    assert(failure.kind !== "results", "a part without results says why");
    if (answered === 0) return failure;
    return { kind: "lost", message: `part of the batch was not answered: ${failure.message}` };
  }
}

/**
 * The orders at `positions` by their primary's address, in order; a linked chain goes whole to
 * its first order's primary.
 */
function split_by_primary(orders_bytes: Uint8Array, positions: number[], routes: Routes)
  : Map<string, number[]> {
  const view = new DataView(orders_bytes.buffer, orders_bytes.byteOffset, orders_bytes.byteLength);
  const parts = new Map<string, number[]>();
  let chain_address: string | null = null;
  for (const position of positions) {
    const at = position * ORDER_SIZE_BYTES;
    const address: string = chain_address ??
      routes.address_of_partner(view.getUint32(at + ORDER_PARTNER_OFFSET, true));
    const linked = (view.getUint8(at + ORDER_FLAGS_OFFSET) & ORDER_FLAG_LINKED) !== 0;
    chain_address = linked ? address : null;
    const part = parts.get(address);
    if (part === undefined) parts.set(address, [position]);
    else part.push(position);
  }
  return parts;
}

function routing_backoff_ms(resend: number): number {
  return Math.min(SDK_ROUTING_BACKOFF_MS_MAX, SDK_ROUTING_BACKOFF_MS_MIN * 2 ** resend);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
