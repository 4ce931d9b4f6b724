// Certificates for the TLS tests, made with openssl (Debian's; a missing openssl fails the test):
// a CA, certificates it signs for 127.0.0.1 (or a node name), one already expired, and a second
// CA that the service does not know.

import { spawnSync } from "node:child_process";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { temp_dir } from "../../harness/temp_dirs.ts";

export interface Pem {
  cert_file: string;
  key_file: string;
  cert: string;
  key: string;
}

function openssl(dir: string, args: string[]): void {
  const run = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (run.error !== undefined || run.status !== 0) {
    throw new Error(`openssl ${args.join(" ")}: ${run.error?.message ?? run.stderr}`);
  }
}

export class TestCa {
  readonly dir = temp_dir("balance-tls"); // removed when the test process exits
  readonly ca: Pem;
  private serial = 0;

  constructor(readonly name: string) {
    openssl(this.dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
      "-nodes", "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${name}`]);
    this.ca = this.pem(name);
  }

  /**
   * A certificate for `common_name` (with 127.0.0.1 and localhost as its names), valid for a day,
   * or already expired (valid for 0 days: its end is its start).
   */
  issue(common_name: string, options: { expired?: boolean } = {}): Pem {
    const base = `${common_name.replace(/[^A-Za-z0-9-]/g, "_")}-${++this.serial}`;
    openssl(this.dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${common_name}`]);
    writeFileSync(join(this.dir, `${base}.ext`), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl(this.dir, ["x509", "-req", "-in", `${base}.csr`, "-CA", `${this.name}.crt`,
      "-CAkey", `${this.name}.key`, "-set_serial", String(this.serial), "-out", `${base}.crt`,
      "-days", options.expired === true ? "0" : "1", "-extfile", `${base}.ext`]);
    return this.pem(base);
  }

  private pem(base: string): Pem {
    const cert_file = join(this.dir, `${base}.crt`);
    const key_file = join(this.dir, `${base}.key`);
    return { cert_file, key_file, cert: readFileSync(cert_file, "utf8"),
      key: readFileSync(key_file, "utf8") };
  }
}

/** Replaces the files at `target` with `source`'s, each by an atomic rename (a rotation). */
export function rotate_into(target: Pem, source: Pem): void {
  writeFileSync(`${target.key_file}.new`, source.key);
  writeFileSync(`${target.cert_file}.new`, source.cert);
  renameSync(`${target.key_file}.new`, target.key_file);
  renameSync(`${target.cert_file}.new`, target.cert_file);
}
