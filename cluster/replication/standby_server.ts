// The standby's listener: accepts replication links (at most links_max), gives each
// handshake_timeout_ms to be fenced, and keeps one streaming link per group: a newer
// fenced link takes its group over and the older one is closed `superseded`.

import type { Socket, TCPSocketListener } from "bun";
import { assert } from "../../common/assert.ts";
import {
  REPLICATION_HANDSHAKE_TIMEOUT_MS_DEFAULT, REPLICATION_HANDSHAKE_TIMEOUT_MS_MAX,
  REPLICATION_HANDSHAKE_TIMEOUT_MS_MIN, REPLICATION_LINKS_MAX,
} from "./constants.ts";
import { ErrorCode } from "./frame_layout.ts";
import { check_cluster_key } from "./handshake.ts";
import type { GroupHolder, HolderDirectory } from "./holder.ts";
import { StandbyGroup } from "./standby_group.ts";
import { StandbyLink, type StandbyHost } from "./standby_link.ts";
import type { TlsWatch } from "../../auth/tls.ts";
import { TlsFollowingListener } from "../../auth/tls_listener.ts";

export interface StandbyServerOptions {
  node: number;
  key: Uint8Array;
  /** This node's disk id (membership/disk_id.ts): primaries record it in sync with it. */
  disk_id: string;
  host: string;
  /** 0: any free port (see `port`). */
  port: number;
  groups: ReadonlyMap<number, StandbyGroup>;
  holders: HolderDirectory;
  /** 1..REPLICATION_LINKS_MAX; default REPLICATION_LINKS_MAX. */
  links_max?: number;
  /** Default REPLICATION_HANDSHAKE_TIMEOUT_MS_DEFAULT. */
  handshake_timeout_ms?: number;
  /**
   * Mutual TLS: a primary must present a certificate of the cluster's CA (the watch's `ca`), or
   * its link is closed before a frame is read; absent or null: links in the clear.
   */
  tls?: TlsWatch | null;
  /**
   * Called with what a link's handling threw (a failed fsync, a broken invariant): the caller
   * stops the process (docs/design.md section 4). Bun would otherwise hand a socket callback's
   * exception to the socket's error handler, which only closes the link: the group's journal
   * would stay failed while the node went on.
   */
  on_fatal: (error: unknown) => void;
}

interface LinkData {
  link: StandbyLink | null;
  timer: ReturnType<typeof setTimeout> | null;
}

export class StandbyServer implements StandbyHost {
  readonly node: number;
  readonly key: Uint8Array;
  readonly disk_id: Uint8Array;
  private readonly listener: TlsFollowingListener<TCPSocketListener<LinkData>>;
  private readonly links = new Set<StandbyLink>();
  private readonly sockets = new Set<Socket<LinkData>>();
  private readonly active = new Map<number, StandbyLink>();
  /** Per group, when (performance.now()) its streaming link last carried anything. */
  private readonly heard_at_ms = new Map<number, number>();
  private readonly started_at_ms = performance.now();
  private readonly links_max: number;
  private readonly handshake_timeout_ms: number;
  /** Links that appended this event-loop turn: synced together, then acked (sync_pending). */
  private readonly to_sync = new Set<StandbyLink>();

  constructor(private readonly options: StandbyServerOptions) {
    check_cluster_key(options.key);
    this.links_max = options.links_max ?? REPLICATION_LINKS_MAX;
    assert(Number.isInteger(this.links_max) && this.links_max >= 1 &&
      this.links_max <= REPLICATION_LINKS_MAX, "links_max in range");
    this.handshake_timeout_ms = options.handshake_timeout_ms ??
      REPLICATION_HANDSHAKE_TIMEOUT_MS_DEFAULT;
    assert(this.handshake_timeout_ms >= REPLICATION_HANDSHAKE_TIMEOUT_MS_MIN &&
      this.handshake_timeout_ms <= REPLICATION_HANDSHAKE_TIMEOUT_MS_MAX, "handshake timeout");
    this.node = options.node;
    this.key = options.key;
    this.disk_id = new TextEncoder().encode(options.disk_id);
    const socket: Bun.SocketHandler<LinkData> = {
      open: (socket) => this.on_open(socket),
      data: (socket, chunk) => this.guarded(() => socket.data.link?.on_data(chunk)),
      drain: (socket) => socket.data.link?.on_drain(),
      close: (socket) => this.on_close(socket),
      error: (socket) => this.on_close(socket),
      // Bun completes a handshake whose client certificate fails verification and reports it
      // here (authorized false): such a peer is closed before it can send a frame.
      handshake: (socket, success) => {
        if (!success || !socket.authorized) socket.end();
      },
    };
    this.listener = new TlsFollowingListener((port, material) => Bun.listen<LinkData>({
      hostname: options.host,
      port,
      socket,
      ...(material === undefined ? {} : {
        tls: { ...material, requestCert: true, rejectUnauthorized: true }, reusePort: true,
      }),
    }), options.port, options.tls ?? null, "replication");
  }

  get port(): number {
    return this.listener.port;
  }

  /** The link streaming `group`, if any. */
  link_of(group: number): StandbyLink | null {
    return this.active.get(group) ?? null;
  }

  heard(link: StandbyLink): void {
    if (link.group !== null) this.heard_at_ms.set(link.group.group, performance.now());
  }

  /**
   * This node follows `group` from now (it handed the group over): its silence is counted from
   * here, so the new primary has a full lease to start streaming before a takeover is considered.
   */
  follows_from_now(group: number): void {
    this.heard_at_ms.set(group, performance.now());
  }

  /**
   * How long ago the primary of `group` was last heard on a streaming link (since this listener
   * started when never): a standby takes over only after a full lease of silence.
   */
  heard_ms_ago(group: number): number {
    return performance.now() - (this.heard_at_ms.get(group) ?? this.started_at_ms);
  }

  group_of(group: number): StandbyGroup | null {
    return this.options.groups.get(group) ?? null;
  }

  who_holds(group: number): Promise<GroupHolder | null> {
    return this.options.holders.who_holds(group);
  }

  /**
   * Defers the link's sync and ack to the end of this event-loop turn: a primary's group commit
   * reaches its standbys as one frame per group, each on its own link, and they arrive together;
   * synced one by one, each group's fdatasync flushed the disk's cache again.
   */
  sync_then_ack(link: StandbyLink): void {
    if (this.to_sync.size === 0) setImmediate(this.sync_pending);
    this.to_sync.add(link);
  }

  // A link closed meanwhile is left out: it acks nothing, and its group may be closed already (a
  // stop); what it appended is synced by the group's next link before its catch_up, or by a
  // promotion.
  private readonly sync_pending = (): void => this.guarded(() => {
    const links = [...this.to_sync].filter((link) => link.state === "streaming");
    this.to_sync.clear();
    StandbyGroup.sync_all(new Set(links.map((link) => link.group!)));
    for (const link of links) link.ack_durable();
  });

  private guarded(handle: () => void): void {
    try {
      handle();
    } catch (error) {
      this.options.on_fatal(error);
    }
  }

  activate(link: StandbyLink): void {
    assert(link.group !== null, "an active link has its group");
    const before = this.active.get(link.group.group);
    this.active.set(link.group.group, link);
    if (before !== undefined && before !== link) before.refuse(ErrorCode.superseded, "superseded");
  }

  is_active(link: StandbyLink): boolean {
    return link.group !== null && this.active.get(link.group.group) === link;
  }

  closed(link: StandbyLink): void {
    this.links.delete(link);
    if (link.group !== null && this.active.get(link.group.group) === link) {
      this.active.delete(link.group.group);
    }
  }

  /** Closes the link streaming `group` (the group is being taken over or promoted here). */
  close_link(group: number): void {
    this.active.get(group)?.refuse(ErrorCode.superseded, `group ${group} leaves this standby`);
  }

  /** Stops listening and closes every link (the groups stay open: their owner closes them). */
  stop(): void {
    this.to_sync.clear();
    this.listener.stop(true);
    for (const socket of this.sockets) socket.end();
    for (const link of [...this.links]) link.close();
  }

  private on_open(socket: Socket<LinkData>): void {
    const link = new StandbyLink(socket, this);
    socket.data = { link, timer: null };
    this.sockets.add(socket);
    if (this.links.size >= this.links_max) {
      link.refuse(ErrorCode.links_full, `${this.links_max} links`);
      return;
    }
    this.links.add(link);
    socket.data.timer = setTimeout(() => {
      if (link.state !== "streaming") link.refuse(ErrorCode.handshake_timeout, "handshake");
    }, this.handshake_timeout_ms);
  }

  private on_close(socket: Socket<LinkData>): void {
    this.sockets.delete(socket);
    if (socket.data.timer !== null) clearTimeout(socket.data.timer);
    socket.data.link?.close();
  }
}
