/**
 * Read-only views of the data plane's live objects, for the layers that watch it (metrics,
 * stats, traces, the admin API) without depending on how it is built. The upstream layer's
 * `Target` and `Upstream` and the router's compiled routes satisfy these shapes as they
 * are: a view costs no copy and no allocation on the request path.
 */
import type { Middleware } from './middleware.js';

/** Why a target is not taking traffic, for the admin API and logs. */
export interface Ejection {
  readonly reason: string;
  /** `Date.now()` when it ends. */
  readonly until: number;
  readonly at: number;
}

/**
 * Where a target stands in its upstream's live target set (`src/upstreams/target-set.ts`):
 * - `warming`: joined a running upstream and waits for its first passing health check;
 *   not picked, not counted for panic mode.
 * - `active`: picked by the balancer (when `available`).
 * - `draining`: leaving; no new requests, the ones in flight finish.
 * - `removed`: gone, its pool closed.
 */
export type MemberState = 'warming' | 'active' | 'draining' | 'removed';

/** One target (an instance of a service) as watchers see it. */
export interface TargetView {
  /** `upstream|origin+basePath`: identity across reloads. */
  readonly key: string;
  readonly upstream: string;
  readonly origin: string;
  readonly basePath: string;
  /** Takes traffic (healthy and not ejected). */
  readonly available: boolean;
  readonly activeHealthy: boolean;
  /** Why the last probe failed, when it did. */
  readonly activeReason: string | null;
  readonly ejection: Ejection | null;
  /** Peak EWMA of response-header latency, ms (0: no sample yet). */
  readonly ewmaMs: number;
  /** Tries sent and not yet finished. */
  readonly inFlight: number;
  /** Its place in the upstream's live target set. */
  readonly memberState: MemberState;
  /** Told every ejection (metrics count them by reason); set by the recorder. */
  onEject: ((target: TargetView, ejection: Ejection) => void) | null;
}

/** A named upstream of one config version as watchers see it. */
export interface UpstreamView {
  readonly name: string;
  /** Every member of the live target set (warming, active, draining); changes at runtime. */
  readonly targets: readonly TargetView[];
  /** Grows whenever `targets` changes (members, states, weights): views keyed on targets compare it. */
  readonly membershipVersion: number;
  /** Targets taking traffic now. */
  readonly availableCount: number;
  /** Too few targets available: traffic spreads over all of them. */
  readonly panic: boolean;
  /** The circuit breaker's state, or null when the upstream has none. */
  readonly breaker: { readonly state: 'closed' | 'open' | 'half-open' } | null;
}

/** A route of one config version as watchers see it. */
export interface RouteView {
  readonly name: string;
  /** Position in the file: routes are recorded by it. */
  readonly index: number;
  /** The upstream's name; '' for an aggregate route. */
  readonly upstreamName: string;
  /** The route's path as a template for traces (`/api/users/{id}`), or undefined when it has none. */
  readonly template: string | undefined;
}

/** One config version of the data plane as watchers see it. */
export interface RuntimeView {
  readonly version: number;
  /** The routes in file order (index = `RouteView.index`). */
  readonly routes: readonly RouteView[];
  readonly upstreams: ReadonlyMap<string, UpstreamView>;
  /** Each route's middlewares by index, null when it has none (their `stats()` are read). */
  readonly pipelineOfRoute: readonly (readonly Middleware[] | null)[];
}
