import type { Target } from '../target.js';
import { effectiveWeight, usable, type Balancer, type PickContext } from './balancer.js';

/**
 * Weighted least connections, as HAProxy's `leastconn` scores it: the target with the
 * lowest `(inFlight + 1) / effectiveWeight`, i.e. the lowest load it would have *after*
 * taking this request relative to its capacity. The `+ 1` matters: with plain
 * `inFlight / weight` every idle target ties at 0 and weights stop mattering exactly when
 * the upstream is quiet, and a target in slow start would look as good as any other.
 *
 * Ties go to the first target found from a start index that advances on every pick, so
 * equal targets (the common case: equal weights, all idle) share requests evenly instead of
 * the first one in the list taking every tie.
 */
export class LeastConnectionsBalancer implements Balancer {
  private start = 0;

  constructor(
    private targets: readonly Target[],
    private readonly slowStartMs: number,
  ) {}

  update(targets: readonly Target[]): void {
    this.targets = targets;
    if (this.start >= targets.length) this.start = 0;
  }

  pick(ctx: PickContext): Target | null {
    const targets = this.targets;
    const n = targets.length;
    if (n === 0) return null;
    const start = this.start;
    this.start = start + 1 === n ? 0 : start + 1;
    const slowStartMs = this.slowStartMs;
    let best: Target | null = null;
    let bestScore = Infinity;
    for (let k = 0, i = start; k < n; k++) {
      const t = targets[i]!;
      i = i + 1 === n ? 0 : i + 1;
      if (!usable(t, ctx)) continue;
      const score = (t.inFlight + 1) / effectiveWeight(t, ctx.now, slowStartMs);
      // `best === null`: a usable target is returned even if its weight is 0 (score Infinity).
      if (score < bestScore || best === null) {
        best = t;
        bestScore = score;
      }
    }
    return best;
  }
}
