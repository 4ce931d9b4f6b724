// The routing map every node serves (docs/protocol.md, "Routing map"): GET /cluster/map behind the
// same authentication as the read routes, and the TCP RoutingMapQuery -> RoutingMapReply pair on
// an authenticated session. A single node's map names itself, at its own addresses, as the
// primary of every group; the partner map (GROUP_MAP) travels with it.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { encode_routing_map_query } from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { parse_routing_map, type RoutingMap } from "../../schema/routing_map.ts";
import { start_service, token_for, type SdkService } from "../sdk/service.ts";
import { TcpTestClient, bigints } from "../tcp/tcp_client.ts";

let node: SdkService;

beforeAll(async () => {
  node = await start_service({ GROUPS: "3", GROUP_MAP: "8:2,7:0" });
});

afterAll(async () => {
  expect(await node.service.stop()).toBe(0);
  node.service.remove_data();
});

function expected_map(): RoutingMap {
  const group = (id: number) => ({ group: id, epoch: 1, primary: "local", standbys: [] });
  return {
    version: 1, groups: 3, group_map: [[7, 0], [8, 2]],
    nodes: [{ id: "local", http: `127.0.0.1:${node.service.port}`,
      tcp: `127.0.0.1:${node.tcp_port}` }],
    group_primaries: [group(0), group(1), group(2)],
  };
}

function get_map(token: string | null): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${node.service.base_url}/cluster/map`, { headers });
}

test("GET /cluster/map answers the map to a partner's token and an internal one", async () => {
  for (const subject of [{ internal: true as const }, { partner: 7 }]) {
    const response = await get_map(await token_for(node.service, subject));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    const body = await response.json();
    expect(body).toEqual(expected_map());
    expect(parse_routing_map(body)).toEqual(expected_map());
  }
});

test("GET /cluster/map without a token or with a bad one is 401, naming the error", async () => {
  for (const token of [null, "not-a-jwt"]) {
    const response = await get_map(token);
    expect(response.status).toBe(401);
    const body = await response.json() as { error: string };
    expect(body.error).toBe(token === null ? "not_authenticated" : "token_invalid");
  }
});

test("TCP: RoutingMapQuery on a session is answered with the same map, by request_id", async () => {
  const token = await token_for(node.service, { partner: 8 });
  const client = await TcpTestClient.session(node.tcp_port, token);
  client.send(encode_routing_map_query(41n));
  client.send(encode_routing_map_query(42n));
  const replies = await client.take(2);
  for (const [k, reply] of replies.entries()) {
    if (reply.type !== "routing_map_reply") throw new Error(JSON.stringify(reply, bigints));
    expect(reply.request_id).toBe(41n + BigInt(k));
    expect(parse_routing_map(JSON.parse(reply.json))).toEqual(expected_map());
  }
  client.close();
});

test("TCP: a RoutingMapQuery before Hello closes the connection not_authenticated", async () => {
  const client = await TcpTestClient.connect(node.tcp_port);
  client.send(encode_routing_map_query(1n));
  const error = await client.next();
  if (error.type !== "error") throw new Error(JSON.stringify(error, bigints));
  expect(ErrorCode[error.code]).toBe("not_authenticated");
  expect(await client.wait_closed()).toBe(true);
});
