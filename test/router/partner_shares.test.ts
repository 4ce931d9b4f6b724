// A partner's ring slots are counted per engine worker, and given back one by one.

import { expect, test } from "bun:test";
import { PartnerShares } from "../../router/partner_shares.ts";

test("shares are counted per (partner, worker) and return to 0 when given back", () => {
  const shares = new PartnerShares(3);
  shares.take(7, 0);
  shares.take(7, 0);
  shares.take(7, 2);
  shares.take(2 ** 32 - 1, 1); // the largest partner id
  expect([shares.used(7, 0), shares.used(7, 1), shares.used(7, 2)]).toEqual([2, 0, 1]);
  expect(shares.used(2 ** 32 - 1, 1)).toBe(1);
  expect(shares.used(8, 0)).toBe(0);
  shares.give_back(7, 0);
  shares.give_back(7, 2);
  expect([shares.used(7, 0), shares.used(7, 2)]).toEqual([1, 0]);
  shares.give_back(7, 0);
  shares.take(7, 1); // the partner's entry went with its last share and comes back fresh
  expect([shares.used(7, 0), shares.used(7, 1), shares.used(7, 2)]).toEqual([0, 1, 0]);
});
