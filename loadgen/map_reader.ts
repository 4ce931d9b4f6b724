// The routing map of a cluster, read over TCP (docs/protocol.md, RoutingMapQuery): one short
// session per node (Hello, RoutingMapQuery, the reply), every known node asked at once and the
// answers merged per group by epoch (schema/routing_map.ts), as the SDK does: a node cut off from
// the control plane cannot keep the load on a primary deposed meanwhile.

import { FRAME_SIZE_BYTES_MAX } from "../common/constants.ts";
import {
  PROTOCOL_VERSION_CURRENT, decode_frame, encode_hello, encode_routing_map_query,
} from "../schema/codec.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import {
  merge_routing_maps, parse_routing_map, type RoutingMap,
} from "../schema/routing_map.ts";
import type { Socket } from "bun";
import { connect_options, ReceiveBuffer, type ClientTls } from "./connection.ts";

const LENGTH_PREFIX_BYTES = 4;
const MAP_QUERY_REQUEST_ID = 1n;
const RECEIVE_BUFFER_INITIAL_BYTES = 16 * 1024;

function framed(frame: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(LENGTH_PREFIX_BYTES + frame.length);
  new DataView(bytes.buffer).setUint32(0, frame.length, true);
  bytes.set(frame, LENGTH_PREFIX_BYTES);
  return bytes;
}

/** The map one node serves (host:port of its TCP listener), or why not. */
export function read_node_map(address: string, token: string | null, timeout_ms: number,
  tls: ClientTls | null = null): Promise<RoutingMap | string> {
  const [host, port] = split_address(address);
  const received = new ReceiveBuffer(RECEIVE_BUFFER_INITIAL_BYTES,
    LENGTH_PREFIX_BYTES + FRAME_SIZE_BYTES_MAX);
  return new Promise((resolve) => {
    let socket: { end(): void; write(bytes: Uint8Array): number } | null = null;
    let done = false;
    const finish = (outcome: RoutingMap | string) => {
      if (done) return; // ending the socket below calls close
      done = true;
      clearTimeout(timer);
      resolve(outcome);
      socket?.end();
    };
    const timer = setTimeout(() => finish(`${address}: no map within ${timeout_ms} ms`),
      timeout_ms);
    const on_data = (data: Uint8Array) => {
      received.append(data);
      for (;;) {
        if (received.length < LENGTH_PREFIX_BYTES) return;
        const size_bytes = new DataView(received.bytes.buffer).getUint32(0, true);
        if (received.length < LENGTH_PREFIX_BYTES + size_bytes) return;
        const frame = received.bytes.slice(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + size_bytes);
        received.consume(LENGTH_PREFIX_BYTES + size_bytes);
        const decoded = decode_frame(frame);
        if (decoded.type === "routing_map_reply") return finish(parsed(address, decoded.json));
        if (decoded.type === "error") {
          return finish(`${address}: Error ${ErrorCode[decoded.code]}: ${decoded.message}`);
        }
        if (decoded.type !== "hello_ok") return finish(`${address}: unexpected ${decoded.type}`);
        // The session is open: now the query (a frame before HelloOk ends the session).
        socket?.write(framed(encode_routing_map_query(MAP_QUERY_REQUEST_ID)));
      }
    };
    const { tls: tls_option, ...session } = connect_options<Socket<undefined>>(
      { host, port, token, tls }, (opened) => {
        socket = opened;
        opened.write(framed(encode_hello(PROTOCOL_VERSION_CURRENT, token ?? "")));
      }, (error) => finish(`${address}: ${error}`));
    Bun.connect({ hostname: host, port, ...(tls_option === undefined ? {} : { tls: tls_option }),
      socket: {
        ...session,
        data: (_socket, data) => on_data(data),
        close: () => finish(`${address}: closed before the map came`),
        error: (_socket, error) => finish(`${address}: ${String(error)}`),
        connectError: (_socket, error) => finish(`${address}: connect failed: ${String(error)}`),
      } }).catch((error: unknown) => finish(`${address}: connect failed: ${String(error)}`));
  });
}

function parsed(address: string, json: string): RoutingMap | string {
  try {
    return parse_routing_map(JSON.parse(json));
  } catch (error) {
    return `${address}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Every node asked at once, the answers merged; throws when no node answered. */
export async function read_cluster_map(addresses: readonly string[], token: string | null,
  timeout_ms: number, tls: ClientTls | null = null): Promise<RoutingMap> {
  const outcomes = await Promise.all(addresses.map((a) =>
    read_node_map(a, token, timeout_ms, tls)));
  const maps = outcomes.filter((outcome): outcome is RoutingMap => typeof outcome !== "string");
  if (maps.length === 0) {
    throw new Error(`no node answered the routing map (${outcomes.join("; ")})`);
  }
  return merge_routing_maps(maps);
}

/** "host:port" -> [host, port]. */
export function split_address(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
