// bench:cluster's failover probe: the failover as a client sees it. After a kill, one credit of 1
// minor unit for a probe partner of the killed group goes to every running node every
// PROBE_INTERVAL_MS (HTTP JSON, committed mode) until one answers it `ok`: the time from the kill
// to that answer is the time to the first committed reply of the new primary. Probe partners are
// apart from loadgen's (PROBE_PARTNER_FIRST on), so the load's own check is not disturbed.

import { group_of_partner } from "../common/partner_group.ts";
import type { ClusterProcesses } from "../harness/cluster_process.ts";
import { batch_json, open_account, post_json_batch, use_token } from "../harness/http_client.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";

const PROBE_PARTNER_FIRST = 1_000_000;
const PROBE_ACCOUNT = 1n;
const PROBE_CURRENCY = 978;
const PROBE_INTERVAL_MS = 10;
/** A probe that found no committed reply by then gives up (the run then fails loudly). */
const PROBE_MS_MAX = 30_000;

export class FailoverProbe {
  private id_counter = 0;

  private constructor(private readonly cluster: ClusterProcesses,
    private readonly partners: number[], private readonly token: string) {}

  /** Picks one probe partner per group and opens its account on the group's primary. */
  static async open(cluster: ClusterProcesses, groups: number, token: string)
    : Promise<FailoverProbe> {
    const partners: number[] = [];
    for (let partner = PROBE_PARTNER_FIRST; partners.length < groups; partner++) {
      const group = group_of_partner(partner, groups, new Map());
      if (partners[group] === undefined) partners[group] = partner;
    }
    const probe = new FailoverProbe(cluster, partners, token);
    for (let group = 0; group < groups; group++) {
      const base_url = probe.base_url(await cluster.leader_of(group));
      await open_account(base_url, partners[group]!, PROBE_ACCOUNT, PROBE_CURRENCY);
    }
    return probe;
  }

  /** Milliseconds from `killed_at_ms` (performance.now()) to the first `ok` for `group`. */
  async first_committed_ms(group: number, killed_at_ms: number): Promise<number> {
    for (;;) {
      const body = batch_json([{ id: this.next_id(), op: Op.credit, partner: this.partners[group]!,
        account: PROBE_ACCOUNT, amount: 1n, currency: PROBE_CURRENCY }]);
      const answered = await Promise.all([...this.cluster.processes.keys()].map((id) =>
        this.try_node(id, body)));
      const first = Math.min(...answered);
      if (Number.isFinite(first)) return Math.round(first - killed_at_ms);
      if (performance.now() - killed_at_ms > PROBE_MS_MAX) {
        throw new Error(`group ${group}: no committed reply ${PROBE_MS_MAX} ms after the kill`);
      }
      await Bun.sleep(PROBE_INTERVAL_MS);
    }
  }

  // When the node answered the probe `ok` (performance.now()), or Infinity.
  private async try_node(id: string, body: string): Promise<number> {
    try {
      const reply = await post_json_batch(this.base_url(id), body);
      const ok = reply.kind === "results" && reply.results[0]?.status === "ok";
      return ok ? performance.now() : Number.POSITIVE_INFINITY;
    } catch {
      return Number.POSITIVE_INFINITY; // the killed node, or one restarting
    }
  }

  private base_url(id: string): string {
    const base_url = this.cluster.node(id).base_url;
    use_token(base_url, this.token);
    return base_url;
  }

  // Time-ordered ids as clients make them (schema/order_id.ts): now in ms, then a counter.
  private next_id(): bigint {
    return (BigInt(Date.now()) << 22n) | BigInt(this.id_counter++ & 0x3fffff);
  }
}
