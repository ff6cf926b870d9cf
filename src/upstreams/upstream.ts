import type { UpstreamConfig } from '../config/types.js';
import { createBalancer, type Balancer } from './balancers/index.js';
import type { PoolRegistry } from './pools.js';
import { Target } from './target.js';

/**
 * A named service: its targets and how one is picked. Built per config version; the
 * targets' pools come from the registry, so they survive reloads.
 */
export class Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly targets: readonly Target[];
  private readonly balancer: Balancer;

  constructor(config: UpstreamConfig, pools: PoolRegistry) {
    this.name = config.name;
    this.config = config;
    this.targets = config.targets.map((t) => new Target(t, pools.acquire(t.origin, config)));
    this.balancer = createBalancer(config.balancer, this.targets);
  }

  /** The target for the next request, or null when none can take it. */
  pick(): Target | null {
    return this.balancer.pick();
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, balancer: this.config.balancer, targets: this.targets.map((t) => t.toJSON()) };
  }
}
