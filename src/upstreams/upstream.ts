import type { HashConfig, UpstreamConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { hashKeyOf } from './balancers/hash-key.js';
import { createBalancer, usable, type Balancer, type PickContext } from './balancers/index.js';
import { StickySessions } from './balancers/sticky.js';
import { ActiveHealthChecker } from './health/active.js';
import { OutlierDetector } from './health/outlier.js';
import { LatencyTracker } from './latency.js';
import { CircuitBreaker } from './resilience/breaker.js';
import { UpstreamLimits } from './resilience/limits.js';
import { RetryBudget } from './resilience/retry-budget.js';
import type { TargetRegistry } from './registry.js';
import type { Target } from './target.js';

/**
 * A named service for one config version: its targets (shared with other versions through
 * the registry), how one is picked, and whether it is in panic mode.
 */
export class Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly targets: readonly Target[];
  /** Targets created by this version (not inherited from the previous one). */
  readonly newTargets: readonly Target[];
  private readonly balancer: Balancer;
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
    const created: Target[] = [];
    this.targets = config.targets.map((t) => {
      const { target, isNew } = registry.acquire(config, t);
      if (isNew) created.push(target);
      return target;
    });
    this.newTargets = created;
    // A new target of a health-checked upstream takes no traffic before its first good probe.
    if (config.healthCheck !== null && !config.healthCheck.initiallyHealthy) for (const t of created) t.setActiveHealth(false, 'not probed yet');
    // Health checks removed from the config: what they last said no longer applies.
    if (config.healthCheck === null) for (const t of this.targets) if (!t.activeHealthy) t.setActiveHealth(true, null);
    this.balancer = createBalancer(config, this.targets);
    // Kept across reloads while their config is unchanged: a reload must not close an open
    // breaker, refill a spent budget, or forget what is in flight.
    const keep = <T>(kind: string, settings: unknown, create: () => T): T => registry.keep(`${config.name}|${kind}|${JSON.stringify(settings)}`, create);
    this.budget = keep('budget', [config.retry.budgetRatio, config.retry.budgetMinPerSecond], () => new RetryBudget(config.retry.budgetRatio, config.retry.budgetMinPerSecond));
    this.outlier = new OutlierDetector(config.name, config.outlierDetection, this.targets, logger);
    this.health = config.healthCheck === null ? null : new ActiveHealthChecker(config.name, config.healthCheck, this.targets, logger);
    this.hash = config.hash;
    this.sticky = config.stickySession === null ? null : new StickySessions(config.stickySession, this.targets);
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

  /**
   * Puts this version in charge: it owns the targets' availability notifications and runs
   * the health checks. Resolves once new targets have had a first probe (bounded by the
   * probe timeout), so a new upstream is warm before it takes traffic.
   */
  async activate(): Promise<void> {
    if (this.health === null || this.newTargets.length === 0) this.warming = false;
    for (const t of this.targets) t.onAvailabilityChange = () => this.recount(true);
    // New targets start unavailable until their first probe: not a panic to announce yet.
    this.recount(this.health === null || this.newTargets.length === 0);
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
      if (this.newTargets.length > 0) await this.health.firstResults(this.config.healthCheck!.timeoutMs + 200);
      this.warming = false;
      this.recount(true);
    }
  }

  /** Stops this version's timers (health checks, readmissions); the next version takes over. */
  deactivate(): void {
    this.health?.stop();
    this.outlier.stop();
  }

  /** The request's consistent-hash key. */
  hashKeyOf(rawHeaders: readonly string[], path: string, peerIp: string): string | null {
    return this.hash === null ? null : hashKeyOf(this.hash, rawHeaders, path, peerIp);
  }

  /** The target a sticky-session cookie names, when it can take the request. */
  stickyTarget(rawHeaders: readonly string[]): Target | null {
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

  private recount(log: boolean): void {
    let available = 0;
    for (const t of this.targets) if (t.available) available++;
    this.availableCount = available;
    const panic = available < this.targets.length * this.config.panicThreshold;
    // Announced once per episode, also when a version starts out in panic (every target
    // failed its first probe), not only on a change.
    if (log && !this.warming && panic !== this.panicAnnounced) {
      this.panicAnnounced = panic;
      if (panic) {
        this.logger.error(
          { upstream: this.name, available, targets: this.targets.length, panicThreshold: this.config.panicThreshold },
          `upstream "${this.name}" is in PANIC mode: only ${available} of ${this.targets.length} targets are available; traffic now spreads over all targets`,
        );
      } else {
        this.logger.warn({ upstream: this.name, available, targets: this.targets.length }, `upstream "${this.name}" left panic mode`);
      }
    }
    this.panic = panic;
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
      targets: this.targets.map((t) => ({ ...t.toJSON(), healthCheck: this.health?.status(t), outlier: this.outlier.status(t) })),
    };
  }
}
