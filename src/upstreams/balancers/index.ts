import type { UpstreamConfig } from '../../config/types.js';
import type { Target } from '../target.js';
import { RoundRobinBalancer } from './round-robin.js';
import { SmoothWeightedBalancer } from './smooth-weighted.js';

/**
 * What a pick may use. One mutable object per upstream, filled before each pick: picks are
 * synchronous, so sharing it costs nothing and allocates nothing per request.
 */
export interface PickContext {
  /** Targets already tried by this request (retries and hedges go elsewhere), or null. */
  exclude: ReadonlySet<Target> | null;
  /** Panic mode: unavailable targets are used too. */
  panic: boolean;
  /** The consistent-hash key of the request, or null when it has none. */
  hashKey: string | null;
  /** `Date.now()`. */
  now: number;
}

/** True when the target may take this request. */
export function usable(t: Target, ctx: PickContext): boolean {
  return (ctx.panic || t.available) && (ctx.exclude === null || !ctx.exclude.has(t));
}

/**
 * Picks the target for the next request from the upstream's full, fixed target list
 * (so balancers may precompute over it), skipping those not `usable`. Null when none is.
 */
export interface Balancer {
  pick(ctx: PickContext): Target | null;
}

/** Builds the balancer named in the config for a fixed set of targets. */
export function createBalancer(config: UpstreamConfig, targets: readonly Target[]): Balancer {
  switch (config.balancer) {
    case 'round-robin':
      return new RoundRobinBalancer(targets);
    case 'weighted-round-robin':
      return new SmoothWeightedBalancer(targets, config.slowStartMs);
    default:
      // Balancers not built yet fall back to smooth weighted round robin.
      return new SmoothWeightedBalancer(targets, config.slowStartMs);
  }
}
