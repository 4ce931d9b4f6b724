// Ring slots in use per (partner, engine worker): the router refuses a partner busy once it holds
// its share of one worker's inbound ring, so one hot partner cannot fill a ring the others need.
// One Map entry per partner with requests in flight, holding a count per worker and their total:
// small integer keys and in-place counts instead of a Map entry per (partner, worker) rewritten on
// every request. A partner's entry goes when its total returns to 0, so memory follows the
// partners in flight, not every partner id ever seen.

export class PartnerShares {
  private readonly by_partner = new Map<number, Int32Array>();

  /** workers: engine workers; each partner's counts hold one per worker, then their total. */
  constructor(private readonly workers: number) {}

  used(partner: number, worker: number): number {
    const counts = this.by_partner.get(partner);
    return counts === undefined ? 0 : counts[worker]!;
  }

  take(partner: number, worker: number): void {
    let counts = this.by_partner.get(partner);
    if (counts === undefined) this.by_partner.set(partner, counts = new Int32Array(this.workers + 1));
    counts[worker]!++;
    counts[this.workers]!++;
  }

  give_back(partner: number, worker: number): void {
    const counts = this.by_partner.get(partner)!;
    counts[worker]!--;
    if (--counts[this.workers]! === 0) this.by_partner.delete(partner);
  }
}
