import type { Target } from '../target.js';
import { usable, type Balancer, type PickContext } from './balancer.js';

/** Plain rotation, ignoring weights; skips targets that cannot take the request. */
export class RoundRobinBalancer implements Balancer {
  private next = 0;
  constructor(private targets: readonly Target[]) {}

  update(targets: readonly Target[]): void {
    this.targets = targets;
    if (this.next >= targets.length) this.next = 0;
  }

  pick(ctx: PickContext): Target | null {
    const targets = this.targets;
    const n = targets.length;
    for (let tried = 0; tried < n; tried++) {
      const t = targets[this.next]!;
      this.next = this.next + 1 === n ? 0 : this.next + 1;
      if (usable(t, ctx)) return t;
    }
    return null;
  }
}
