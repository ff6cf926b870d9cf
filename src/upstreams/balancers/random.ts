import type { Target } from '../target.js';
import { effectiveWeight, usable, type Balancer, type PickContext } from './balancer.js';
import { Rng } from './rng.js';

/**
 * Weighted random: each usable target with probability `effectiveWeight / sum`. Keeps no
 * state, so it behaves the same from every gateway instance and never synchronises bursts
 * across instances the way round robins started together can.
 *
 * Two passes over the targets (sum, then walk to the drawn point) rather than a precomputed
 * cumulative table: usability and slow start change between picks, and for the target
 * counts an upstream has, a scan is cheaper than keeping a table in step.
 */
export class RandomBalancer implements Balancer {
  /** @param rng injectable for reproducible tests; seeded at random by default. */
  constructor(
    private targets: readonly Target[],
    private readonly slowStartMs: number,
    private readonly rng: Rng = new Rng(),
  ) {}

  update(targets: readonly Target[]): void {
    this.targets = targets;
  }

  pick(ctx: PickContext): Target | null {
    const targets = this.targets;
    const n = targets.length;
    const slowStartMs = this.slowStartMs;
    let total = 0;
    let last: Target | null = null;
    for (let i = 0; i < n; i++) {
      const t = targets[i]!;
      if (!usable(t, ctx)) continue;
      total += effectiveWeight(t, ctx.now, slowStartMs);
      last = t;
    }
    if (last === null) return null;
    let r = this.rng.float() * total;
    for (let i = 0; i < n; i++) {
      const t = targets[i]!;
      if (!usable(t, ctx)) continue;
      r -= effectiveWeight(t, ctx.now, slowStartMs);
      if (r < 0) return t;
    }
    // Rounding (or all weights 0) left r at or just above 0: the last usable target.
    return last;
  }
}
