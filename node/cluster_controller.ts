// A cluster node's main-thread side (docs/cluster.md "The node"): runs the membership loop, owns
// the cluster journal worker (cluster/node_journal/), and turns roles into action, one group at a
// time:
// - a group this node holds at start is led at a new epoch of its own (restart_epoch);
// - a group it follows is taken over when the primary has been silent on the replication link
//   for a full lease AND the lease expired by the database's clock;
// - either way the group is fenced first (no link appends to it), the control plane decides on
//   the journal's durable end, then the journal worker promotes it and an engine worker adopts
//   its state; only then does the router send it orders;
// - the standbys the journal worker reports caught up or lagging are recorded in or out of the
//   in-sync set, and commits wait for a lagging one until that is recorded;
// - a node deposed from a group it led exits (DEPOSED_EXIT_CODE): its supervisor restarts it, and
//   it rejoins every group as a standby that cuts what the cluster never committed; refused a
//   group it was only about to lead (a restart's new epoch lost to a takeover), it follows it.

import { assert, assert_never } from "../common/assert.ts";
import type { Config } from "../config/config.ts";
import type { ClusterConfig } from "../cluster/membership/cluster_config.ts";
import { apply_control_plane_migrations } from "../cluster/control_plane/migrate.ts";
import { open_disk_id } from "../cluster/membership/disk_id.ts";
import { Membership } from "../cluster/membership/membership.ts";
import { timer_scheduler } from "../cluster/membership/scheduler.ts";
import type { RoutingMap as PlaneRoutingMap } from "../cluster/control_plane/routing_map.ts";
import { load_cluster_key } from "../cluster/replication/handshake.ts";
import { node_number } from "../cluster/replication/node_number.ts";
import type { StandbyAddress } from "../cluster/replication/standby_sender.ts";
import type {
  ClusterJournalMessage, ClusterJournalRequest,
} from "../cluster/node_journal/messages.ts";
import type { RingShape } from "../common/ring.ts";
import type { GroupLimits } from "../engine/rules.ts";
import type { GroupAdoption } from "./engine_worker.ts";
import { ReadBarriers } from "./read_barriers.ts";

/** A node deposed from a group exits with this code; its supervisor restarts it as a standby. */
export const DEPOSED_EXIT_CODE = 75;
/** How often the controller looks at every group's role. */
const CONTROL_INTERVAL_MS = 100;
/** How often a handover looks again whether the group's requests were all answered. */
const HANDOVER_POLL_MS = 5;
/** A move onto a new member waits this long for it to catch up and be recorded in sync. */
const MOVE_CATCH_UP_MS_MAX = 60_000;
/** A handover whose target has not acknowledged the group's journal by then is called off. */
const HANDOVER_DRAIN_MS_MAX = 10_000;
/** How often the routing map this node serves is read again from the control plane. */
const MAP_REFRESH_MS = 500;

export class ClusterStartError extends Error {}

/** What the controller needs from the node it runs in. */
export interface ClusterNodeParts {
  config: Config;
  limits: GroupLimits;
  rings: SharedArrayBuffer[];
  ring_shape: RingShape;
  /** The engine workers' inbound rings, woken at the end of a group commit (JournalLoop). */
  engine_inbound: SharedArrayBuffer[];
  engine_inbound_shape: RingShape;
  control: SharedArrayBuffer;
  adopt(adoption: GroupAdoption): void;
  /** The engine worker stops hosting the group; resolves with its last sequence. */
  release(group: number): Promise<number>;
  /** Requests of the group not answered yet (a handover waits for none). */
  in_flight_of(group: number): number;
  on_durable(groups: [number, number][], sync_ms: number): void;
  on_snapshot_written(group: number, duration_ms: number): void;
  /** The group is led here from now on (its engine adopted it): its publisher starts. */
  on_led(group: number): void;
}

type GroupStep = "following" | "fencing" | "deciding" | "promoting" | "adopting" | "leading" |
  "handing_over";
/** Steps in which this process has not led the group at its epoch (the engine does not host it). */
const NEVER_LED_STEPS: ReadonlySet<GroupStep> = new Set(["following", "fencing", "deciding"]);

export type HandOverResult =
  | { kind: "handed_over"; group: number; target: string; epoch: number }
  | { kind: "not_leading" | "not_in_sync" | "busy" | "refused"; group: number; message: string };

export class ClusterController {
  readonly node: number;
  /** Per group: 1 once this node leads it (the engine adopted it; the router may send orders). */
  readonly leads: Uint8Array;
  journal_worker!: Worker;
  private readonly steps: GroupStep[];
  private readonly durable_end: number[];
  private readonly heard_ms_ago: number[];
  private heard_at_ms = performance.now();
  private map: PlaneRoutingMap | null = null;
  private readonly recording = new Set<string>();
  private readonly fenced_waits = new Map<number, (durable: number) => void>();
  private readonly handovers = new Map<number, (message: ClusterJournalMessage) => void>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private map_timer: ReturnType<typeof setInterval> | null = null;
  private journal_stopped!: Promise<void>;
  /** Reads wait for a read barrier issued after their state was read (node/read_barriers.ts). */
  readonly reads: ReadBarriers;
  /** Replication figures for /metrics, as the journal worker last reported them. */
  replication: Extract<ClusterJournalMessage, { type: "replication" }>["standbys"] = [];
  takeovers = 0;
  /** Per group being promoted: when each step ended (performance.now()), for the leads log line. */
  private readonly promotion_ms = new Map<number, { started: number; decided: number;
    promoted: number }>();

  private constructor(readonly cluster: ClusterConfig, private readonly parts: ClusterNodeParts,
    readonly membership: Membership, private readonly disk_id: string) {
    const groups = parts.config.groups;
    this.node = node_number(cluster.node_id);
    this.leads = new Uint8Array(groups);
    this.steps = new Array<GroupStep>(groups).fill("following");
    this.durable_end = new Array<number>(groups).fill(0);
    this.heard_ms_ago = new Array<number>(groups).fill(0);
    this.reads = new ReadBarriers(groups, (group, read_id) =>
      this.post({ type: "read_barrier", group, read_id }));
  }

  static async start(cluster: ClusterConfig, parts: ClusterNodeParts): Promise<ClusterController> {
    const key = load_cluster_key(cluster.key_file);
    // The control plane's tables (a no-op once applied; concurrent starts wait on one lock).
    await apply_control_plane_migrations(cluster.database_url, cluster.database_schema);
    const disk_id = open_disk_id(parts.config.data_dir);
    let controller: ClusterController | null = null;
    const membership = new Membership({
      config: cluster, groups: parts.config.groups, partner_map: parts.config.group_map, disk_id,
      scheduler: timer_scheduler,
      on_deposed: (group, epoch, holder) => controller?.deposed(group, epoch, holder),
    });
    const started = await membership.start();
    switch (started.kind) {
      case "started": break;
      case "settings_differ":
        throw new ClusterStartError(`the cluster's settings differ: ${started.differences.join("; ")}`);
      case "too_many_nodes":
        throw new ClusterStartError(`the cluster has ${started.node_count} nodes: too many`);
      case "unreachable":
        throw new ClusterStartError(`the control plane is unreachable: ${started.message}`);
      default: assert_never(started, "membership start");
    }
    controller = new ClusterController(cluster, parts, membership, disk_id);
    await controller.refresh_map();
    if (controller.map === null) throw new ClusterStartError("the routing map could not be read");
    await controller.start_journal_worker(key);
    controller.timer = setInterval(() => controller!.control_all(), CONTROL_INTERVAL_MS);
    controller.map_timer = setInterval(() => void controller!.refresh_map(), MAP_REFRESH_MS);
    return controller;
  }

  /** A request to the journal worker. */
  post(request: ClusterJournalRequest): void {
    this.journal_worker.postMessage(request);
  }

  /** The engine worker adopted `group`: the router may send it orders from now on. */
  on_adopted(group: number): void {
    assert(this.steps[group] === "adopting", "adopted after a promotion");
    this.steps[group] = "leading";
    this.leads[group] = 1;
    void this.refresh_map(); // the map this node serves names it at once
    const ms = this.promotion_ms.get(group);
    this.promotion_ms.delete(group);
    // Where a failover's time goes: fence and control plane, the promotion, the adoption.
    const took = ms === undefined ? "" : ` (fenced and granted in ` +
      `${Math.round(ms.decided - ms.started)} ms, promoted in ` +
      `${Math.round(ms.promoted - ms.decided)} ms, adopted in ` +
      `${Math.round(performance.now() - ms.promoted)} ms)`;
    console.log(`[cluster] ${this.cluster.node_id} leads group ${group} at epoch ` +
      `${this.epoch_of(group)}${took}`);
    this.parts.on_led(group);
  }

  epoch_of(group: number): number {
    const role = this.membership.role(group);
    return role.kind === "none" ? 0 : role.epoch;
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.map_timer !== null) clearInterval(this.map_timer);
    this.timer = null;
    this.map_timer = null;
    await this.membership.close();
  }

  /** After the engines stopped: the journal worker writes what is left, then stops. */
  journal_stopped_promise(): Promise<void> {
    return this.journal_stopped;
  }

  /**
   * A planned handover of `group` to `target` (docs/cluster.md "Moving a group"): orders of the
   * group are refused not_primary from here, the engine releases it once nothing of it is in
   * flight, the journal drains until the target acknowledged everything, then the control plane
   * gives the target epoch + 1 and this node follows it. A refusal after the release leads the
   * group again at a new epoch of its own (the journal is intact).
   */
  async hand_over(group: number, target: string, leave = false): Promise<HandOverResult> {
    const role = this.membership.role(group);
    if (this.steps[group] !== "leading" || role.kind !== "primary") {
      return { kind: "not_leading", group, message: `group ${group} is not led here` };
    }
    const member = role.in_sync.find((m) => m.node === target);
    if (member === undefined || target === this.cluster.node_id) {
      return { kind: "not_in_sync", group, message: `${target} is not an in-sync standby` };
    }
    this.steps[group] = "handing_over";
    this.leads[group] = 0; // new orders and reads of the group: not_primary from now on
    while (this.parts.in_flight_of(group) > 0) await Bun.sleep(HANDOVER_POLL_MS);
    const last_sequence = await this.parts.release(group);
    const drained = await this.journal_step(group, { type: "drain", group, last_sequence,
      target: node_number(target) }, HANDOVER_DRAIN_MS_MAX);
    // Deposed meanwhile (a takeover while it drained): nothing to hand over; it follows below.
    const still_held = this.membership.role(group).kind === "primary";
    const handed = !drained ? { kind: "not_drained" as const }
      : !still_held ? { kind: "deposed_meanwhile" as const }
      : await this.membership.hand_over(group, target, member.disk, last_sequence + 1, leave);
    await this.journal_step(group, { type: "to_standby", group });
    this.steps[group] = "following";
    if (handed.kind !== "handed_over") {
      console.log(`[cluster] handover of group ${group} to ${target}: ${handed.kind}`);
      return { kind: "refused", group, message: handed.kind };
    }
    console.log(`[cluster] ${this.cluster.node_id} handed group ${group} to ${target} at epoch ` +
      `${handed.epoch}`);
    return { kind: "handed_over", group, target, epoch: handed.epoch };
  }

  /**
   * `cluster move`: to an in-sync standby, a handover; to a registered node that is not a member
   * (how a cluster grows), the node is added to the group's members, catches up as a standby, is
   * recorded in sync, and then takes the lease with this node leaving the members.
   */
  async move(group: number, target: string): Promise<HandOverResult> {
    const role = this.membership.role(group);
    if (this.steps[group] !== "leading" || role.kind !== "primary") {
      return { kind: "not_leading", group, message: `group ${group} is not led here` };
    }
    if (role.in_sync.some((m) => m.node === target)) return this.hand_over(group, target);
    await this.refresh_map();
    const address = this.map?.nodes.get(target);
    if (address === undefined || target === this.cluster.node_id) {
      return { kind: "not_in_sync", group, message: `${target} is not a registered other node` };
    }
    const route = this.map!.groups.find((g) => g.group === group);
    const member = route?.standbys.some((s) => s.node === target) ?? false;
    if (!member) {
      const added = await this.membership.add_member(group, target);
      if (added.kind !== "members") {
        return { kind: "refused", group, message: `adding ${target}: ${added.kind}` };
      }
      const [host, port] = split_address(address.replication_address);
      this.post({ type: "add_standby", group, standby: { node: node_number(target), host, port } });
    }
    const deadline_ms = performance.now() + MOVE_CATCH_UP_MS_MAX;
    while (!this.membership.in_sync(group).some((m) => m.node === target)) {
      if (performance.now() > deadline_ms || this.membership.role(group).kind !== "primary") {
        return { kind: "busy", group, message: `${target} did not catch up in time` };
      }
      await Bun.sleep(HANDOVER_POLL_MS * 10);
    }
    return this.hand_over(group, target, !member);
  }

  /** SIGTERM: every group led here goes to an in-sync standby first (those that have one). */
  async hand_over_all(): Promise<HandOverResult[]> {
    const results: HandOverResult[] = [];
    for (let group = 0; group < this.steps.length; group++) {
      const role = this.membership.role(group);
      if (this.steps[group] !== "leading" || role.kind !== "primary") continue;
      const target = role.in_sync.find((m) => m.node !== this.cluster.node_id);
      if (target !== undefined) results.push(await this.hand_over(group, target.node));
    }
    return results;
  }

  // Posts a handover step to the journal worker and waits for its answer (false: not in time).
  private journal_step(group: number, request: ClusterJournalRequest,
    timeout_ms = Number.POSITIVE_INFINITY): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeout_ms) ? setTimeout(() => {
        this.handovers.delete(group);
        resolve(false);
      }, timeout_ms) : null;
      this.handovers.set(group, () => {
        if (timer !== null) clearTimeout(timer);
        this.handovers.delete(group);
        resolve(true);
      });
      this.post(request);
    });
  }

  private deposed(group: number, epoch: number, holder: string): void {
    if (this.steps[group] === "handing_over") {
      // A renewal sent before this node's own handover wrote the new epoch lands after it. The
      // group is neither led nor hosted here any more (refused since the handover began, released
      // by the engine); hand_over() goes on to follow it, whoever holds it.
      console.log(`[cluster] ${this.cluster.node_id}: group ${group} is ${holder}'s at epoch ` +
        `${epoch}, as the handover meant`);
      return;
    }
    if (this.leads[group] === 0 && NEVER_LED_STEPS.has(this.steps[group]!)) {
      // Not led by this process at the lost epoch (a restart's own new epoch, or a takeover,
      // refused by a newer one): nothing was answered at it, the engine never hosted the group,
      // and its journal is still the standby's. It follows the new holder (its link cuts the
      // uncommitted tail) instead of taking the node's other groups down with it.
      console.log(`[cluster] ${this.cluster.node_id}: group ${group} is ${holder}'s at epoch ` +
        `${epoch}; following it`);
      return;
    }
    console.error(`[cluster] ${this.cluster.node_id} deposed from group ${group} by ${holder} ` +
      `at epoch ${epoch}: exiting to rejoin as a standby`);
    process.exit(DEPOSED_EXIT_CODE);
  }

  private start_journal_worker(key: Uint8Array): Promise<void> {
    const worker = new Worker(new URL("../cluster/node_journal/worker.ts", import.meta.url).href);
    this.journal_worker = worker;
    let on_stopped = () => {};
    this.journal_stopped = new Promise((resolve) => (on_stopped = resolve));
    const [host, port] = split_address(this.cluster.replication_listen_address);
    return new Promise((resolve) => {
      worker.onmessage = (event: MessageEvent<ClusterJournalMessage>) => {
        const message = event.data;
        if (message.type === "ready") {
          for (const state of message.groups) this.durable_end[state.group] = state.durable_sequence;
          return resolve();
        }
        if (message.type === "stopped") return on_stopped();
        this.on_journal_message(message);
      };
      const { config } = this.parts;
      this.post({ type: "init", init: {
        groups: config.groups, data_dir: config.data_dir, limits: this.parts.limits,
        rings: this.parts.rings, ring_shape: this.parts.ring_shape, control: this.parts.control,
        engine_inbound: this.parts.engine_inbound,
        engine_inbound_shape: this.parts.engine_inbound_shape,
        segment_size_bytes: config.journal_segment_bytes,
        shared_flush: config.journal_shared_flush, node: this.node, key,
        tls: this.cluster.tls,
        disk_id: this.disk_id,
        snapshot_interval_ms: config.snapshot_interval_ms,
        listen_host: host, listen_port: port,
        heartbeat_interval_ms: Math.max(1, Math.floor(this.cluster.lease_ms / 3)),
        publisher: config.kafka_brokers !== null,
      } });
    });
  }

  private on_journal_message(message: Exclude<ClusterJournalMessage,
    { type: "ready" } | { type: "stopped" }>): void {
    switch (message.type) {
      case "durable": return this.parts.on_durable(message.groups, message.sync_ms);
      case "snapshot_written":
        return this.parts.on_snapshot_written(message.group, message.duration_ms);
      case "who_holds": return void this.answer_who_holds(message.request_id, message.group);
      case "standby_report": return void this.record_standby(message.group, message.node,
        message.state, message.disk);
      case "heard":
        this.heard_at_ms = performance.now();
        for (const [group, ms] of message.groups) this.heard_ms_ago[group] = ms;
        return;
      case "fenced": {
        const wait = this.fenced_waits.get(message.group);
        this.fenced_waits.delete(message.group);
        return wait?.(message.durable_sequence);
      }
      case "promoted": {
        const ms = this.promotion_ms.get(message.group);
        if (ms !== undefined) ms.promoted = performance.now();
        this.steps[message.group] = "adopting";
        return this.parts.adopt({ kind: "adopt", group: message.group, epoch: message.epoch,
          state: message.state });
      }
      case "followed":
        // Silence is counted from the handover (the journal worker's reports do so from now on):
        // the new primary has a full lease to stream before a takeover is considered.
        this.heard_ms_ago[message.group] = 0;
        return this.handovers.get(message.group)?.(message);
      case "drained":
        return this.handovers.get(message.group)?.(message);
      case "replication":
        this.replication = message.standbys;
        return;
      case "read_confirmed": return this.reads.confirmed(message.group, message.read_id);
      default: return assert_never(message, "cluster journal message");
    }
  }

  private async answer_who_holds(request_id: number, group: number): Promise<void> {
    const lease = await this.membership.lease(group);
    if ("kind" in lease) {
      return this.post({ type: "holder", request_id, holder: null, error: lease.message });
    }
    this.post({ type: "holder", request_id, error: null, holder: {
      node: node_number(lease.holder), epoch: lease.epoch, first_sequence: lease.first_sequence,
    } });
  }

  private async record_standby(group: number, node: number, state: "caught_up" | "lagging",
    standby_disk: string): Promise<void> {
    const key = `${group}/${node}`;
    if (this.recording.has(key) || this.steps[group] !== "leading") return;
    const member = this.node_of_number(node);
    if (member === null) return;
    this.recording.add(key);
    try {
      const disk = state === "caught_up" ? standby_disk : null;
      const recorded = await this.membership.record_in_sync(group, member.node_id, disk);
      if (recorded.kind !== "in_sync_set") return; // unreachable: reported again, tried again
      if (state === "caught_up") this.post({ type: "caught_up_recorded", group, node });
      else this.post({ type: "uncount", group, node });
      console.log(`[cluster] group ${group}: ${member.node_id} recorded ` +
        `${state === "caught_up" ? "in" : "out of"} sync`);
    } finally {
      this.recording.delete(key);
    }
  }

  node_id_of(node: number): string | null {
    return this.node_of_number(node)?.node_id ?? null;
  }

  private node_of_number(node: number): { node_id: string; disk_id: string } | null {
    for (const member of this.map?.nodes.values() ?? []) {
      if (node_number(member.node_id) === node) return member;
    }
    return null;
  }

  /** The routing map as the control plane last said (refreshed every MAP_REFRESH_MS). */
  plane_map(): PlaneRoutingMap | null {
    return this.map;
  }

  private async refresh_map(): Promise<void> {
    const read = await this.membership.routing_map();
    if (read.kind === "map") this.map = read.map;
  }

  private control_all(): void {
    for (let group = 0; group < this.steps.length; group++) {
      if (this.steps[group] === "following") void this.control(group);
    }
  }

  // One group's next step, if its role calls for one.
  private async control(group: number): Promise<void> {
    const role = this.membership.role(group);
    if (role.kind === "primary") return this.lead(group, false);
    if (role.kind !== "standby") return;
    const silent_ms = this.heard_ms_ago[group]! + (performance.now() - this.heard_at_ms);
    if (silent_ms < this.cluster.lease_ms) return;
    this.steps[group] = "deciding";
    const check = await this.membership.may_take_over(group, silent_ms);
    this.steps[group] = "following";
    if (check.kind === "may_take_over") await this.lead(group, true);
  }

  // Fences the group, asks the control plane for an epoch of its own, promotes or unfences.
  private async lead(group: number, take_over: boolean): Promise<void> {
    const started_ms = performance.now();
    this.steps[group] = "fencing";
    const durable_end = await new Promise<number>((resolve) => {
      this.fenced_waits.set(group, resolve);
      this.post({ type: "fence", group });
    });
    this.steps[group] = "deciding";
    await this.refresh_map();
    // The role may have changed while it fenced: a node back at start on a lease it held is
    // deposed when its renewal meets the epoch of the standby that took the group over meanwhile.
    // Then there is nothing to lead; it follows from the next control turn.
    const role_now = this.membership.role(group).kind;
    const role_still_calls = role_now === (take_over ? "standby" : "primary");
    if (!role_still_calls) {
      console.log(`[cluster] ${this.cluster.node_id}: group ${group} is ${role_now} here now; ` +
        `no ${take_over ? "takeover" : "new epoch"}`);
    }
    const epoch = !role_still_calls ? null
      : take_over ? await this.take_over(group, durable_end)
      : await this.restart_epoch(group, durable_end);
    if (epoch === null) {
      this.post({ type: "unfence", group });
      this.steps[group] = "following";
      return;
    }
    const decided_ms = performance.now();
    this.promotion_ms.set(group, { started: started_ms, decided: decided_ms, promoted: decided_ms });
    this.promote(group, epoch);
  }

  private async take_over(group: number, durable_end: number): Promise<number | null> {
    const keep = this.in_sync_standbys_of(group);
    const taken = await this.membership.take_over(group, durable_end, keep);
    if (taken.kind !== "taken") {
      console.log(`[cluster] ${this.cluster.node_id}: take over of group ${group}: ${taken.kind}`);
      return null;
    }
    this.takeovers++;
    return taken.epoch;
  }

  private async restart_epoch(group: number, durable_end: number): Promise<number | null> {
    const restarted = await this.membership.restart_epoch(group, durable_end);
    if (restarted.kind !== "handed_over") {
      console.log(`[cluster] ${this.cluster.node_id}: new epoch for group ${group}: ` +
        `${restarted.kind}`);
      return null;
    }
    return restarted.epoch;
  }

  /** The group's other members the control plane records in sync (kept through a takeover). */
  private in_sync_standbys_of(group: number): string[] {
    const route = this.map?.groups.find((g) => g.group === group);
    if (route === undefined) return [];
    return route.standbys.filter((s) => s.in_sync && s.node !== this.cluster.node_id &&
      s.node !== route.primary).map((s) => s.node);
  }

  private promote(group: number, epoch: number): void {
    const role = this.membership.role(group);
    assert(role.kind === "primary" && role.epoch === epoch, "promoted at the granted epoch");
    const route = this.map?.groups.find((g) => g.group === group);
    const members = route === undefined ? [] : [route.primary, ...route.standbys.map((s) => s.node)];
    const standbys: StandbyAddress[] = [];
    for (const member of members) {
      if (member === this.cluster.node_id) continue;
      const address = this.map!.nodes.get(member);
      if (address === undefined) continue;
      const [host, port] = split_address(address.replication_address);
      standbys.push({ node: node_number(member), host, port });
    }
    const counted = role.in_sync.filter((m) => m.node !== this.cluster.node_id)
      .map((m) => node_number(m.node));
    this.steps[group] = "promoting";
    this.post({ type: "promote", group, epoch, standbys, counted });
  }
}

function split_address(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
