import type { Target } from '../target.js';
import type { Balancer } from './index.js';

/** Plain rotation, ignoring weights. */
export class RoundRobinBalancer implements Balancer {
  private next = 0;
  constructor(private readonly targets: readonly Target[]) {}

  pick(): Target | null {
    const n = this.targets.length;
    if (n === 0) return null;
    const t = this.targets[this.next]!;
    this.next = this.next + 1 === n ? 0 : this.next + 1;
    return t;
  }
}
