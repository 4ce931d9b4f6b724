// One HTTP exchange for the HTTP transport, two ways: `fetch` for http:// (Bun and Node alike), and
// node:https for https://, since Node's fetch takes no CA or client certificate (sdk/tls.ts). The
// https agent keeps up to in_flight_max connections alive, so TLS handshakes are not per request.

import { Agent, request as https_request } from "node:https";
import { assert } from "../common/assert.ts";
import { tls_connect_options, type TlsOptions } from "./tls.ts";

export interface HttpAnswer {
  status: number;
  /** The whole body, in its own ArrayBuffer. */
  bytes: Uint8Array;
  content_type: string;
}

export interface HttpRequestInit {
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: Uint8Array;
  signal: AbortSignal;
}

export interface HttpRequester {
  request(url: string, init: HttpRequestInit): Promise<HttpAnswer>;
  /** Ends the kept-alive connections. */
  close(): void;
}

/** http:// through the runtime's fetch. */
export const fetch_requester: HttpRequester = {
  async request(url, init) {
    const response = await fetch(url, init);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const content_type = response.headers.get("content-type") ?? "";
    return { status: response.status, bytes, content_type };
  },
  close() {},
};

/** https:// through node:https, the server checked as `tls` says. */
export function https_requester(tls: TlsOptions, sockets_max: number): HttpRequester {
  assert(Number.isInteger(sockets_max) && sockets_max > 0, "https sockets_max positive");
  const tls_options = tls_connect_options(tls);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets_max, ...tls_options });
  return {
    request: (url, init) => new Promise<HttpAnswer>((resolve, reject) => {
      const headers = { ...init.headers };
      if (init.body !== undefined) headers["content-length"] = String(init.body.byteLength);
      const request = https_request(url,
        { ...tls_options, method: init.method, headers, agent, signal: init.signal },
        (response) => {
          const chunks: Uint8Array[] = [];
          let ended = false;
          response.on("data", (chunk: Uint8Array) => chunks.push(chunk));
          response.on("end", () => {
            ended = true;
            resolve({ status: response.statusCode ?? 0, bytes: joined(chunks),
              content_type: String(response.headers["content-type"] ?? "") });
          });
          response.on("error", reject);
          response.on("close", () => {
            if (!ended) reject(new Error("the connection closed before the answer ended"));
          });
        });
      request.on("error", reject);
      request.end(init.body);
    }),
    close: () => agent.destroy(),
  };
}

function joined(chunks: Uint8Array[]): Uint8Array {
  let size_bytes = 0;
  for (const chunk of chunks) size_bytes += chunk.byteLength;
  const bytes = new Uint8Array(size_bytes);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  assert(offset === size_bytes, "every chunk copied");
  return bytes;
}
