/**
 * The membership model of an upstream's live target set, as plain data: what providers
 * send (commands), what the set answers (results), and what it tells its followers
 * (changes). Everything here is serialisable on purpose: a later control plane computes
 * membership once and pushes the same commands to every data-plane worker.
 *
 * See `src/upstreams/README.md` for the model (sources, states, who follows the set).
 */
import type { TargetConfig } from '../config/types.js';
import type { MemberState, Target } from './target.js';

/** The config file's contribution; a reload replaces it whole. */
export const FILE_SOURCE = 'file';
/** Targets added through the admin API; they survive reloads (not restarts). */
export const ADMIN_SOURCE = 'admin';

/**
 * When several sources name the same target (same origin and base path), it is one target
 * whose settings (its weight) come from the first of them in this order; sources not listed
 * come after, in name order. The admin API first: it is an operator's deliberate act, made
 * at runtime on purpose. Fixed, so the outcome never depends on the order events arrived in.
 */
export const SOURCE_PRECEDENCE: readonly string[] = [ADMIN_SOURCE, FILE_SOURCE];

/**
 * A change to an upstream's target set, as data.
 *
 * - `replace`: the source's whole contribution (a reload sends the file's targets). New
 *   targets join (warming first when the upstream has health checks), those no longer
 *   named by any source drain, kept ones stay untouched but for their weight.
 * - `add`: one target into the source's contribution. Refused when the target is already a
 *   member (unless it is draining: then it stays, or held out: then it comes back).
 * - `drain`: takes the target out, whichever sources name it: no new requests, in-flight
 *   ones finish within `timeoutMs` (default: the upstream's `drainTimeout`), then its pool
 *   is closed. Sources other than `admin` that still name it are *held out*: it stays out
 *   until an `add` brings it back or no source names it any more.
 * - `remove`: `drain` with a zero bound: requests in flight are cut (and retried elsewhere
 *   when the route's retry policy allows).
 *
 * `key` is the target's identity: origin plus base path (`http://10.0.0.7:8080/api`).
 */
export type MembershipCommand =
  | { readonly op: 'replace'; readonly source: string; readonly targets: readonly TargetConfig[] }
  | { readonly op: 'add'; readonly source: string; readonly target: TargetConfig }
  | { readonly op: 'drain'; readonly key: string; readonly timeoutMs?: number }
  | { readonly op: 'remove'; readonly key: string };

/** Why a command was refused. */
export type MembershipRefusal = 'exists' | 'not-found';

/** What a command did; `target` is the member it concerned (for `add`, `drain`, `remove`). */
export type MembershipResult = { readonly ok: true; readonly target?: MemberView } | { readonly ok: false; readonly reason: MembershipRefusal; readonly message: string; readonly target?: MemberView };

/** What the set tells its followers after one command; every list may be empty. */
export interface MembershipChange {
  /** Joined the set (as `warming` or `active`). */
  readonly added: readonly Target[];
  /** Became routable: warming → active, or a draining target brought back. */
  readonly activated: readonly Target[];
  /** Stopped being routable (draining); still a member until its requests finish. */
  readonly draining: readonly Target[];
  /** Left the set; their pools are closed (or closing). */
  readonly removed: readonly Target[];
  /** Kept, with a new weight. */
  readonly reweighted: readonly Target[];
}

/** Follows an upstream's target set (an upstream version, for its balancer and health checks). */
export interface TargetSetListener {
  /** Membership or weights changed; read the set's lists again. */
  membershipChanged(change: MembershipChange): void;
  /** A member's `available` flipped (health check, ejection). */
  availabilityChanged(target: Target): void;
}

/** A member, for the admin API and for replies to a control plane. */
export interface MemberView {
  readonly id: string;
  /** Origin plus base path: the target's identity. */
  readonly url: string;
  readonly state: MemberState;
  /** The sources that name it, in precedence order. */
  readonly sources: readonly string[];
  readonly weight: number;
  /** While draining: when the drain started and when what is left is cut (ISO 8601). */
  readonly drain?: { readonly since: string; readonly deadline: string };
}

/** The source of the instances of services Brisk runs (src/supervisor/). */
export const SUPERVISOR_SOURCE = 'supervisor';

/** A member with what a supervisor watches (its health and load), as data, so it can come from workers. */
export interface MemberStatus extends MemberView {
  /** As watchers name it: `warming` until its first probe, `unhealthy` (health check), `ejected` (outlier detection). */
  readonly health: 'healthy' | 'unhealthy' | 'ejected' | 'warming';
  /** Why it is unhealthy or ejected; null otherwise. */
  readonly reason: string | null;
  /** Tries sent to it and not finished. */
  readonly inFlight: number;
  /** The balancer's latency estimate (peak EWMA of response-head latency, ms; 0: no sample). */
  readonly latencyEwmaMs: number;
  /** The last active health probe with a result: when it was sent (`Date.now()`), how long it took, whether it passed; null before one, or without health checks. */
  readonly lastProbe: { readonly at: number; readonly ms: number; readonly ok: boolean; readonly answered: boolean } | null;
}

/** The identity of a target config: origin plus base path. */
export function keyOf(target: Pick<TargetConfig, 'origin' | 'basePath'>): string {
  return target.origin + target.basePath;
}

/** Sorts source names by `SOURCE_PRECEDENCE`, then by name. */
export function bySourcePrecedence(a: string, b: string): number {
  const ra = rank(a);
  const rb = rank(b);
  return ra !== rb ? ra - rb : a < b ? -1 : a > b ? 1 : 0;
}

function rank(source: string): number {
  const i = SOURCE_PRECEDENCE.indexOf(source);
  return i === -1 ? SOURCE_PRECEDENCE.length : i;
}
