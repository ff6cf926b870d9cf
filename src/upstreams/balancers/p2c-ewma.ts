import type { Target } from '../target.js';
import { effectiveWeight, usable, type Balancer, type PickContext } from './balancer.js';
import { Rng } from './rng.js';

/**
 * Time constant of the read-side decay of a target's latency estimate. The same 10 s as the
 * peak EWMA in `Target` (Finagle's and Linkerd's default).
 */
const DECAY_MS = 10_000;

/** How long the latency assumed for targets without a sample is reused before recomputing. */
const DEFAULT_LATENCY_REFRESH_MS = 1_000;

/** Latency assumed when no target of the upstream has a sample yet: every target alike. */
const NO_SAMPLE_LATENCY_MS = 1;

/**
 * Power of two choices over peak-EWMA latency (Finagle, Linkerd): draw two distinct usable
 * targets at random and send the request to the cheaper one, where
 *
 *     cost = latency × (inFlight + 1) / effectiveWeight
 *
 * Comparing just two random targets avoids the herd that "always the global best" causes
 * (every instance of the gateway rushing the same target) while still steering clearly
 * away from slow and overloaded ones; a target that turns slow is avoided within a request
 * or two because the peak EWMA jumps up on a slow sample.
 *
 * Choices made here, and why:
 * - A target with no latency sample yet (new, or never picked) is costed at the **median**
 *   of the upstream's known latencies (1 ms when none is known). Linkerd uses a high default
 *   so that new targets are probed slowly; Brisk has slow start for that (a ramping target's
 *   effective weight is small, so its cost is high), and a median lets a new target win
 *   fairly once the ramp is done instead of starving behind a made-up penalty.
 * - The latency is **decayed towards 0 at read time** since its last change (τ = 10 s), as
 *   Linkerd and Finagle do. Without that, a target that had one very slow response would
 *   lose every comparison, so it would never get a request, never get a new sample, and
 *   stay shunned forever; with it, it is probed again once its stale figure fades. The
 *   balancer notices a new sample by the EWMA changing, since `Target` keeps the sample time
 *   private.
 * - Weights divide the cost (a target of weight 3 is as attractive as one of weight 1 with
 *   a third of the load or latency). Candidates are drawn uniformly, so under load traffic
 *   follows weights roughly (in-flight counts settle in proportion to weight); on an idle
 *   upstream the heavier or faster target wins each comparison it is in, which is the
 *   point of a latency-aware balancer. Use `weighted-round-robin` for exact shares.
 */
export class P2cEwmaBalancer implements Balancer {
  /** EWMA last seen per target (NaN: not seen yet), to notice new samples. */
  private seenEwma: Float64Array;
  /** `ctx.now` when each target's EWMA last changed. */
  private seenAt: Float64Array;
  /** Scratch for the median, so computing it allocates nothing that grows. */
  private scratch: Float64Array;
  /** The two candidates' costs (see `cheaper`). */
  private readonly costs = new Float64Array(2);
  private defaultLatency = NO_SAMPLE_LATENCY_MS;
  /** When `defaultLatency` was computed (-Infinity: never). */
  private defaultLatencyAt = -Infinity;

  /** @param rng injectable for reproducible tests; seeded at random by default. */
  constructor(
    private targets: readonly Target[],
    private readonly slowStartMs: number,
    private readonly rng: Rng = new Rng(),
  ) {
    const n = targets.length;
    this.seenEwma = new Float64Array(n).fill(Number.NaN);
    this.seenAt = new Float64Array(n);
    this.scratch = new Float64Array(n);
  }

  /** Targets that stay keep what was seen of their latency (its decay goes on); new ones start unseen. */
  update(targets: readonly Target[]): void {
    const was = new Map<Target, number>();
    this.targets.forEach((t, i) => was.set(t, i));
    const n = targets.length;
    const seenEwma = new Float64Array(n).fill(Number.NaN);
    const seenAt = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const j = was.get(targets[i]!);
      if (j === undefined) continue;
      seenEwma[i] = this.seenEwma[j]!;
      seenAt[i] = this.seenAt[j]!;
    }
    this.targets = targets;
    this.seenEwma = seenEwma;
    this.seenAt = seenAt;
    this.scratch = new Float64Array(n);
    // The median of known latencies changed with the members.
    this.defaultLatencyAt = -Infinity;
  }

  pick(ctx: PickContext): Target | null {
    const targets = this.targets;
    const n = targets.length;
    if (n <= 1) return n === 1 && usable(targets[0]!, ctx) ? targets[0]! : null;

    // Draw two distinct indexes (the second from the n − 1 others) and retry a couple of
    // times if either cannot take the request: accepting the first draw where both can is
    // still uniform over usable pairs, and with one target out (a retry) it almost always
    // succeeds without the scan below.
    const rng = this.rng;
    for (let attempt = 0; attempt < 3; attempt++) {
      const a = rng.below(n);
      let b = rng.below(n - 1);
      if (b >= a) b++;
      if (usable(targets[a]!, ctx) && usable(targets[b]!, ctx)) return this.cheaper(a, b, ctx);
    }
    return this.pickAmongUsable(ctx);
  }

  /**
   * Many targets out: draw among the usable ones only (uniform as well), in bounded time.
   * A method of its own so that `pick` stays small enough for V8 to inline its helpers.
   */
  private pickAmongUsable(ctx: PickContext): Target | null {
    const targets = this.targets;
    const n = targets.length;
    let count = 0;
    let only = -1;
    for (let i = 0; i < n; i++) {
      if (usable(targets[i]!, ctx)) {
        count++;
        only = i;
      }
    }
    if (count === 0) return null;
    if (count === 1) return targets[only]!;
    const ka = this.rng.below(count);
    let kb = this.rng.below(count - 1);
    if (kb >= ka) kb++;
    return this.cheaper(this.nthUsable(ka, ctx), this.nthUsable(kb, ctx), ctx);
  }

  /**
   * The cheaper of targets a and b. Costs go through the `costs` scratch array rather than
   * return values, and helpers get `ctx` rather than `ctx.now`: V8 boxes a floating-point
   * number passed to or returned from a call it did not inline, which would be an
   * allocation per pick.
   */
  private cheaper(a: number, b: number, ctx: PickContext): Target {
    this.storeCost(a, ctx, 0);
    this.storeCost(b, ctx, 1);
    // `<=`: a is the random one of the two, so ties are split evenly.
    return this.costs[0]! <= this.costs[1]! ? this.targets[a]! : this.targets[b]!;
  }

  /** Index of the k-th (0-based) usable target. */
  private nthUsable(k: number, ctx: PickContext): number {
    const targets = this.targets;
    for (let i = 0; i < targets.length; i++) {
      if (usable(targets[i]!, ctx) && k-- === 0) return i;
    }
    return 0; // unreachable: k < the number of usable targets
  }

  /**
   * `costs[slot]` = latency × (inFlight + 1) / effective weight of target i, the latency
   * decayed since its last sample, or the default when it has none.
   */
  private storeCost(i: number, ctx: PickContext, slot: number): void {
    const now = ctx.now;
    const t = this.targets[i]!;
    let latency = t.ewmaMs;
    if (!(latency > 0)) {
      if (!(now - this.defaultLatencyAt < DEFAULT_LATENCY_REFRESH_MS && now >= this.defaultLatencyAt)) this.refreshDefault(ctx);
      latency = this.defaultLatency;
    } else if (latency !== this.seenEwma[i]) {
      this.seenEwma[i] = latency;
      this.seenAt[i] = now;
    } else {
      const elapsed = now - this.seenAt[i]!;
      if (elapsed > 0) latency *= Math.exp(-elapsed / DECAY_MS);
    }
    this.costs[slot] = (latency * (t.inFlight + 1)) / effectiveWeight(t, now, this.slowStartMs);
  }

  /** Sets `defaultLatency` to the median of the known latencies (1 ms when none is known). */
  private refreshDefault(ctx: PickContext): void {
    const targets = this.targets;
    const scratch = this.scratch;
    let count = 0;
    for (let i = 0; i < targets.length; i++) {
      const ewma = targets[i]!.ewmaMs;
      if (ewma > 0) scratch[count++] = ewma;
    }
    let median = NO_SAMPLE_LATENCY_MS;
    if (count > 0) {
      const known = scratch.subarray(0, count).sort();
      median = count % 2 === 1 ? known[count >> 1]! : (known[count / 2 - 1]! + known[count / 2]!) / 2;
    }
    this.defaultLatency = median;
    this.defaultLatencyAt = ctx.now;
  }
}
