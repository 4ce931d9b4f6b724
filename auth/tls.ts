// TLS material from files (docs/tls.md): the front doors' certificate and key (TLS_CERT_FILE,
// TLS_KEY_FILE) and the replication links' mutual TLS (CLUSTER_TLS_CERT_FILE, CLUSTER_TLS_KEY_FILE,
// CLUSTER_TLS_CA_FILE). Files are read at start-up (a bad file stops the node with a ConfigError)
// and watched: a rotated certificate is picked up without a restart. The watch compares the files'
// modification times and sizes every TLS_RELOAD_CHECK_MS; a change whose files do not load (a
// half-written key, a certificate without its key yet) keeps the material in use and is tried
// again at the next check, so a rotation written file by file never serves a broken pair.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { ConfigError, integer, type Env } from "../config/config.ts";

export const TLS_RELOAD_CHECK_MS_DEFAULT = 10_000;
export const TLS_RELOAD_CHECK_MS_MIN = 100;
export const TLS_RELOAD_CHECK_MS_MAX = 3_600_000;
/** PEM files larger than this are refused: a certificate chain is a few kilobytes. */
const TLS_FILE_BYTES_MAX = 1 << 20;

export interface TlsFiles {
  cert_file: string;
  key_file: string;
  /** The CA that peers' certificates must chain to (mutual TLS); null: no client certificate. */
  ca_file: string | null;
  reload_check_ms: number;
}

/** What Bun.serve / Bun.listen / Bun.connect take as `tls`. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

/** TLS_CERT_FILE and TLS_KEY_FILE: both or neither (null: plaintext front doors). */
export function front_door_tls_files(env: Env): TlsFiles | null {
  return tls_files(env, "TLS_CERT_FILE", "TLS_KEY_FILE", null);
}

/** CLUSTER_TLS_CERT_FILE, CLUSTER_TLS_KEY_FILE and CLUSTER_TLS_CA_FILE: all three or none. */
export function replication_tls_files(env: Env): TlsFiles | null {
  return tls_files(env, "CLUSTER_TLS_CERT_FILE", "CLUSTER_TLS_KEY_FILE", "CLUSTER_TLS_CA_FILE");
}

function tls_files(env: Env, cert_name: string, key_name: string, ca_name: string | null)
  : TlsFiles | null {
  const names = ca_name === null ? [cert_name, key_name] : [cert_name, key_name, ca_name];
  const set = names.filter((name) => (env[name] ?? "") !== "");
  if (set.length === 0) return null;
  if (set.length !== names.length) {
    const missing = names.filter((name) => !set.includes(name));
    throw new ConfigError(`${set.join(" and ")} set without ${missing.join(" and ")}: ` +
      `TLS needs ${names.join(", ")} together`);
  }
  const files: TlsFiles = {
    cert_file: env[cert_name]!,
    key_file: env[key_name]!,
    ca_file: ca_name === null ? null : env[ca_name]!,
    reload_check_ms: integer(env, "TLS_RELOAD_CHECK_MS", TLS_RELOAD_CHECK_MS_DEFAULT,
      TLS_RELOAD_CHECK_MS_MIN, TLS_RELOAD_CHECK_MS_MAX),
  };
  load_tls_material(files); // a bad file stops the node now, not at its first connection
  return files;
}

/** Reads and checks the files; throws ConfigError naming the file that is wrong. */
export function load_tls_material(files: TlsFiles): TlsMaterial {
  const cert = read_pem(files.cert_file, "CERTIFICATE");
  const key = read_pem(files.key_file, "PRIVATE KEY");
  // A rotation caught between its two files (the new key beside the old certificate) is refused
  // here, and picked up at the next check once both are in place.
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (error) {
    throw new ConfigError(`${files.cert_file} / ${files.key_file}: ${(error as Error).message}`);
  }
  if (!matches) {
    throw new ConfigError(`${files.key_file} is not the key of the certificate in ${files.cert_file}`);
  }
  if (files.ca_file === null) return { cert, key };
  return { cert, key, ca: read_pem(files.ca_file, "CERTIFICATE") };
}

function read_pem(path: string, label: string): string {
  let text: string;
  try {
    if (statSync(path).size > TLS_FILE_BYTES_MAX) {
      throw new ConfigError(`${path}: larger than ${TLS_FILE_BYTES_MAX} bytes, not a PEM file`);
    }
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${path}: cannot be read (${(error as Error).message})`);
  }
  // "PRIVATE KEY" also matches "EC PRIVATE KEY" and "RSA PRIVATE KEY".
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    throw new ConfigError(`${path}: no PEM ${label} in it`);
  }
  return text;
}

/** The files' modification times and sizes, as one comparable text ("" when one is missing). */
function files_stamp(files: TlsFiles): string {
  const paths = files.ca_file === null ? [files.cert_file, files.key_file]
    : [files.cert_file, files.key_file, files.ca_file];
  try {
    return paths.map((path) => {
      const stat = statSync(path);
      return `${stat.mtimeMs}:${stat.size}`;
    }).join("|");
  } catch {
    return "";
  }
}

/**
 * The material in use, reloaded when the files change: `on_change` gets each new material that
 * loads (the listeners start new sockets with it); a failed load is logged once per change.
 */
export class TlsWatch {
  private material: TlsMaterial;
  private stamp: string;
  private failed_stamp = "";
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly listeners: ((material: TlsMaterial) => void)[] = [];
  /** Times a changed material was loaded and handed on (for tests and logs). */
  reloads = 0;

  constructor(readonly files: TlsFiles, private readonly log = (line: string) => console.log(line)) {
    this.stamp = files_stamp(files);
    this.material = load_tls_material(files);
    this.timer = setInterval(() => this.check(), files.reload_check_ms);
    this.timer.unref?.();
  }

  current(): TlsMaterial {
    return this.material;
  }

  on_change(listener: (material: TlsMaterial) => void): void {
    this.listeners.push(listener);
  }

  /** Looks at the files now (the timer calls it). */
  check(): void {
    const stamp = files_stamp(this.files);
    if (stamp === this.stamp || stamp === "" || stamp === this.failed_stamp) return;
    let material: TlsMaterial;
    try {
      material = load_tls_material(this.files);
    } catch (error) {
      this.failed_stamp = stamp;
      this.log(`tls: ${this.files.cert_file} changed but does not load yet: ` +
        `${(error as Error).message}; still serving the previous certificate`);
      return;
    }
    this.stamp = stamp;
    this.failed_stamp = "";
    this.material = material;
    this.reloads++;
    this.log(`tls: ${this.files.cert_file} reloaded; new connections get the new certificate`);
    for (const listener of this.listeners) listener(material);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
