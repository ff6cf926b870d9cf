import type { NodeShare } from '../middlewares/rate-limit/node-share.js';
import type { ShareGrant } from './protocol.js';

/** Limits (route, limit, key) a worker reports per interval at most: a flood of client keys cannot flood the IPC. */
const MAX_IDS_PER_REPORT = 5000;
/** A limit nobody asked for this long is forgotten (its workers fall back to 1/N). */
const FORGET_MS = 5000;
/** The least share a worker keeps of a limit it is not asked for: a request that comes is not refused while the next update is on its way. */
const FLOOR = 0.02;
/** A share moves when it changed by more than this (fewer messages for steady traffic). */
const STEP = 0.01;
/** What is left of a tick's demand at the next (the report interval is the tick). */
const DECAY = 0.5;
const TICK_MS = 100;

/**
 * A worker's side of node-wide in-memory rate limits (see
 * src/middlewares/rate-limit/node-share.ts): the demand it saw since its last report, and
 * the shares the primary granted it.
 */
export class WorkerShares implements NodeShare {
  private demandById = new Map<string, [number, number]>();
  private readonly shares = new Map<string, number>();

  constructor(private readonly defaultShare: number) {}

  share(id: string): number {
    return this.shares.get(id) ?? this.defaultShare;
  }

  demand(id: string, perSecond: number): void {
    const m = this.demandById;
    const n = m.get(id);
    if (n !== undefined) n[0]++;
    else if (m.size < MAX_IDS_PER_REPORT) m.set(id, [1, perSecond]);
  }

  /** Whether any demand waits for the next report. */
  get pending(): boolean {
    return this.demandById.size > 0;
  }

  /** The demand since the last call, for the report: requests and the limit's rate. */
  take(): Record<string, [number, number]> {
    const out: Record<string, [number, number]> = {};
    for (const [id, n] of this.demandById) out[id] = n;
    this.demandById = new Map();
    return out;
  }

  apply(grants: readonly ShareGrant[]): void {
    for (const g of grants) {
      if (g.share < 0) this.shares.delete(g.id);
      else this.shares.set(g.id, g.share);
    }
  }
}

interface Book {
  /** Recent demand per slot (decaying sum of the reports). */
  readonly demand: number[];
  /** The limit's rate for the node, per second. */
  rate: number;
  /** What each slot was last granted (-1: nothing yet). */
  readonly granted: number[];
  seenAt: number;
}

/**
 * The primary's side: from every worker's demand, each worker's share of each limit —
 * its part of the recent demand (a decaying sum over about half a second), at least
 * `FLOOR`, normalised so that the shares of a limit add up to 1: the node admits the
 * limit's rate, however the requests spread over the workers.
 */
export class ShareBook {
  private readonly books = new Map<string, Book>();
  private readonly changed = new Set<string>();

  constructor(private readonly slots: number) {}

  /** A worker's report of its demand (slot 1…N). */
  onDemand(slot: number, demand: Readonly<Record<string, readonly [number, number]>>): void {
    const now = Date.now();
    for (const id in demand) {
      const [n, rate] = demand[id]!;
      let b = this.books.get(id);
      if (b === undefined) {
        b = { demand: new Array<number>(this.slots).fill(0), rate, granted: new Array<number>(this.slots).fill(-1), seenAt: now };
        this.books.set(id, b);
      }
      b.rate = rate;
      b.demand[slot - 1]! += n;
      b.seenAt = now;
      this.changed.add(id);
    }
  }

  /** A new worker in a slot: it is sent every share it should hold at the next tick. */
  resend(slot: number): void {
    for (const [id, b] of this.books) {
      b.granted[slot - 1] = -1;
      this.changed.add(id);
    }
  }

  /** Every report interval: the grants that changed, per slot (index 0 = slot 1); demand decays. */
  tick(): ShareGrant[][] {
    const out: ShareGrant[][] = Array.from({ length: this.slots }, () => []);
    const now = Date.now();
    for (const [id, b] of this.books) {
      if (now - b.seenAt > FORGET_MS) {
        this.books.delete(id);
        for (let s = 0; s < this.slots; s++) out[s]!.push({ id, share: -1 });
        continue;
      }
      let total = 0;
      for (const d of b.demand) total += d;
      if (total > 0 && this.changed.has(id)) {
        // Demand per second from the decaying sums (steady state: per tick / (1 - DECAY)).
        const perS = b.demand.map((d) => d * (1 - DECAY) * (1000 / TICK_MS));
        const asked = perS.reduce((a, x) => a + x, 0);
        // Under the limit, every worker gets what it asks plus an equal part of what is left
        // (a worker asked a little more in the next instant is not refused); over it, shares
        // follow the demand.
        const slack = Math.max(0, b.rate - asked) / this.slots;
        const raw = perS.map((d) => Math.max(FLOOR, asked >= b.rate ? d / asked : (d + slack) / b.rate));
        const sum = raw.reduce((a, x) => a + x, 0);
        for (let s = 0; s < this.slots; s++) {
          const share = Math.round((raw[s]! / sum) * 10_000) / 10_000;
          if (b.granted[s]! < 0 || Math.abs(share - b.granted[s]!) > STEP) {
            b.granted[s] = share;
            out[s]!.push({ id, share });
          }
        }
      }
      // A few hundred milliseconds of memory: shares follow a client that moved to another worker quickly.
      for (let s = 0; s < this.slots; s++) b.demand[s]! *= DECAY;
    }
    this.changed.clear();
    return out;
  }
}
