// Which group owns a partner: pinned partners (GROUP_MAP) first, the rest by a hash. One pure
// function, so the router that places orders and the SDK that picks a group's primary agree.

import { assert } from "./assert.ts";

export function group_of_partner(partner: number, groups: number,
  pinned: ReadonlyMap<number, number>): number {
  assert(groups >= 1, "at least one group");
  const group = pinned.get(partner);
  if (group !== undefined) return group;
  // A multiplicative hash spreads consecutive partner ids over the groups.
  return (Math.imul(partner, 0x9e3779b1) >>> 0) % groups;
}
