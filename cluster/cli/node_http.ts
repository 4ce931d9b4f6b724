// The nodes' HTTP API as the cluster tool reaches it: https trusting the CA in TLS_CA_FILE when it
// is set (nodes started with TLS_CERT_FILE, docs/tls.md), plain http otherwise.

import { readFileSync } from "node:fs";

let ca_text: string | null | undefined;

function ca(): string | null {
  if (ca_text === undefined) {
    const file = process.env.TLS_CA_FILE ?? "";
    ca_text = file === "" ? null : readFileSync(file, "utf8");
  }
  return ca_text;
}

/** fetch of `path` on the node at `http_address` (host:port). */
export function node_fetch(http_address: string, path: string, init: RequestInit = {})
  : Promise<Response> {
  const trusted = ca();
  if (trusted === null) return fetch(`http://${http_address}${path}`, init);
  return fetch(`https://${http_address}${path}`, { ...init, tls: { ca: trusted } });
}
