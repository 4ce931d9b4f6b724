// A TCP proxy for end-to-end tests of the SDK: a fixed address the client keeps using while the
// server behind it is killed and restarted on other ports (retarget), or while its connections are
// cut. Bytes pass through unchanged (HTTP and the binary protocol alike).

import { createServer, connect, type Server, type Socket } from "node:net";

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private target_port: number;
  private replies_dropped = false;

  private constructor(private readonly server: Server, readonly port: number, target_port: number) {
    this.target_port = target_port;
  }

  static async start(target_port: number): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null;
    const server = createServer((client) => proxy!.accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no proxy address");
    proxy = new TcpProxy(server, address.port, target_port);
    return proxy;
  }

  /** Later connections go to this port. */
  retarget(target_port: number): void {
    this.target_port = target_port;
  }

  /**
   * From now until the next cut(), requests still reach the server but its answers are thrown
   * away: the client is left with batches the server applied and never answered.
   */
  drop_replies(): void {
    this.replies_dropped = true;
  }

  /** Drops every connection in both directions (what a crash looks like to the client). */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.replies_dropped = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = connect({ host: "127.0.0.1", port: this.target_port });
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (!this.replies_dropped) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  }
}
