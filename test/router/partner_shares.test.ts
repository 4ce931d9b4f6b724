// A partner's ring slots are counted per engine worker, and given back one by one. Entries of
// partners with nothing in flight are kept for their next request, but never more than
// IDLE_PARTNERS_MAX of them: memory does not follow every partner id ever seen.

import { expect, test } from "bun:test";
import { IDLE_PARTNERS_MAX, PartnerShares } from "../../router/partner_shares.ts";

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
  shares.take(7, 1); // its entry stayed, idle, with every count back at 0
  expect([shares.used(7, 0), shares.used(7, 1), shares.used(7, 2)]).toEqual([0, 1, 0]);
});

test("idle entries are bounded; counts held from admission stay the partner's", () => {
  const shares = new PartnerShares(2);
  const busy = shares.counts_of(1); // a partner with shares in flight throughout
  shares.take_counts(busy, 1);
  expect(shares.used(1, 1)).toBe(1);
  let most_entries = 0;
  for (let partner = 2; partner < 2 + 3 * IDLE_PARTNERS_MAX; partner++) {
    const counts = shares.counts_of(partner); // as the router's admission, then its take
    shares.take_counts(counts, 0);
    expect(shares.used(partner, 0)).toBe(1);
    shares.give_back_counts(counts, 0);
    most_entries = Math.max(most_entries, shares.entries);
  }
  // The idle ones went (more than once), the one in flight stayed: 1 + IDLE_PARTNERS_MAX at most.
  expect(most_entries).toBe(IDLE_PARTNERS_MAX + 1);
  expect(shares.entries).toBeLessThanOrEqual(IDLE_PARTNERS_MAX + 1);
  expect(shares.counts_of(1)).toBe(busy);
  expect(shares.used(1, 1)).toBe(1);
  shares.give_back(1, 1);
  expect(shares.used(1, 1)).toBe(0);
});
