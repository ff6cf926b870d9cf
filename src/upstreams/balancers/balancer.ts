/**
 * The balancer contract: what a pick may use and what it returns. Every balancer module
 * depends on this file only, and `index.ts` (the factory) on them.
 */
import type { Target } from '../target.js';

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
 * @example
 * const w = effectiveWeight(target, ctx.now, config.slowStartMs); // 0.1 × weight right after it came back
 */
export function effectiveWeight(t: Target, now: number, slowStartMs: number): number {
  return slowStartMs > 0 ? t.weight * t.slowStartFactor(now, slowStartMs) : t.weight;
}

/**
 * Picks the target for the next request from the upstream's routable targets (so
 * balancers may precompute over them), skipping those not `usable`. Null when none is.
 * Implementations never throw and allocate nothing per pick on the common path.
 *
 * The list changes at runtime (targets join, drain, change weight): the upstream calls
 * `update` with the new list, and the balancer rebuilds what it precomputed. Changes are
 * rare and picks are hot, so the work goes into `update`, never into `pick`.
 */
export interface Balancer {
  pick(ctx: PickContext): Target | null;
  /** The routable targets changed (members or weights): precompute again over `targets`. */
  update(targets: readonly Target[]): void;
}
