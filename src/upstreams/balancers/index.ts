import type { HashConfig, UpstreamConfig } from '../../config/types.js';
import type { Target } from '../target.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { LeastConnectionsBalancer } from './least-connections.js';
import { P2cEwmaBalancer } from './p2c-ewma.js';
import { RandomBalancer } from './random.js';
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
 * The weight a target competes with right now: its configured weight, scaled down while it
 * ramps up after joining or coming back (slow start, `slowStartMs > 0`).
 *
 * A function declaration (not a const) on purpose: the balancer modules import it from
 * here while this module imports them, and hoisted functions are usable across that cycle.
 *
 * @example
 * const w = effectiveWeight(target, ctx.now, config.slowStartMs); // 0.1 × weight right after it came back
 */
export function effectiveWeight(t: Target, now: number, slowStartMs: number): number {
  return slowStartMs > 0 ? t.weight * t.slowStartFactor(now, slowStartMs) : t.weight;
}

/**
 * Picks the target for the next request from the upstream's full, fixed target list
 * (so balancers may precompute over it), skipping those not `usable`. Null when none is.
 * Implementations never throw and allocate nothing per pick on the common path.
 */
export interface Balancer {
  pick(ctx: PickContext): Target | null;
}

/**
 * Used only if a `consistent-hash` upstream reaches the runtime without a `hash` key (the
 * config normalizer reports that as a problem, so this is belt and braces): requests then
 * have no key and are spread by weighted round robin, rather than the build throwing.
 */
const FALLBACK_HASH: HashConfig = { source: 'ip', name: '', algorithm: 'ring', boundedLoad: 1.25 };

/**
 * Builds the balancer named in the config for a fixed set of targets.
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
