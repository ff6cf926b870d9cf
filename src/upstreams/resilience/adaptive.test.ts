import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveLimit } from './adaptive.js';
import { ADAPTIVE_DEFAULTS, type AdaptiveLimitConfig } from './overload-schema.js';

/**
 * A backend of `servers` workers with a FIFO queue in front (requests beyond the workers
 * wait in the backend), driven on a virtual clock by a client that sends as much as the
 * limit allows: the worst case, demand always above what the backend can take.
 */
class Simulation {
  now = 0;
  private freeAt: number[];
  /** Completions pending: [endTime, startTime], kept sorted by end time. */
  private pending: [number, number][] = [];
  private seed = 42;
  /** Latencies of requests that completed, with their completion time. */
  readonly done: { at: number; rtt: number }[] = [];

  constructor(
    servers: number,
    public serviceMs: number,
    public demand = Infinity,
  ) {
    this.freeAt = new Array<number>(servers).fill(0);
  }

  setServers(n: number): void {
    const sorted = [...this.freeAt].sort((a, b) => a - b);
    this.freeAt = n <= sorted.length ? sorted.slice(0, n) : [...sorted, ...new Array<number>(n - sorted.length).fill(this.now)];
  }

  /** ±10% service time jitter, deterministic. */
  private service(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2147483648;
    return this.serviceMs * (0.9 + 0.2 * (this.seed / 2147483648));
  }

  private send(): void {
    let best = 0;
    for (let i = 1; i < this.freeAt.length; i++) if (this.freeAt[i]! < this.freeAt[best]!) best = i;
    const start = Math.max(this.now, this.freeAt[best]!);
    const end = start + this.service();
    this.freeAt[best] = end;
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]![0] > end) i--;
    this.pending.splice(i, 0, [end, this.now]);
  }

  private fill(limit: AdaptiveLimit): void {
    while (this.pending.length < this.demand && limit.acquire()) this.send();
  }

  /** Runs until `until` (virtual ms). */
  run(limit: AdaptiveLimit, until: number): void {
    this.fill(limit);
    while (this.pending.length > 0 && this.pending[0]![0] <= until) {
      const [end, start] = this.pending.shift()!;
      this.now = end;
      limit.release(end - start, false);
      this.done.push({ at: end, rtt: end - start });
      this.fill(limit);
    }
    this.now = until;
  }

  /** Mean latency of the requests that completed in (from, to]. */
  meanRtt(from: number, to: number): number {
    let sum = 0;
    let n = 0;
    for (const d of this.done) if (d.at > from && d.at <= to) (sum += d.rtt), n++;
    return n === 0 ? NaN : sum / n;
  }
}

function limiter(sim: Simulation, over: Partial<AdaptiveLimitConfig> = {}): AdaptiveLimit {
  return new AdaptiveLimit({ ...ADAPTIVE_DEFAULTS, maxLimit: 200, minRttRefreshMs: 0, ...over }, () => sim.now);
}

/** The limit sampled every `step` ms over (from, to]. */
function limits(sim: Simulation, l: AdaptiveLimit, from: number, to: number, step = 100): number[] {
  const out: number[] = [];
  for (let t = from + step; t <= to; t += step) {
    sim.run(l, t);
    out.push(l.limit);
  }
  return out;
}

const max = (xs: number[]) => Math.max(...xs);
const min = (xs: number[]) => Math.min(...xs);

describe('AdaptiveLimit', () => {
  it('admits up to the limit and refuses past it', () => {
    let now = 0;
    const l = new AdaptiveLimit({ ...ADAPTIVE_DEFAULTS, initialLimit: 3, minLimit: 1, maxLimit: 10 }, () => now);
    assert.equal(l.limit, 3);
    assert.equal(l.acquire(), true);
    assert.equal(l.acquire(), true);
    assert.equal(l.acquire(), true);
    assert.equal(l.acquire(), false);
    now = 5;
    l.release(5, false);
    assert.equal(l.inFlight, 2);
    assert.equal(l.acquire(), true);
    l.abandon();
    assert.equal(l.inFlight, 2);
    assert.equal(l.stats().refused, 1);
  });

  it('keeps the initial limit within [minLimit, maxLimit]', () => {
    assert.equal(new AdaptiveLimit({ ...ADAPTIVE_DEFAULTS, initialLimit: 500, maxLimit: 50 }).limit, 50);
    assert.equal(new AdaptiveLimit({ ...ADAPTIVE_DEFAULTS, initialLimit: 1, minLimit: 4, maxLimit: 50 }).limit, 4);
  });

  it('finds the backend capacity: grows from a low start to about its workers, with little queueing', () => {
    const sim = new Simulation(20, 20);
    const l = limiter(sim, { initialLimit: 5 });
    const ls = limits(sim, l, 0, 15_000);
    const settled = ls.slice(-50);
    assert.ok(min(settled) >= 20 && max(settled) <= 32, `settled limit ${min(settled)}–${max(settled)}`);
    const rtt = sim.meanRtt(10_000, 15_000);
    assert.ok(rtt < 1.5 * 20, `mean latency ${rtt.toFixed(1)}ms vs 20ms service time`);
    assert.ok(Math.abs(l.stats().minRttMs - 20) < 3, `minRtt ${l.stats().minRttMs}`);
  });

  it('shrinks when latency rises under load (the backend loses capacity) and grows back when it recovers', () => {
    const sim = new Simulation(20, 20);
    const l = limiter(sim, { initialLimit: 20 });
    limits(sim, l, 0, 10_000);
    const before = l.limit;
    assert.ok(before >= 20, `limit before ${before}`);

    // 12 of 20 workers go away: with the old limit, requests would queue ~3 service times.
    sim.setServers(8);
    const during = limits(sim, l, 10_000, 20_000);
    const shrunk = during.slice(-30);
    assert.ok(max(shrunk) <= 15, `limit while degraded ${min(shrunk)}–${max(shrunk)} (was ${before})`);
    assert.ok(min(shrunk) >= 4, 'never below minLimit');
    const rttDegraded = sim.meanRtt(15_000, 20_000);
    assert.ok(rttDegraded < 1.8 * 20, `latency while degraded ${rttDegraded.toFixed(1)}ms: the limit keeps the backend queue short`);
    // How fast: within 2 s of the loss, the limit is already below 2/3 of what it was.
    assert.ok(during[19]! < (before * 2) / 3, `limit 2 s after the loss: ${during[19]}`);

    sim.setServers(20);
    const after = limits(sim, l, 20_000, 32_000).slice(-30);
    assert.ok(min(after) >= 18, `limit after recovery ${min(after)}–${max(after)}`);
  });

  it('does not grow while the caller uses less than half of it (application-limited)', () => {
    const sim = new Simulation(50, 20, 5);
    const l = limiter(sim, { initialLimit: 20 });
    const ls = limits(sim, l, 0, 5000);
    assert.ok(max(ls) <= 20, `limit grew to ${max(ls)} with only 5 requests in flight`);
  });

  it('cuts the limit by 10% for a window with dropped requests, whatever the latency', () => {
    let now = 0;
    const l = new AdaptiveLimit({ ...ADAPTIVE_DEFAULTS, initialLimit: 40, maxLimit: 100, minSamples: 5 }, () => now);
    for (let i = 0; i < 40; i++) l.acquire();
    // A first window of clean samples sets minRtt.
    for (let i = 0; i < 10; i++) {
      now += 15;
      l.release(10, false);
      l.acquire();
    }
    const start = l.limit;
    for (let i = 0; i < 10; i++) {
      now += 15;
      l.release(10, i === 3);
      l.acquire();
    }
    assert.ok(l.limit < start && l.limit >= Math.floor(start * 0.9) - 1 && l.limit <= Math.ceil(start * 0.9), `limit ${l.limit} after a drop (was ${start})`);
    assert.equal(l.stats().dropped, 1);
  });

  it('measures minRtt afresh: a backend that became slower for good is not held to its old speed', () => {
    const sim = new Simulation(20, 20);
    const l = limiter(sim, { initialLimit: 20, minRttRefreshMs: 5000 });
    limits(sim, l, 0, 6000);
    assert.ok(l.limit >= 18);
    // A release that is twice as slow at everything: same workers, double service time.
    sim.serviceMs = 40;
    const ls = limits(sim, l, 6000, 25_000);
    const s = l.stats();
    assert.ok(s.refreshes >= 2, `refreshes ${s.refreshes}`);
    assert.ok(Math.abs(s.minRttMs - 40) < 8, `minRtt ${s.minRttMs} after refresh`);
    const settled = ls.slice(-30);
    assert.ok(min(settled) >= 18, `limit after refresh ${min(settled)}–${max(settled)}`);
    // Without refreshes the limit would stay pinned down by the stale minimum.
    const sim2 = new Simulation(20, 20);
    const stale = limiter(sim2, { initialLimit: 20 });
    limits(sim2, stale, 0, 6000);
    sim2.serviceMs = 40;
    const ls2 = limits(sim2, stale, 6000, 25_000).slice(-30);
    assert.ok(max(ls2) < min(settled), `stale minRtt keeps the limit at ${max(ls2)}`);
  });

  it('allocates nothing per request', () => {
    // The clock is whole milliseconds: a fractional closure variable would be boxed on
    // every `+=` by unoptimised code, and on a busy machine the optimising compiler
    // (a background thread) may not have caught up yet, so the test would measure its
    // own allocations. The best of three rounds likewise lets the JIT settle.
    let now = 0;
    const l = new AdaptiveLimit({ ...ADAPTIVE_DEFAULTS, maxLimit: 100 }, () => now);
    const round = (n: number): number => {
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < n; i++) {
        l.acquire();
        if (i % 10 === 0) now++;
        l.release(10 + (i % 7), i % 1000 === 0);
      }
      return process.memoryUsage().heapUsed - before;
    };
    round(10_000);
    const grown = Math.min(round(1_000_000), round(1_000_000), round(1_000_000));
    assert.ok(grown < 4 * 1024 * 1024, `heap grew ${grown} bytes`);
  });
});
