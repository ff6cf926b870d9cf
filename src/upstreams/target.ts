import type { TargetConfig } from '../config/types.js';
import type { Ejection, MemberState, TargetView } from '../core/views.js';
import type { DispatchPool } from './pools.js';

export type { MemberState };

/** Half-life-like decay constant of the latency EWMA (Finagle uses 10 s). */
const EWMA_DECAY_MS = 10_000;

/**
 * One instance of a service as the runtime sees it: its pool, load, latency and health.
 * Targets outlive config versions (the registry hands the same object to the next
 * version while its upstream and origin stay), so health and latency survive reloads.
 * Fields are mutable on purpose: the proxy updates them on every request and the
 * balancer reads them, without allocating.
 */
export class Target implements TargetView {
  /** `upstream|origin+basePath`: identity across reloads. */
  readonly key: string;
  readonly upstream: string;
  readonly origin: string;
  readonly basePath: string;
  /** `host:port`, for upstreams that send the target's Host. */
  readonly hostHeader: string;
  /** A short stable id (for sticky cookies, logs). */
  readonly id: string;
  weight: number;
  pool: DispatchPool;

  /** Requests sent and not yet finished: raised when a try is sent, lowered by `requestEnded`. */
  inFlight = 0;
  completed = 0;
  /** Requests that ended in a gateway-side failure (connect, reset, timeout). */
  failures = 0;

  /** `performance.now()` when a response head last came from it (0: never): a target that gives none is stalling. */
  lastHeadAt = 0;

  /** Peak EWMA of response-header latency, in ms (0: no sample yet). */
  ewmaMs = 0;
  private ewmaAt = 0;

  /** Set by active health checks; true when there are none. */
  activeHealthy = true;
  /** Why the last probe failed, when it did. */
  activeReason: string | null = null;
  /** Set by outlier detection while ejected. */
  ejection: Ejection | null = null;
  /** How many times outlier detection has ejected it (drives the growing ejection time). */
  ejections = 0;
  /** Derived: takes traffic (healthy and not ejected). Kept as a field so the hot path reads one boolean. */
  available = true;
  /** `Date.now()` when it last became available (slow start ramps from here; a new target starts now). */
  availableSince = Date.now();
  /** Called when `available` flips; set by the owning upstream. */
  onAvailabilityChange: ((target: Target) => void) | null = null;
  /** Called on every ejection (metrics count them by reason); set by the stats recorder. */
  onEject: ((target: TargetView, ejection: Ejection) => void) | null = null;
  /** Its place in the upstream's live set; set by the set. */
  memberState: MemberState = 'active';
  /** Called when `inFlight` drops to 0; set by the target set while the target drains. */
  onIdle: ((target: Target) => void) | null = null;

  constructor(upstream: string, config: TargetConfig, pool: DispatchPool) {
    this.upstream = upstream;
    this.origin = config.origin;
    this.basePath = config.basePath;
    this.key = `${upstream}|${config.origin}${config.basePath}`;
    this.weight = config.weight;
    this.pool = pool;
    this.hostHeader = new URL(config.origin).host;
    this.id = shortHash(this.key);
  }

  /**
   * A request (or one try of it) sent to this target ended, however it ended. Every
   * `inFlight++` is paired with exactly one call: a draining target learns here that its
   * last request finished.
   */
  requestEnded(): void {
    this.completed++;
    if (--this.inFlight === 0 && this.onIdle !== null) this.onIdle(this);
  }

  /**
   * Peak EWMA (Finagle/Linkerd): a slower sample raises the average at once, faster ones
   * pull it down with a decay that depends on the time since the last sample, so a target
   * that turns slow is avoided quickly and trusted again only gradually.
   */
  observeLatency(ms: number, now: number): void {
    if (this.ewmaAt === 0 || ms > this.ewmaMs) {
      this.ewmaMs = ms;
    } else {
      const w = Math.exp(-(now - this.ewmaAt) / EWMA_DECAY_MS);
      this.ewmaMs = this.ewmaMs * w + ms * (1 - w);
    }
    this.ewmaAt = now;
  }

  /** The active checker's verdict. */
  setActiveHealth(healthy: boolean, reason: string | null): void {
    this.activeHealthy = healthy;
    this.activeReason = healthy ? null : reason;
    this.refresh();
  }

  eject(ejection: Ejection): void {
    this.ejection = ejection;
    this.ejections++;
    this.onEject?.(this, ejection);
    this.refresh();
  }

  /** Ends an ejection (its time is up). */
  readmit(): void {
    if (this.ejection === null) return;
    this.ejection = null;
    this.refresh();
  }

  /**
   * The share of its weight a target gets while ramping up after joining or coming back:
   * linear from 10% to 100% over `slowStartMs`.
   */
  slowStartFactor(now: number, slowStartMs: number): number {
    if (slowStartMs <= 0) return 1;
    const elapsed = now - this.availableSince;
    if (elapsed >= slowStartMs) return 1;
    return Math.max(0.1, elapsed / slowStartMs);
  }

  private refresh(): void {
    const available = this.activeHealthy && this.ejection === null;
    if (available === this.available) return;
    this.available = available;
    if (available) {
      this.availableSince = Date.now();
      // What was measured while it failed (timeouts, failure penalties) says nothing about
      // the target that came back; kept, it would starve the target of traffic for good.
      this.ewmaMs = 0;
      this.ewmaAt = 0;
    }
    this.onAvailabilityChange?.(this);
  }

  /** The admin API view. */
  toJSON(): Record<string, unknown> {
    const s = this.pool.stats;
    return {
      id: this.id,
      url: this.origin + this.basePath,
      origin: this.origin,
      basePath: this.basePath || undefined,
      weight: this.weight,
      state: this.memberState,
      available: this.available,
      activeHealthy: this.activeHealthy,
      activeReason: this.activeReason ?? undefined,
      ejected: this.ejection === null ? undefined : { reason: this.ejection.reason, since: new Date(this.ejection.at).toISOString(), until: new Date(this.ejection.until).toISOString() },
      ejections: this.ejections,
      inFlight: this.inFlight,
      completed: this.completed,
      failures: this.failures,
      latencyEwmaMs: Math.round(this.ewmaMs * 1000) / 1000,
      pool: { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running },
    };
  }
}

/** FNV-1a, base 36: short, stable, not secret. */
function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
