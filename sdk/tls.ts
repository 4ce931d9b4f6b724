// TLS on the client side (node:tls; Bun and Node alike): a `tls://host:port` address is the TCP
// protocol over TLS, `https://host:port` is HTTP over TLS. The server's certificate is checked
// against `ca` (else the runtime's bundled CAs) and against `servername` (else the URL's host, an
// IP address matched against the certificate's IP entries); `cert` and `key` answer a server that
// asks for a client certificate. Verification is never turned off.

export interface TlsOptions {
  /** PEM text of the CA certificate(s) the server's certificate must chain to. */
  ca?: string | string[];
  /** PEM text of a client certificate (mutual TLS); give `key` with it. */
  cert?: string;
  /** PEM text of the client certificate's private key. */
  key?: string;
  /** The name sent (SNI) and checked against the server's certificate; default the URL's host. */
  servername?: string;
}

/** What an address's scheme says: the protocol, and whether it runs over TLS. */
export interface Endpoint {
  kind: "tcp" | "http";
  secure: boolean;
}

/**
 * The endpoint of a URL's scheme (`tcp:`, `tls:`, `http:`, `https:`); `transport` overrides the
 * protocol (then an unknown scheme is taken as plain). Throws RangeError for TLS options on a
 * plain address: a caller who gave a CA expects encryption, and must not silently go without.
 */
export function endpoint_of(protocol: string, transport: "tcp" | "http" | undefined,
  tls: TlsOptions | undefined): Endpoint {
  const scheme = protocol.replace(/:$/, "");
  const known = SCHEMES[scheme];
  if (known === undefined && transport === undefined) {
    throw new RangeError(`url scheme must be tcp, tls, http or https, got ${protocol}`);
  }
  const endpoint = { kind: transport ?? known!.kind, secure: known?.secure ?? false };
  if (tls !== undefined && !endpoint.secure) {
    throw new RangeError(`tls options need a tls:// or https:// address, got ${protocol}`);
  }
  check_tls_options(tls ?? {});
  return endpoint;
}

const SCHEMES: Readonly<Record<string, Endpoint>> = {
  tcp: { kind: "tcp", secure: false },
  tls: { kind: "tcp", secure: true },
  http: { kind: "http", secure: false },
  https: { kind: "http", secure: true },
};

/** The scheme of an address of `endpoint`'s kind and security. */
export function scheme_of(endpoint: Endpoint): "tcp" | "tls" | "http" | "https" {
  if (endpoint.kind === "tcp") return endpoint.secure ? "tls" : "tcp";
  return endpoint.secure ? "https" : "http";
}

/** The node:tls / node:https connection options `tls_connect_options` sets. */
export interface TlsConnectOptions {
  rejectUnauthorized: true;
  ca?: string | string[];
  cert?: string;
  key?: string;
  servername?: string;
}

/** node:tls / node:https options for `tls`: verification on, only the fields given. */
export function tls_connect_options(tls: TlsOptions): TlsConnectOptions {
  const options: TlsConnectOptions = { rejectUnauthorized: true };
  if (tls.ca !== undefined) options.ca = tls.ca;
  if (tls.cert !== undefined) options.cert = tls.cert;
  if (tls.key !== undefined) options.key = tls.key;
  if (tls.servername !== undefined) options.servername = tls.servername;
  return options;
}

const PEM_BEGIN = "-----BEGIN ";

function check_tls_options(tls: TlsOptions): void {
  const cas = tls.ca === undefined ? [] : Array.isArray(tls.ca) ? tls.ca : [tls.ca];
  for (const ca of cas) {
    if (typeof ca !== "string" || !ca.includes(PEM_BEGIN)) {
      throw new RangeError("tls.ca: PEM text (-----BEGIN CERTIFICATE-----), not a file name");
    }
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new RangeError("tls.cert and tls.key go together");
  }
  for (const [name, pem] of [["cert", tls.cert], ["key", tls.key]] as const) {
    if (pem !== undefined && (typeof pem !== "string" || !pem.includes(PEM_BEGIN))) {
      throw new RangeError(`tls.${name}: PEM text, not a file name`);
    }
  }
  if (tls.servername !== undefined && tls.servername.length === 0) {
    throw new RangeError("tls.servername: a host name, or leave it out");
  }
}
