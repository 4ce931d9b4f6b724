// A listening socket that follows its TLS certificate (docs/tls.md). Bun fixes a listener's TLS
// context when it starts (reload() changes handlers only: checked on Bun 1.4.5), so a rotated
// certificate gets a new listener on the same port (SO_REUSEPORT, set on every listener of a TLS
// front door), and the old one stops accepting while its connections carry on to their end.
// Without TLS there is one listener, started once, and no port sharing.

import type { TlsMaterial, TlsWatch } from "./tls.ts";

export interface Listening {
  // Bun types both as possibly undefined (a unix socket has neither); ours always listen on TCP.
  readonly hostname: string | undefined;
  readonly port: number | undefined;
  stop(close_active?: boolean): unknown;
}

/** Starts a listener on `port` (0: any) with this TLS material (undefined: plaintext). */
export type StartListener<L extends Listening> = (port: number, tls: TlsMaterial | undefined) => L;

export class TlsFollowingListener<L extends Listening> {
  private listening: L;
  /** Listeners that stopped accepting at a rotation; their connections may still be open. */
  private readonly retired: L[] = [];
  private stopped = false;

  constructor(private readonly start: StartListener<L>, port: number,
    private readonly watch: TlsWatch | null, private readonly what: string) {
    this.listening = start(port, watch?.current());
    watch?.on_change((material) => this.rotate(material));
  }

  get current(): L {
    return this.listening;
  }

  get hostname(): string {
    return this.listening.hostname ?? "";
  }

  get port(): number {
    return this.listening.port ?? 0;
  }

  private rotate(material: TlsMaterial): void {
    if (this.stopped) return;
    let next: L;
    try {
      next = this.start(this.port, material);
    } catch (error) {
      // A certificate and key that do not belong together fail here: keep serving the old pair.
      console.error(`tls: ${this.what} kept its previous certificate: the new one did not start ` +
        `a listener (${(error as Error).message})`);
      return;
    }
    const old = this.listening;
    this.listening = next;
    this.retired.push(old);
    old.stop(false);
  }

  /** Stops accepting on every listener; `close_active` also closes their connections. */
  stop(close_active: boolean): void {
    this.stopped = true;
    this.watch?.stop();
    for (const listener of this.retired) listener.stop(close_active);
    this.listening.stop(close_active);
  }
}
