// What the batching and retry core (sdk/batcher.ts) needs from a transport: send one batch and say
// what became of it, as a value. TCP (sdk/tcp_transport.ts) and HTTP (sdk/http_transport.ts)
// implement it; the tests drive the core with a fake one. A transport never retries a batch itself:
// retries, ids and the idempotency window are the core's.

import type { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import type { Mode } from "../schema/generated/balance/wire/mode.ts";
import type { ResultFields } from "../schema/layout.ts";
import { parse_routing_map, type RoutingMap } from "../schema/routing_map.ts";
import type { AccountInfo } from "./types.ts";

export interface WireBatch {
  /** Unique among the transport's requests in flight. */
  request_id: bigint;
  mode: Mode;
  /** `count` Order structs (40 bytes each), contiguous. */
  orders_bytes: Uint8Array;
  count: number;
  /** The transport gives up on an answer after this long: outcome `lost`. */
  timeout_ms: number;
}

export type BatchOutcome =
  /** The results, one per order, in order (final; accepted mode: every one pending). */
  | { kind: "results"; results: ResultFields[] }
  /**
   * The server refused the whole request with an Error. `applied` is "no" for refusals before the
   * engine (busy, disk_full, forbidden, ...), "unknown" when the server itself cannot tell (an
   * HTTP 504: not durable in time).
   */
  | { kind: "refused"; code: ErrorCode; message: string; retry_after_ms: number;
      applied: "no" | "unknown" }
  /** Sent, and no answer came (connection lost, timeout): the orders may have been applied. */
  | { kind: "lost"; message: string }
  /** Not sent: no connection could be made. `code` when the server refused the session. */
  | { kind: "unreachable"; message: string; code?: ErrorCode };

export type ReadOutcome<T> =
  | { kind: "found"; value: T }
  | { kind: "not_found" }
  | { kind: "refused"; code: ErrorCode; message: string; retry_after_ms: number }
  | { kind: "lost"; message: string }
  | { kind: "unreachable"; message: string; code?: ErrorCode };

export interface TransportLimits {
  /** Orders per batch the server takes. */
  batch_orders_max: number;
  /** Requests this transport may have unanswered at once. */
  in_flight_max: number;
}

export interface Transport {
  /** Known after the first connection (TCP HelloOk), the options' values before. */
  limits(): TransportLimits;
  /** The partner the token acts for (TCP HelloOk), 0 when unknown or internal. */
  token_partner(): number;
  send_batch(batch: WireBatch): Promise<BatchOutcome>;
  /**
   * Where `partner`'s orders go now (a routing transport: its primary's address), so the core
   * packs each node's calls apart and one node's failover never holds another's answers; absent
   * when one node takes every order.
   */
  route_of?(partner: number): string;
  read_account(partner: number, account: bigint, timeout_ms: number)
    : Promise<ReadOutcome<AccountInfo>>;
  read_order(partner: number, order_id: bigint, timeout_ms: number)
    : Promise<ReadOutcome<ResultFields>>;
  /** Ends the connection(s); calls in flight answer `unreachable` or `lost`. */
  close(): void;
}

/** A transport to one node of a cluster, which can also read the cluster's routing map. */
export interface NodeTransport extends Transport {
  /** The node's routing map (GET /cluster/map, TCP RoutingMapQuery), checked field by field. */
  read_map(timeout_ms: number): Promise<ReadOutcome<RoutingMap>>;
}

/** A map that fails parse_routing_map: the node answered something the protocol does not allow. */
export function parsed_map(json: string): ReadOutcome<RoutingMap> {
  try {
    return { kind: "found", value: parse_routing_map(JSON.parse(json)) };
  } catch (error) {
    return { kind: "lost", message: `an invalid routing map: ${String(error)}` };
  }
}
