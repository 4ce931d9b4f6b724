// The membership loop a cluster node runs (docs/cluster.md, "Membership loop"). On start it adopts
// the cluster's settings (a node whose settings disagree is refused), registers its addresses and
// disk, and places the groups if nobody has; then every LEASE_MS / MEMBERSHIP_TICKS_PER_LEASE it
// heartbeats and renews every lease it holds. A holder never steps down because a renewal failed
// or the database is unreachable: only on `deposed` (a higher epoch), and then it tells its owner.
// Expiry is always the database's judgement; no clock of this node decides it.

import { assert, assert_never, AssertionError } from "../../common/assert.ts";
import { MEMBERSHIP_TICKS_PER_LEASE } from "../../common/constants.ts";
import {
  open_control_plane, reach, type ControlPlane, type Unreachable,
} from "../control_plane/connection.ts";
import {
  registration_problem, settings_problem, type ClusterSettings, type NodeRegistration,
} from "../control_plane/inputs.ts";
import { hand_over_lease, type HandOverOutcome } from "../control_plane/handover.ts";
import { add_in_sync, remove_in_sync, type InSyncOutcome } from "../control_plane/in_sync.ts";
import { add_member, type MemberAddOutcome } from "../control_plane/members.ts";
import {
  read_lease, renew_lease, take_over_lease, type TakeOverOutcome,
} from "../control_plane/lease.ts";
import type { InSyncMember, LeaseRow } from "../control_plane/lease_row.ts";
import { read_routing_map, type RoutingMapOutcome } from "../control_plane/routing_map.ts";
import { heartbeat_node, register_node } from "../control_plane/nodes.ts";
import { place_groups } from "../control_plane/placement.ts";
import { adopt_settings } from "../control_plane/settings.ts";
import type { ClusterConfig } from "./cluster_config.ts";
import { ROLE_NONE, role_at_start, role_following, type GroupRole } from "./group_roles.ts";
import { read_leases, type GroupLease } from "./leases_read.ts";
import type { Scheduler, Timer } from "./scheduler.ts";

function role_epoch(role: GroupRole): number {
  return role.kind === "none" ? 0 : role.epoch;
}

/** Told once per step-down: the group, the epoch that deposed this node, and its holder. */
export type OnDeposed = (group: number, epoch: number, holder: string) => void;

export interface MembershipOptions {
  config: ClusterConfig;
  /** GROUPS and GROUP_MAP's overrides from the node's configuration. */
  groups: number;
  partner_map: ReadonlyMap<number, number>;
  /** The data directory's id (disk_id.ts). */
  disk_id: string;
  scheduler: Scheduler;
  on_deposed: OnDeposed;
}

export type StartOutcome =
  | { kind: "started" }
  | { kind: "settings_differ"; differences: string[] }
  | { kind: "too_many_nodes"; node_count: number }
  | Unreachable;

export type TakeOverCheck =
  | { kind: "may_take_over"; epoch: number }
  | { kind: "not_standby" }
  /** The replication link carried something from the primary less than a lease ago. */
  | { kind: "heard_recently" }
  | { kind: "not_expired"; expires_at: Date }
  | Unreachable;

export class Membership {
  private readonly plane: ControlPlane;
  private readonly roles: GroupRole[];
  /** Groups whose row this node has read: from then on a read never promotes it. */
  private readonly known: boolean[];
  private readonly settings: ClusterSettings;
  /** Per group, when (performance.now()) the lease held here was last granted or renewed. */
  private readonly granted_at_ms: number[];
  private timer: Timer | null = null;
  private tick_running: Promise<void> | null = null;
  private started = false;

  constructor(private readonly options: MembershipOptions) {
    const { config } = options;
    this.settings = {
      groups: options.groups, replicas: config.replicas, partner_map: options.partner_map,
    };
    const problem = settings_problem(this.settings) ?? registration_problem(this.registration());
    assert(problem === null, `membership: ${problem}`);
    this.plane = open_control_plane({ database_url: config.database_url,
      schema: config.database_schema });
    this.roles = new Array<GroupRole>(options.groups).fill(ROLE_NONE);
    this.known = new Array<boolean>(options.groups).fill(false);
    this.granted_at_ms = new Array<number>(options.groups).fill(0);
  }

  get node_id(): string {
    return this.options.config.node_id;
  }

  /** How often the loop runs: several renewals per lease. */
  get tick_interval_ms(): number {
    return Math.floor(this.options.config.lease_ms / MEMBERSHIP_TICKS_PER_LEASE);
  }

  /** Adopt, register, place, learn the roles; the loop runs from here on. */
  async start(): Promise<StartOutcome> {
    assert(!this.started, "membership: started once");
    const adopted = await adopt_settings(this.plane, this.settings);
    switch (adopted.kind) {
      case "adopted": break;
      case "settings_differ": return { kind: "settings_differ", differences: adopted.differences };
      case "unreachable": return adopted;
      default: assert_never(adopted, "adopt outcome");
    }
    const registered = await register_node(this.plane, this.registration());
    if (registered.kind === "unreachable") return registered;
    const placed = await this.place();
    if (placed !== null) return placed;
    const leases = await read_leases(this.plane);
    if ("kind" in leases) return leases;
    this.learn(leases);
    this.started = true;
    this.resume();
    return { kind: "started" };
  }

  private registration(): NodeRegistration {
    const { config, disk_id } = this.options;
    return {
      node_id: config.node_id, http_address: config.http_address, tcp_address: config.tcp_address,
      replication_address: config.replication_address, disk_id,
    };
  }

  /** Places the groups not placed yet; null unless it ends the start. */
  private async place(): Promise<StartOutcome | null> {
    const { lease_ms, initial_nodes } = this.options.config;
    const placed = await place_groups(this.plane, lease_ms, initial_nodes);
    switch (placed.kind) {
      case "placed": return null;
      // Not enough nodes yet: the node whose registration makes REPLICAS places them at its
      // start, and this node learns its roles from the table at its next tick.
      case "too_few_nodes": return null;
      case "too_many_nodes": return placed;
      case "unreachable": return placed;
      case "not_initialised": throw new AssertionError("placement: the settings were adopted");
      default: return assert_never(placed, "place outcome");
    }
  }

  /**
   * How long ago the lease of a group led here was last granted or renewed (null when not led
   * here): it grows past LEASE_MS only while the control plane cannot be reached.
   */
  lease_age_ms(group: number): number | null {
    if (this.role(group).kind !== "primary") return null;
    const granted_at_ms = this.granted_at_ms[group]!;
    return granted_at_ms === 0 ? null : performance.now() - granted_at_ms;
  }

  get lease_ms(): number {
    return this.options.config.lease_ms;
  }

  /** The group's lease row now (a standby's fence asks who holds an epoch it is offered). */
  lease(group: number): Promise<LeaseRow | Unreachable> {
    return reach(() => read_lease(this.plane, group));
  }

  /** The cluster's routing map now (nodes with their addresses, each group's members). */
  routing_map(): Promise<RoutingMapOutcome> {
    return read_routing_map(this.plane);
  }

  /** This node's role for `group` as last granted or read. */
  role(group: number): GroupRole {
    assert(Number.isInteger(group) && group >= 0 && group < this.roles.length, "group in range");
    return this.roles[group]!;
  }

  /**
   * True while this node leads `group` (it has not seen `deposed`). The lease's expiry does not
   * enter: a primary commits what its in-sync standbys acknowledge (docs/cluster.md).
   */
  may_commit(group: number): boolean {
    return this.role(group).kind === "primary";
  }

  /** The in-sync set at this node's epoch (itself included), as last granted or read. */
  in_sync(group: number): readonly InSyncMember[] {
    const role = this.role(group);
    return role.kind === "primary" ? role.in_sync : [];
  }

  /** One round: heartbeat, renew every lease held, read the table. Only the loop runs it. */
  private async tick(): Promise<void> {
    const heard = await heartbeat_node(this.plane, this.node_id);
    if (heard.kind === "unknown_node") await register_node(this.plane, this.registration());
    for (let group = 0; group < this.roles.length; group++) {
      if (this.roles[group]!.kind === "primary") await this.renew(group);
    }
    await this.read_followed();
  }

  private async renew(group: number): Promise<void> {
    const role = this.roles[group]!;
    assert(role.kind === "primary", "renew: held");
    const { lease_ms } = this.options.config;
    const renewed = await renew_lease(this.plane, group, this.node_id, role.epoch, lease_ms);
    switch (renewed.kind) {
      case "renewed":
        this.roles[group] = { ...role, expires_at: renewed.expires_at };
        this.granted_at_ms[group] = performance.now();
        return;
      case "deposed": return this.step_down(group, renewed.epoch, renewed.holder);
      // Nothing is known: a holder goes on as it was (never steps down on a failed renewal).
      case "unreachable": return;
      // A grant names this node at its epoch; the holder changes only with the epoch.
      case "not_holder": throw new AssertionError(`group ${group}: not holder at a granted epoch`);
      case "unknown_group": throw new AssertionError(`group ${group}: a placed group stays`);
      default: return assert_never(renewed, "renew outcome");
    }
  }

  private step_down(group: number, epoch: number, holder: string): void {
    const now = this.roles[group]!;
    // An answer overtaken by this node's own new epoch (a restart_epoch ran meanwhile) deposes
    // nothing: the epoch that refused it is this node's.
    if (now.kind === "primary" && now.epoch >= epoch) return;
    this.roles[group] = {
      kind: "standby", epoch, holder, expires_at: null, in_sync: false,
    };
    this.options.on_deposed(group, epoch, holder);
  }

  /**
   * Refreshes what this node knows of the groups. A group read for the first time (at start, or
   * placed since) takes the role its row grants; after that a read never promotes this node.
   */
  private async read_followed(): Promise<void> {
    const leases = await read_leases(this.plane);
    if ("kind" in leases) return;
    this.learn(leases);
  }

  /**
   * A node that does not lead `group` reads its lease: a grant made to this node on its disk at a
   * newer epoch than the role knows is a planned handover to it (primary); anything else, follow.
   * Every read of a lease by a non-primary goes through here: a role recording the newer epoch
   * as a standby's would hide the grant from every later read (the same epoch is not newer).
   */
  private follow(group: number, lease: LeaseRow): void {
    const role = this.roles[group]!;
    const granted = role_at_start(lease, this.node_id, this.options.disk_id);
    this.roles[group] = granted.kind === "primary" && lease.epoch > role_epoch(role) ? granted
      : role_following(lease, this.node_id, this.options.disk_id);
  }

  private learn(leases: readonly GroupLease[]): void {
    for (const { group, lease } of leases) {
      assert(group < this.roles.length, "a placed group is one of GROUPS (settings adopted)");
      const role = this.roles[group]!;
      if (!this.known[group]) {
        this.known[group] = true;
        this.roles[group] = role_at_start(lease, this.node_id, this.options.disk_id);
      } else if (role.kind !== "primary") {
        this.follow(group, lease);
      } else if (lease.epoch === role.epoch) {
        this.roles[group] = { ...role, in_sync: lease.in_sync };
      }
    }
  }

  /**
   * A standby's check before it takes over: nothing heard from the primary on the replication
   * link for a full lease, and the lease expired by the database's clock (asked now).
   */
  async may_take_over(group: number, heard_from_primary_ms_ago: number): Promise<TakeOverCheck> {
    assert(heard_from_primary_ms_ago >= 0, "may take over: a time since");
    if (this.role(group).kind !== "standby") return { kind: "not_standby" };
    if (heard_from_primary_ms_ago < this.options.config.lease_ms) return { kind: "heard_recently" };
    const lease = await reach(() => read_lease(this.plane, group));
    if ("kind" in lease) return lease;
    if (this.role(group).kind !== "standby") return { kind: "not_standby" };
    this.follow(group, lease);
    if (this.role(group).kind === "primary") return { kind: "not_standby" }; // handed over here
    if (!lease.expired) return { kind: "not_expired", expires_at: lease.expires_at };
    return { kind: "may_take_over", epoch: lease.epoch };
  }

  /**
   * Takes over `group` at the epoch this standby last saw, its journal continuing at
   * `durable_end_sequence + 1`, keeping `keep` in sync. The database decides (take_over_lease).
   */
  async take_over(group: number, durable_end_sequence: number,
    keep: readonly string[]): Promise<TakeOverOutcome> {
    const role = this.role(group);
    assert(role.kind === "standby", "take over: only a standby takes over");
    assert(Number.isSafeInteger(durable_end_sequence) && durable_end_sequence >= 0,
      "take over: a durable end");
    const taken = await take_over_lease(this.plane, {
      group, node: this.node_id, disk: this.options.disk_id, epoch: role.epoch,
      first_sequence: durable_end_sequence + 1, keep, lease_ms: this.options.config.lease_ms,
    });
    if (taken.kind === "taken") {
      this.roles[group] = { kind: "primary", epoch: taken.epoch, expires_at: taken.expires_at,
        in_sync: taken.in_sync };
      this.granted_at_ms[group] = performance.now();
    } else if (taken.kind === "stale_epoch" && taken.holder !== this.node_id) {
      this.roles[group] = { ...role, epoch: taken.epoch, holder: taken.holder };
    } // held by this node at a newer epoch: handed over meanwhile; the next read of it promotes
    return taken;
  }

  /**
   * Leads `group` at a new epoch of its own (a node that finds at start that it holds a lease
   * never writes that epoch again: docs/cluster.md "Restarting a primary"): epoch + 1, its
   * journal continuing at `durable_end_sequence + 1`, the in-sync set unchanged.
   */
  async restart_epoch(group: number, durable_end_sequence: number): Promise<HandOverOutcome> {
    const role = this.role(group);
    assert(role.kind === "primary", "restart epoch: held");
    const restarted = await hand_over_lease(this.plane, {
      group, node: this.node_id, epoch: role.epoch, target: this.node_id,
      target_disk: this.options.disk_id, first_sequence: durable_end_sequence + 1,
      lease_ms: this.options.config.lease_ms,
    });
    if (restarted.kind === "handed_over") {
      this.roles[group] = { ...role, epoch: restarted.epoch, expires_at: restarted.expires_at };
      this.granted_at_ms[group] = performance.now();
    } else if (restarted.kind === "deposed") {
      this.step_down(group, restarted.epoch, restarted.holder);
    }
    return restarted;
  }

  /**
   * Hands `group` over to `target` (an in-sync member on `target_disk`) at epoch + 1, its journal
   * continuing at `first_sequence` (this node stopped writing; the target acknowledged it all).
   * On success this node follows the target.
   */
  async hand_over(group: number, target: string, target_disk: string,
    first_sequence: number, leave = false): Promise<HandOverOutcome> {
    const role = this.role(group);
    assert(role.kind === "primary", "hand over: held");
    assert(target !== this.node_id, "hand over: to another member");
    const handed = await hand_over_lease(this.plane, {
      group, node: this.node_id, epoch: role.epoch, target, target_disk, first_sequence,
      lease_ms: this.options.config.lease_ms, leave,
    });
    if (handed.kind === "handed_over") {
      this.roles[group] = leave ? ROLE_NONE : { kind: "standby", epoch: handed.epoch,
        holder: target, expires_at: handed.expires_at, in_sync: true };
    } else if (handed.kind === "deposed") {
      this.step_down(group, handed.epoch, handed.holder);
    }
    return handed;
  }

  /** Adds a registered node to the members of `group`, led here (a move onto a new node). */
  async add_member(group: number, member: string): Promise<MemberAddOutcome> {
    const role = this.role(group);
    assert(role.kind === "primary", "add member: held");
    const added = await add_member(this.plane, { group, node: this.node_id, epoch: role.epoch,
      member });
    if (added.kind === "deposed") this.step_down(group, added.epoch, added.holder);
    return added;
  }

  /**
   * Records `member` in (with `disk`) or out of the in-sync set at this node's epoch: the
   * primary counts a standby for commits from before it records it in, and stops counting it
   * only after it recorded it out (docs/cluster.md "Committed").
   */
  async record_in_sync(group: number, member: string, disk: string | null): Promise<InSyncOutcome> {
    const role = this.role(group);
    assert(role.kind === "primary", "in-sync change: held");
    const change = { group, node: this.node_id, epoch: role.epoch, member };
    const changed = disk === null ? await remove_in_sync(this.plane, change)
      : await add_in_sync(this.plane, change, disk);
    const now = this.role(group);
    if (changed.kind === "in_sync_set" && now.kind === "primary" && now.epoch === role.epoch) {
      this.roles[group] = { ...now, in_sync: changed.in_sync };
    } else if (changed.kind === "deposed") {
      this.step_down(group, changed.epoch, changed.holder);
    }
    return changed;
  }

  /** Runs the loop (again): `start` calls it; after `pause` it resumes where it was. */
  resume(): void {
    assert(this.started, "membership: started before the loop runs");
    if (this.timer !== null) return;
    this.timer = this.options.scheduler.after(this.tick_interval_ms, () => {
      this.tick_running = this.tick().then(() => {
        if (this.timer === null) return;
        this.timer = null;
        this.resume();
      });
    });
  }

  /** Stops the loop (a frozen node, in tests); the roles stay as they were. */
  async pause(): Promise<void> {
    this.timer?.cancel();
    this.timer = null;
    await this.tick_running;
  }

  async close(): Promise<void> {
    await this.pause();
    await this.plane.close();
  }
}
