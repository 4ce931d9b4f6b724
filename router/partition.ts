// Which group owns a partner, and which engine worker hosts a group. Every account belongs to one
// partner, so to one group; the table can pin partners to groups (GROUP_MAP) and hashes the rest.

import { assert } from "../common/assert.ts";

export class Partitioning {
  constructor(
    readonly groups: number,
    readonly workers: number,
    private readonly pinned: Map<number, number>,
  ) {
    assert(groups >= 1 && workers >= 1 && workers <= groups, "groups and workers");
  }

  group_of_partner(partner: number): number {
    const pinned = this.pinned.get(partner);
    if (pinned !== undefined) return pinned;
    // A multiplicative hash spreads consecutive partner ids over the groups.
    return (Math.imul(partner, 0x9e3779b1) >>> 0) % this.groups;
  }

  worker_of_group(group: number): number {
    return group % this.workers;
  }

  groups_of_worker(worker: number): number[] {
    const groups: number[] = [];
    for (let group = worker; group < this.groups; group += this.workers) groups.push(group);
    return groups;
  }
}
