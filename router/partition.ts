// Which group owns a partner, and which engine worker hosts a group. Every account belongs to one
// partner, so to one group; the table can pin partners to groups (GROUP_MAP) and hashes the rest.

import { assert } from "../common/assert.ts";
import { group_of_partner } from "../common/partner_group.ts";

export class Partitioning {
  constructor(
    readonly groups: number,
    readonly workers: number,
    private readonly pinned: ReadonlyMap<number, number>,
  ) {
    assert(groups >= 1 && workers >= 1 && workers <= groups, "groups and workers");
  }

  group_of_partner(partner: number): number {
    return group_of_partner(partner, this.groups, this.pinned);
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
