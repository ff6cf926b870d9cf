import type { HashConfig, UpstreamConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { hashKeyOf } from './balancers/hash-key.js';
import { createBalancer, usable, type Balancer, type PickContext } from './balancers/index.js';
import { StickySessions } from './balancers/sticky.js';
import { ActiveHealthChecker } from './health/active.js';
import { OutlierDetector } from './health/outlier.js';
import { SharedOutlierHints } from './health/shared-hints.js';
import { LatencyTracker } from './latency.js';
import { FILE_SOURCE, type MembershipChange, type TargetSetListener } from './membership.js';
import { CircuitBreaker } from './resilience/breaker.js';
import { UpstreamLimits } from './resilience/limits.js';
import { RetryBudget } from './resilience/retry-budget.js';
import { readTlsMaterial } from './pools.js';
import type { TargetRegistry } from './registry.js';
import type { Target } from './target.js';
import type { TargetSet } from './target-set.js';

/**
 * A named service for one config version: how a target is picked from its live target set
 * (shared with other versions through the registry, changed at runtime by providers), and
 * whether it is in panic mode.
 *
 * The version in force follows the set: on every change its balancer, sticky sessions,
 * health checks and outlier detection are brought up to date at once (`sync`). A replaced
 * version stops following, but still serves requests that started on it; its `pick`
 * catches up with the set by comparing versions, so a retry never goes to a target that left.
 */
export class Upstream implements TargetSetListener {
  readonly name: string;
  readonly config: UpstreamConfig;
  /** The live target set this version picks from. */
  readonly set: TargetSet;
  private readonly balancer: Balancer;
  /** The set's version the balancer and sticky sessions were last brought up to date with. */
  private seenVersion = -1;
  private seenRoutable: readonly Target[] | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly ctx: PickContext = { exclude: null, panic: false, hashKey: null, now: 0 };
  /** Fewer targets available than the panic threshold: traffic spreads over all of them. */
  panic = false;
  private panicAnnounced = false;
  /** True until new targets have had their first probe: panic is judged after that. */
  private warming = true;
  availableCount = 0;
  /** Retries allowed against this upstream (a share of its requests). */
  readonly budget: RetryBudget;
  /** Recent latency, for hedging after the observed p95. */
  readonly latency = new LatencyTracker();
  readonly outlier: OutlierDetector;
  readonly health: ActiveHealthChecker | null;
  readonly hash: HashConfig | null;
  readonly sticky: StickySessions | null;
  /** Hard limits on what may be outstanding; null when not configured. */
  readonly limits: UpstreamLimits | null;
  readonly breaker: CircuitBreaker | null;

  constructor(
    config: UpstreamConfig,
    registry: TargetRegistry,
    private readonly logger: Logger,
  ) {
    this.name = config.name;
    this.config = config;
    this.set = registry.targetSet(config.name, logger);
    // Built over what the set holds now; `activate` puts this version's file targets in.
    this.balancer = createBalancer(config, this.set.routable);
    // Kept across reloads while their config is unchanged: a reload must not close an open
    // breaker, refill a spent budget, or forget what is in flight.
    const keep = <T>(kind: string, settings: unknown, create: () => T): T => registry.keep(`${config.name}|${kind}|${JSON.stringify(settings)}`, create);
    this.budget = keep('budget', [config.retry.budgetRatio, config.retry.budgetMinPerSecond], () => new RetryBudget(config.retry.budgetRatio, config.retry.budgetMinPerSecond));
    this.outlier = new OutlierDetector(config.name, config.outlierDetection, this.set.routable, logger);
    const shared = config.outlierDetection.shared;
    // One Redis connection per upstream and settings, across reloads; the new detector takes over.
    if (shared !== undefined) keep('outlier-hints', shared, () => new SharedOutlierHints(config.name, shared, logger)).attach(this.outlier);
    this.health = config.healthCheck === null ? null : new ActiveHealthChecker(config.name, config.healthCheck, this.set.probed, logger, config.tls === null ? null : readTlsMaterial(config.tls));
    this.hash = config.hash;
    this.sticky = config.stickySession === null ? null : new StickySessions(config.stickySession, this.set.routable);
    this.seenRoutable = this.set.routable;
    this.seenVersion = this.set.version;
    const limits = config.limits;
    this.limits = limits === null ? null : keep('limits', limits, () => new UpstreamLimits(limits));
    const breaker = config.circuitBreaker;
    this.breaker =
      breaker === null
        ? null
        : keep(
            'breaker',
            breaker,
            () =>
              new CircuitBreaker(breaker, {
                name: config.name,
                onStateChange: (change) => {
                  const level = change.to === 'open' ? 'error' : change.to === 'closed' ? 'info' : 'warn';
                  logger[level]({ upstream: config.name, from: change.from, to: change.to, openForMs: change.openForMs || undefined }, change.reason);
                },
              }),
          );
    this.recount(false);
  }

  /** Every member of the live set, whatever its state (warming, active, draining). */
  get targets(): readonly Target[] {
    return this.set.members;
  }

  /** Grows whenever the set's membership changes: views keyed on targets compare it. */
  get membershipVersion(): number {
    return this.set.version;
  }

  /**
   * Puts this version in charge: its settings and the config file's targets go into the live
   * set (new targets join, vanished ones drain), it follows the set from now on and runs the
   * health checks. For an upstream new to the gateway, resolves once its targets have had a
   * first probe (bounded by the probe timeout), so it is warm before it takes traffic;
   * targets joining an upstream already serving warm up on their own (`warming`).
   */
  async activate(): Promise<void> {
    const set = this.set;
    this.unsubscribe = set.subscribe(this);
    set.configure(this.config);
    // Never served yet (a new upstream): its targets are probed before it takes traffic.
    const coldStart = !set.isLive;
    // Followed through `membershipChanged`, like any other change.
    set.apply({ op: 'replace', source: FILE_SOURCE, targets: this.config.targets });
    set.goLive();
    if (this.seenVersion !== set.version) this.sync(true);
    const firstProbes = this.health !== null && coldStart && set.probed.length > 0;
    if (!firstProbes) this.warming = false;
    // New targets start unavailable until their first probe: not a panic to announce yet.
    this.recount(!firstProbes);
    if (this.health !== null) {
      // A passing health check ends an outlier ejection early (as Envoy does by default):
      // a target that answers its probes again need not wait out its ejection time.
      const health = this.health;
      const needed = this.config.healthCheck!.healthyThreshold;
      this.health.onProbe = (target, result, sentAt) => {
        const ejection = target.ejection;
        // As many good probes in a row as bring a down target up, all sent after the ejection.
        if (result.ok && ejection !== null && sentAt >= ejection.at && (health.status(target)?.consecutiveSuccesses ?? 0) >= needed) {
          this.logger.info({ upstream: this.name, target: target.origin }, 'ejected target passed its health check; readmitted');
          target.readmit();
        }
      };
      this.health.start();
      if (firstProbes) await this.health.firstResults(this.config.healthCheck!.timeoutMs + 200);
      this.warming = false;
      this.recount(true);
    }
  }

  /** Stops following the set and this version's timers (health checks, readmissions); the next version takes over. */
  deactivate(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.health?.stop();
    this.outlier.stop();
  }

  /** The set changed: follow it at once (a rebuild here keeps picks cheap). */
  membershipChanged(change: MembershipChange): void {
    this.sync(this.set.routable !== this.seenRoutable || change.reweighted.length > 0);
  }

  availabilityChanged(_target: Target): void {
    this.recount(true);
  }

  /**
   * Brings what this version derives from the set up to date: balancer and sticky
   * sessions (when `rebuild`: the routable targets or their weights changed), health checks
   * (warming and active targets), outlier detection and the panic count.
   */
  private sync(rebuild: boolean): void {
    const set = this.set;
    this.seenVersion = set.version;
    const routable = set.routable;
    if (rebuild) {
      this.balancer.update(routable);
      this.sticky?.update(routable);
      this.seenRoutable = routable;
    }
    this.health?.follow(set.probed);
    this.outlier.follow(routable);
    this.recount(true);
  }

  /** A replaced version, still serving requests that started on it, catches up with the set (rare: once per change). */
  private catchUp(): void {
    const routable = this.set.routable;
    this.seenVersion = this.set.version;
    this.balancer.update(routable);
    this.sticky?.update(routable);
    this.seenRoutable = routable;
  }

  /** The request's consistent-hash key. */
  hashKeyOf(rawHeaders: readonly string[], path: string, peerIp: string): string | null {
    return this.hash === null ? null : hashKeyOf(this.hash, rawHeaders, path, peerIp);
  }

  /** The target a sticky-session cookie names, when it can take the request. */
  stickyTarget(rawHeaders: readonly string[]): Target | null {
    if (this.seenVersion !== this.set.version) this.catchUp();
    const ctx = this.ctx;
    ctx.exclude = null;
    ctx.panic = this.panic;
    ctx.hashKey = null;
    ctx.now = Date.now();
    const t = this.sticky!.targetFromRequest(rawHeaders, ctx);
    return t !== null && usable(t, ctx) ? t : null;
  }

  /**
   * The target for the next try: not one already tried when another exists, and only an
   * available one unless in panic mode. Null when none can take it.
   */
  pick(exclude: ReadonlySet<Target> | null, hashKey: string | null): Target | null {
    if (this.seenVersion !== this.set.version) this.catchUp();
    const ctx = this.ctx;
    ctx.exclude = exclude;
    ctx.panic = this.panic;
    ctx.hashKey = hashKey;
    ctx.now = Date.now();
    let target = this.balancer.pick(ctx);
    if (target === null && exclude !== null) {
      // Every other target was tried: a retry may go back to one already used.
      ctx.exclude = null;
      target = this.balancer.pick(ctx);
    }
    ctx.exclude = null;
    return target;
  }

  /** Panic is judged over the routable targets: warming and draining ones take no traffic anyway. */
  private recount(log: boolean): void {
    const routable = this.set.routable;
    let available = 0;
    for (const t of routable) if (t.available) available++;
    this.availableCount = available;
    const panic = available < routable.length * this.config.panicThreshold;
    // Announced once per episode, also when a version starts out in panic (every target
    // failed its first probe), not only on a change.
    if (log && !this.warming && panic !== this.panicAnnounced) {
      this.panicAnnounced = panic;
      if (panic) {
        this.logger.error(
          { upstream: this.name, available, targets: routable.length, panicThreshold: this.config.panicThreshold },
          `upstream "${this.name}" is in PANIC mode: only ${available} of ${routable.length} targets are available; traffic now spreads over all targets`,
        );
      } else {
        this.logger.warn({ upstream: this.name, available, targets: routable.length }, `upstream "${this.name}" left panic mode`);
      }
    }
    this.panic = panic;
  }

  /** One member for the admin API: its counters and health, its place in the set (state, sources, drain), its checks. */
  describeTarget(t: Target): Record<string, unknown> {
    return { ...t.toJSON(), ...this.set.viewOf(t), healthCheck: this.health?.status(t), outlier: this.outlier.status(t) };
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      balancer: this.config.balancer,
      panic: this.panic,
      available: this.availableCount,
      retryBudget: this.budget.toJSON(),
      limits: this.limits?.stats(),
      circuitBreaker: this.breaker?.stats(Date.now()),
      latencyP95Ms: this.latency.p95(),
      targets: this.targets.map((t) => this.describeTarget(t)),
      heldOut: this.set.heldOut(),
    };
  }
}
