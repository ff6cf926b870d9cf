import { BUCKETS, quantile } from './histogram.js';

/**
 * Requests, errors and a latency histogram of one series (the gateway, a route, an
 * upstream, a target), since start and per second over the last hour, so that any
 * window's rate, error ratio and quantiles are a sum of a few slots.
 *
 * The hot path adds to the current second's slot only (`add`: a few array writes, no
 * clock read, no allocation); `roll` — once a second, from the stats ticker — closes it.
 * An hour of per-second histograms would be 3600 × 66 counts per series, so older
 * seconds are kept at a coarser grain:
 *
 * ```
 * tier 0  1 s slots × 120    windows up to 2 min: exact to the second
 * tier 1  10 s slots × 61    windows up to 10 min: rounded to 10 s
 * tier 2  60 s slots × 61    windows up to 1 h: rounded to 1 min
 * ```
 *
 * A window of W seconds is the last W closed seconds. Past 2 minutes it is the seconds of
 * the tier's block in progress (from tier 0) plus the nearest whole number of closed
 * blocks: a 300 s window 7 s into a 10 s block reads 7 + 29 × 10 = 297 s (or 307 s).
 * Rates divide by the seconds actually read, and never by more seconds than the series
 * has existed, so a gateway up for 5 s reads its true rate in a 60 s window.
 */
export class WindowSeries {
  /** Since start (for Prometheus): requests, errors, latency buckets and sum. */
  requests = 0;
  errors = 0;
  readonly buckets = new Float64Array(BUCKETS);
  sumMs = 0;

  // The second in progress (written by the hot path).
  private curReq = 0;
  private curErr = 0;
  private readonly curHist = new Uint32Array(BUCKETS);

  /** Tiers, allocated on the first request (idle series cost nothing). */
  private tiers: Tier[] | null = null;
  /** Sums of recent windows (≤ 2 min) by length, kept to slide by one slot a second. */
  private sliding: Map<number, { sec: number; sum: WindowSum }> | null = null;
  /** Closed seconds since the series was made (caps the divisor of rates). */
  private age = 0;

  /** Records one finished request. `bucket` from `bucketOf(ms)`. */
  add(bucket: number, ms: number, error: boolean): void {
    this.requests++;
    this.buckets[bucket]!++;
    this.sumMs += ms;
    this.curReq++;
    this.curHist[bucket]!++;
    if (error) {
      this.errors++;
      this.curErr++;
    }
  }

  /** Closes second `sec` (the ticker's count of closed seconds, shared by all series). */
  roll(sec: number): void {
    this.age++;
    let tiers = this.tiers;
    if (tiers === null) {
      if (this.curReq === 0) return;
      tiers = this.tiers = TIER_SPECS.map((s) => new Tier(s.slotS, s.slots));
    }
    for (const t of tiers) t.put(sec, this.curReq, this.curErr, this.curHist);
    this.curReq = 0;
    this.curErr = 0;
    this.curHist.fill(0);
  }

  /**
   * Sums the last `windowS` closed seconds (up to 3600) into `into` (whose histogram must
   * be zeroed by the caller) and returns it. `sec` is the ticker's latest closed second.
   */
  read(sec: number, windowS: number, into: WindowSum): WindowSum {
    const tiers = this.tiers;
    into.requests = 0;
    into.errors = 0;
    into.seconds = 0;
    const w = Math.max(1, Math.min(3600, Math.round(windowS)));
    if (tiers === null) {
      into.seconds = Math.max(1, Math.min(w, this.age));
      return into;
    }
    const t0 = tiers[0]!;
    if (w <= t0.slots - 1) {
      // A watcher asks for the same window every second: slide the previous sum by one
      // slot (add the newest second, take out the one that left) instead of re-adding w.
      const sliding = (this.sliding ??= new Map());
      let prev = sliding.get(w);
      if (prev === undefined) {
        if (sliding.size >= 4) sliding.clear();
        prev = { sec: Number.NaN, sum: new WindowSum() };
        sliding.set(w, prev);
      }
      const acc = prev.sum;
      if (prev.sec === sec - 1) {
        t0.addSlot(sec, 1, acc);
        if (sec - w >= 0) t0.addSlot(sec - w, -1, acc);
      } else if (prev.sec !== sec) {
        acc.reset();
        t0.sum(sec, w, 1, acc);
      }
      prev.sec = sec;
      into.requests = acc.requests;
      into.errors = acc.errors;
      into.hist.set(acc.hist);
      into.seconds = Math.max(1, Math.min(w, sec + 1, this.age));
      return into;
    } else {
      const t = w <= 600 ? tiers[1]! : tiers[2]!;
      // Seconds of the block in progress come from tier 0; then whole closed blocks.
      const partial = (sec + 1) % t.slotS;
      t0.sum(sec, partial, 1, into);
      const blocks = Math.min(t.slots - 1, Math.max(0, Math.round((w - partial) / t.slotS)));
      t.sum(sec - partial, blocks, t.slotS, into);
    }
    into.seconds = Math.max(1, Math.min(into.seconds, this.age));
    return into;
  }
}

/** What `WindowSeries.read` fills in. */
export class WindowSum {
  requests = 0;
  errors = 0;
  /** The seconds the sum covers (the rate's divisor). */
  seconds = 0;
  readonly hist = new Float64Array(BUCKETS);

  reset(): this {
    this.requests = 0;
    this.errors = 0;
    this.seconds = 0;
    this.hist.fill(0);
    return this;
  }

  quantile(q: number): number | null {
    return quantile(this.hist, q, this.requests);
  }
}

const TIER_SPECS = [
  { slotS: 1, slots: 121 },
  { slotS: 10, slots: 61 },
  { slotS: 60, slots: 61 },
] as const;

/** A ring of slots of `slotS` seconds each; slot of second s is floor(s / slotS) mod slots. */
class Tier {
  private readonly req: Float64Array;
  private readonly err: Float64Array;
  private readonly hist: Uint32Array;
  /** The block number each slot holds (-1: empty), so stale slots read as empty. */
  private readonly block: Float64Array;

  constructor(
    readonly slotS: number,
    readonly slots: number,
  ) {
    this.req = new Float64Array(slots);
    this.err = new Float64Array(slots);
    this.hist = new Uint32Array(slots * BUCKETS);
    this.block = new Float64Array(slots).fill(-1);
  }

  put(sec: number, req: number, err: number, hist: Uint32Array): void {
    const b = Math.floor(sec / this.slotS);
    const i = b % this.slots;
    const off = i * BUCKETS;
    if (this.block[i] !== b) {
      this.block[i] = b;
      this.req[i] = 0;
      this.err[i] = 0;
      this.hist.fill(0, off, off + BUCKETS);
    }
    if (req === 0) return;
    this.req[i]! += req;
    this.err[i]! += err;
    const h = this.hist;
    for (let k = 0; k < BUCKETS; k++) {
      const c = hist[k]!;
      if (c !== 0) h[off + k]! += c;
    }
  }

  /** Adds (sign 1) or takes out (sign -1) the slot of second `s` (tier 0). */
  addSlot(s: number, sign: 1 | -1, into: WindowSum): void {
    const i = s % this.slots;
    if (this.block[i] !== s) return;
    const r = this.req[i]!;
    if (r === 0) return;
    into.requests += sign * r;
    into.errors += sign * this.err[i]!;
    const off = i * BUCKETS;
    const h = this.hist;
    const out = into.hist;
    for (let k = 0; k < BUCKETS; k++) out[k]! += sign * h[off + k]!;
  }

  /** Adds `count` slots ending with the one holding second `lastSec`. */
  sum(lastSec: number, count: number, slotS: number, into: WindowSum): void {
    const last = Math.floor(lastSec / this.slotS);
    for (let n = 0; n < count; n++) {
      const b = last - n;
      if (b < 0) break;
      into.seconds += slotS;
      const i = b % this.slots;
      if (this.block[i] !== b) continue;
      const r = this.req[i]!;
      if (r === 0) continue;
      into.requests += r;
      into.errors += this.err[i]!;
      const off = i * BUCKETS;
      const h = this.hist;
      const out = into.hist;
      for (let k = 0; k < BUCKETS; k++) out[k]! += h[off + k]!;
    }
  }
}
