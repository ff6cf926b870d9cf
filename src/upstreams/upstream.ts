import type { UpstreamConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { createBalancer, type Balancer, type PickContext } from './balancers/index.js';
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
  availableCount = 0;

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
    this.balancer = createBalancer(config, this.targets);
    this.recount(false);
  }

  /** Takes ownership of the targets' availability notifications (the newest version owns them). */
  attach(): void {
    for (const t of this.targets) t.onAvailabilityChange = () => this.recount(true);
    this.recount(true);
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
    if (panic !== this.panic && log) {
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
      targets: this.targets.map((t) => t.toJSON()),
    };
  }
}
