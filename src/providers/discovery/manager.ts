/**
 * Service discovery in the control plane: one `DiscoveryFeed` per upstream that has a
 * `discovery` block, started at start and reconciled on each reload. Loaded only when
 * some upstream has one (the control plane imports this module dynamically), and each
 * provider's implementation only when an upstream uses it (its descriptor's `load()`).
 *
 * It drives the data plane through membership commands only (`replace` of the
 * `discovery:KIND` source), so it works the same in front of data-plane workers.
 */
import type { Config } from '../../config/types.js';
import type { Logger } from '../../observability/logger.js';
import type { DiscoverySnapshot } from '../../observability/snapshot.js';
import { providerOf } from './config/registry.js';
import type { DiscoveryConfig } from './config/types.js';
import { DiscoveryFeed, type DiscoveryPort } from './feed.js';

export type { DiscoveryPort } from './feed.js';

/**
 * @example
 * const discovery = new DiscoveryManager(dataPlane, logger);
 * await discovery.apply(config, true);   // snapshots restored, first answers awaited (bounded)
 * await discovery.apply(nextConfig, false);
 * await discovery.stop();
 */
export class DiscoveryManager {
  private readonly feeds = new Map<string, DiscoveryFeed>();
  private stopped = false;

  constructor(
    private readonly port: DiscoveryPort,
    private readonly logger: Logger,
  ) {}

  /**
   * Puts the discovery blocks of `config` in force: new ones start (from their snapshot,
   * then their provider), changed ones restart (keeping their view when they read the same
   * registry), removed ones stop and their targets drain. With `wait`, resolves once each
   * new feed has a first answer or failure, or its `startWait` passed.
   */
  async apply(config: Config, wait: boolean): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map<string, DiscoveryConfig>();
    for (const [name, u] of Object.entries(config.upstreams)) if (u.discovery !== null) wanted.set(name, u.discovery);
    const inherited = new Map<string, DiscoveryFeed>();
    for (const [name, feed] of this.feeds) {
      const next = wanted.get(name);
      if (next !== undefined && JSON.stringify(next) === JSON.stringify(feed.config)) continue;
      this.feeds.delete(name);
      if (next !== undefined) inherited.set(name, feed);
      else this.logger.info({ upstream: name }, `upstream "${name}": discovery ${Object.hasOwn(config.upstreams, name) ? 'removed; its targets drain' : 'stops with the upstream'}`);
      await feed.stop(next === undefined && Object.hasOwn(config.upstreams, name));
    }
    const started: DiscoveryFeed[] = [];
    for (const [name, dc] of wanted) {
      const existing = this.feeds.get(name);
      if (existing !== undefined) {
        existing.retryApply();
        continue;
      }
      const descriptor = providerOf(dc.provider.kind);
      if (descriptor === undefined) continue; // the schema admits only registered keys
      const feed = new DiscoveryFeed(name, dc, descriptor, this.port, this.logger);
      this.feeds.set(name, feed);
      started.push(feed);
      const old = inherited.get(name);
      await feed.start(old !== undefined && old.identity === feed.identity ? old.view : null);
    }
    if (wait) await Promise.all(started.map((f) => f.firstAnswer(f.config.startWaitMs)));
  }

  /** Whether any upstream has discovery. */
  get active(): boolean {
    return this.feeds.size > 0;
  }

  /** The discovery of each upstream, for /metrics, alerting and the admin API. */
  list(): readonly DiscoverySnapshot[] {
    const now = Date.now();
    return [...this.feeds.values()].map((f) => f.snapshot(now));
  }

  /** Stops every provider (their targets stay in the sets until the data plane stops). */
  async stop(): Promise<void> {
    this.stopped = true;
    const feeds = [...this.feeds.values()];
    this.feeds.clear();
    await Promise.all(feeds.map((f) => f.stop(false)));
  }
}
