import type { Pool } from 'undici';
import type { TargetConfig } from '../config/types.js';

/**
 * One instance of a service as the runtime sees it: its pool and live counters.
 * Kept mutable on purpose: the proxy updates the counters on every request, and the
 * balancer reads them, without allocating.
 */
export class Target {
  readonly origin: string;
  readonly basePath: string;
  readonly weight: number;
  readonly pool: Pool;
  /** `host:port` of the target, for upstreams that send the target's Host. */
  readonly hostHeader: string;
  /** Requests sent and not yet finished. */
  inFlight = 0;
  /** Requests finished since the target joined this runtime. */
  completed = 0;
  /** Requests that ended in a gateway-side failure (connect, reset, timeout). */
  failures = 0;

  constructor(config: TargetConfig, pool: Pool) {
    this.origin = config.origin;
    this.basePath = config.basePath;
    this.weight = config.weight;
    this.pool = pool;
    this.hostHeader = new URL(config.origin).host;
  }

  /** The admin API view. */
  toJSON(): Record<string, unknown> {
    return {
      origin: this.origin,
      basePath: this.basePath || undefined,
      weight: this.weight,
      inFlight: this.inFlight,
      completed: this.completed,
      failures: this.failures,
      pool: poolStats(this.pool),
    };
  }
}

function poolStats(pool: Pool): Record<string, number> {
  const s = pool.stats;
  return { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running };
}
