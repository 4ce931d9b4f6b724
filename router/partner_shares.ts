// Ring slots in use per (partner, engine worker): the router refuses a partner busy once it holds
// its share of one worker's inbound ring, so one hot partner cannot fill a ring the others need.
// One Map entry per partner, holding a count per worker and their total: small integer keys and
// in-place counts instead of a Map entry per (partner, worker) rewritten on every request.
//
// A partner whose total returns to 0 keeps its entry (idle) for its next request: dropping it
// and making it again cost an allocation and two Map writes per partner per request, a tenth of
// the router's time under mixed batches (bench/router.ts). Past IDLE_PARTNERS_MAX idle entries
// they all go at once, so memory follows the partners in flight plus a bounded few, never every
// partner id ever seen.

/** Idle partner entries kept (a few thousand partners in all): 4,096 of 24-40 bytes of counts.
 * Admissions refused busy may add a batch's partners (128 at most) each before the next drop. */
export const IDLE_PARTNERS_MAX = 4_096;

export class PartnerShares {
  private readonly by_partner = new Map<number, Int32Array>();
  /** Entries whose total is 0. */
  private idle = 0;

  /** workers: engine workers; each partner's counts hold one per worker, then their total. */
  constructor(private readonly workers: number) {}

  /** Partners with an entry: those with shares in flight, and at most IDLE_PARTNERS_MAX more. */
  get entries(): number {
    return this.by_partner.size;
  }

  used(partner: number, worker: number): number {
    const counts = this.by_partner.get(partner);
    return counts === undefined ? 0 : counts[worker]!;
  }

  take(partner: number, worker: number): void {
    this.take_counts(this.counts_of(partner), worker);
  }

  give_back(partner: number, worker: number): void {
    this.give_back_counts(this.by_partner.get(partner)!, worker);
  }

  /**
   * The partner's counts (one per worker, then the total), made idle when it has none, for a
   * caller that holds them from its admission to its give-back: no lookup per step. Idle entries
   * go only in give_back_counts, never between an admission and its take (the router does both
   * in one call), and an entry with shares taken never goes: held counts stay the partner's.
   */
  counts_of(partner: number): Int32Array {
    let counts = this.by_partner.get(partner);
    if (counts === undefined) {
      this.by_partner.set(partner, counts = new Int32Array(this.workers + 1));
      this.idle++;
    }
    return counts;
  }

  take_counts(counts: Int32Array, worker: number): void {
    if (counts[this.workers] === 0) this.idle--;
    counts[worker]!++;
    counts[this.workers]!++;
  }

  give_back_counts(counts: Int32Array, worker: number): void {
    counts[worker]!--;
    if (--counts[this.workers]! === 0 && ++this.idle > IDLE_PARTNERS_MAX) this.drop_idle();
  }

  private drop_idle(): void {
    for (const [partner, counts] of this.by_partner) {
      if (counts[this.workers] === 0) this.by_partner.delete(partner);
    }
    this.idle = 0;
  }
}
