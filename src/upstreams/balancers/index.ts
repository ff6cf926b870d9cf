import type { HashConfig, UpstreamConfig } from '../../config/types.js';
import type { Target } from '../target.js';
import type { Balancer } from './balancer.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { LeastConnectionsBalancer } from './least-connections.js';
import { P2cEwmaBalancer } from './p2c-ewma.js';
import { RandomBalancer } from './random.js';
import { RoundRobinBalancer } from './round-robin.js';
import { SmoothWeightedBalancer } from './smooth-weighted.js';

export { effectiveWeight, usable, type Balancer, type PickContext } from './balancer.js';

/**
 * Used only if a `consistent-hash` upstream reaches the runtime without a `hash` key (the
 * config normalizer reports that as a problem, so this is belt and braces): requests then
 * have no key and are spread by weighted round robin, rather than the build throwing.
 */
const FALLBACK_HASH: HashConfig = { source: 'ip', name: '', algorithm: 'ring', boundedLoad: 1.25 };

/**
 * Builds the balancer named in the config over the upstream's routable targets.
 *
 * @example
 * const balancer = createBalancer(upstreamConfig, targets);
 * const target = balancer.pick(ctx); // null: no target can take the request
 */
export function createBalancer(config: UpstreamConfig, targets: readonly Target[]): Balancer {
  switch (config.balancer) {
    case 'p2c-ewma':
      return new P2cEwmaBalancer(targets, config.slowStartMs);
    case 'round-robin':
      return new RoundRobinBalancer(targets);
    case 'weighted-round-robin':
      return new SmoothWeightedBalancer(targets, config.slowStartMs);
    case 'least-connections':
      return new LeastConnectionsBalancer(targets, config.slowStartMs);
    case 'random':
      return new RandomBalancer(targets, config.slowStartMs);
    case 'consistent-hash':
      return new ConsistentHashBalancer(targets, config.hash ?? FALLBACK_HASH, config.slowStartMs);
  }
}
