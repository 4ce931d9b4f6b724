// A TCP proxy a cluster test controls, in front of a replication listener or PostgreSQL: it can
// stop carrying bytes in one direction (a half-cut link: the connection stays open, the bytes
// never arrive), or go down altogether (every connection dropped, new ones refused), then come
// back. After a half-cut is healed the connections are dropped, so the peers reconnect cleanly.

import { createServer, connect, type Server, type Socket } from "node:net";

export type Direction = "forward" | "backward";

export class LinkProxy {
  private readonly sockets = new Set<Socket>();
  private readonly blocked = new Set<Direction>();
  private down = false;
  /** Bytes that reached the proxy while a direction was cut (proof the cut met traffic). */
  readonly dropped_bytes = { forward: 0, backward: 0 };

  private constructor(private readonly server: Server, readonly port: number,
    private readonly target_port: number) {}

  /** A proxy to 127.0.0.1:target_port, listening on `port` (0: any free one). */
  static async start(target_port: number, port = 0): Promise<LinkProxy> {
    let proxy: LinkProxy | null = null;
    const server = createServer((client) => proxy!.accept(client));
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no proxy address");
    proxy = new LinkProxy(server, address.port, target_port);
    return proxy;
  }

  /** Stops carrying bytes in `direction` (forward: client -> target). */
  cut(direction: Direction): void {
    this.blocked.add(direction);
  }

  /** Every connection dropped and new ones refused, until up(). */
  go_down(): void {
    this.down = true;
    this.drop_all();
  }

  /** Carries bytes both ways again; connections made during a half-cut are dropped first. */
  up(): void {
    if (this.blocked.size > 0) this.drop_all();
    this.blocked.clear();
    this.down = false;
  }

  async stop(): Promise<void> {
    this.drop_all();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private drop_all(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private accept(client: Socket): void {
    if (this.down) return void client.destroy();
    const upstream = connect({ host: "127.0.0.1", port: this.target_port });
    this.sockets.add(client);
    this.sockets.add(upstream);
    this.carry(client, upstream, "forward");
    this.carry(upstream, client, "backward");
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
    }
  }

  private carry(from: Socket, to: Socket, direction: Direction): void {
    from.on("data", (chunk: Buffer) => {
      if (this.blocked.has(direction)) this.dropped_bytes[direction] += chunk.length;
      else to.write(chunk);
    });
  }
}
