// Revoked token ids (AUTH_REVOKED_FILE): one `jti` per line; blank lines and lines starting with
// `#` are skipped. Re-read by the authenticator every AUTH_REVOCATION_POLL_MS when the file's size
// or modification time changed; a missing file means none revoked. A file that cannot be read keeps
// the previous list (a revocation is never undone by an I/O error).

import { readFile, stat } from "node:fs/promises";

export const REVOKED_FILE_SIZE_BYTES_MAX = 64 << 20;
export const JTI_LENGTH_MAX = 256;

export class RevocationList {
  private revoked = new Set<string>();
  private stamp = "";

  constructor(readonly path: string) {}

  has(jti: string): boolean {
    return this.revoked.has(jti);
  }

  get size(): number {
    return this.revoked.size;
  }

  /** Re-reads the file if it changed; returns whether the list changed. */
  async reload(): Promise<boolean> {
    let stamp: string;
    try {
      const info = await stat(this.path);
      if (info.size > REVOKED_FILE_SIZE_BYTES_MAX) {
        console.error(`auth: ${this.path} is larger than ${REVOKED_FILE_SIZE_BYTES_MAX} bytes: ` +
          "not re-read (the previous revocations stay in force)");
        return false;
      }
      stamp = `${info.size}:${info.mtimeMs}:${info.ino}`;
    } catch (error) {
      if (!is_missing(error)) throw error;
      return this.replace(new Set(), "missing");
    }
    if (stamp === this.stamp) return false;
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if (!is_missing(error)) throw error;
      return this.replace(new Set(), "missing");
    }
    return this.replace(parse_revoked(text), stamp);
  }

  private replace(revoked: Set<string>, stamp: string): boolean {
    const changed = stamp !== this.stamp;
    this.revoked = revoked;
    this.stamp = stamp;
    return changed;
  }
}

export function parse_revoked(text: string): Set<string> {
  const revoked = new Set<string>();
  for (const line of text.split("\n")) {
    const jti = line.trim();
    if (jti === "" || jti.startsWith("#") || jti.length > JTI_LENGTH_MAX) continue;
    revoked.add(jti);
  }
  return revoked;
}

function is_missing(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: string }).code === "ENOENT";
}
