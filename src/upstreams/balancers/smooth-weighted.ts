import type { Target } from '../target.js';
import { usable, type Balancer, type PickContext } from './balancer.js';

/**
 * Smooth weighted round robin (the NGINX algorithm): every pick adds each usable target's
 * effective weight to its running score and takes the highest, then subtracts the total
 * from the winner. Weights 5,1,1 give a a b a c a a rather than a a a a a b c, so no
 * target sees bursts. Slow start scales the effective weight of a target that just
 * (re)joined.
 */
export class SmoothWeightedBalancer implements Balancer {
  private current: Float64Array;

  constructor(
    private targets: readonly Target[],
    private readonly slowStartMs: number,
  ) {
    this.current = new Float64Array(targets.length);
  }

  /** Running scores start again from 0, as NGINX does on a change: the sequence stays smooth. */
  update(targets: readonly Target[]): void {
    this.targets = targets;
    this.current = new Float64Array(targets.length);
  }

  pick(ctx: PickContext): Target | null {
    const targets = this.targets;
    const n = targets.length;
    if (n === 1) return usable(targets[0]!, ctx) ? targets[0]! : null;
    const current = this.current;
    const slowStartMs = this.slowStartMs;
    let best = -1;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const t = targets[i]!;
      if (!usable(t, ctx)) continue;
      const w = slowStartMs > 0 ? t.weight * t.slowStartFactor(ctx.now, slowStartMs) : t.weight;
      current[i]! += w;
      total += w;
      if (best === -1 || current[i]! > current[best]!) best = i;
    }
    if (best === -1) return null;
    current[best]! -= total;
    return targets[best]!;
  }
}
