import type { Target } from '../target.js';
import type { Balancer } from './index.js';

/**
 * Smooth weighted round robin (the NGINX algorithm): every pick adds each target's weight
 * to its running score and takes the highest, then subtracts the total from the winner.
 * Weights 5,1,1 give a a b a c a a rather than a a a a a b c, so no target sees bursts.
 */
export class SmoothWeightedBalancer implements Balancer {
  private readonly current: Float64Array;
  private readonly total: number;
  private readonly uniform: boolean;
  private next = 0;

  constructor(private readonly targets: readonly Target[]) {
    this.current = new Float64Array(targets.length);
    this.total = targets.reduce((sum, t) => sum + t.weight, 0);
    this.uniform = targets.every((t) => t.weight === targets[0]!.weight);
  }

  pick(): Target | null {
    const targets = this.targets;
    const n = targets.length;
    if (n === 0) return null;
    if (n === 1) return targets[0]!;
    if (this.uniform) {
      // Equal weights reduce to plain rotation; skip the scoring loop.
      const t = targets[this.next]!;
      this.next = this.next + 1 === n ? 0 : this.next + 1;
      return t;
    }
    const current = this.current;
    let best = 0;
    for (let i = 0; i < n; i++) {
      current[i]! += targets[i]!.weight;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= this.total;
    return targets[best]!;
  }
}
