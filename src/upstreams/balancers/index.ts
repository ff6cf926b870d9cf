import type { BalancerKind } from '../../config/types.js';
import type { Target } from '../target.js';
import { RoundRobinBalancer } from './round-robin.js';
import { SmoothWeightedBalancer } from './smooth-weighted.js';

/** Picks the target for the next request. `null` when none can take it. */
export interface Balancer {
  pick(): Target | null;
}

/** Builds the balancer named in the config for a fixed set of targets. */
export function createBalancer(kind: BalancerKind, targets: readonly Target[]): Balancer {
  switch (kind) {
    case 'round-robin':
      return new RoundRobinBalancer(targets);
    case 'weighted-round-robin':
      return new SmoothWeightedBalancer(targets);
  }
}
