import type { Runtime } from '../gateway/runtime.js';
import type { StatsSnapshot, StatsSource, TargetHealth, WindowStats } from './snapshot.js';

/**
 * The gateway's live state for watchers. PLACEHOLDER: the structure (upstreams, targets,
 * health, breakers) is read from the runtime; request windows are empty until the metrics
 * recorder fills them.
 */
export class GatewayStats implements StatsSource {
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly runtime: () => Runtime) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      for (const l of this.listeners) l();
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(windowS: number): StatsSnapshot {
    const rt = this.runtime();
    const empty = emptyWindow(windowS);
    const mem = process.memoryUsage();
    const upstreams = [...rt.upstreams.values()];
    return {
      at: Date.now(),
      configVersion: rt.version,
      total: empty,
      routes: rt.config.routes.map((r) => ({ name: r.name, upstream: r.upstream, window: empty, rateLimited: 0, shed: 0, cache: null })),
      upstreams: upstreams.map((u) => ({
        name: u.name,
        breaker: u.breaker?.state ?? null,
        panic: u.panic,
        healthyTargets: u.availableCount,
        totalTargets: u.targets.length,
        window: empty,
        retries: 0,
        hedges: 0,
        ejections: u.targets.reduce((n, t) => n + t.ejections, 0),
      })),
      targets: upstreams.flatMap((u) =>
        u.targets.map((t) => {
          const health: TargetHealth = t.ejection !== null ? 'ejected' : !t.activeHealthy ? 'unhealthy' : 'healthy';
          return {
            upstream: u.name,
            origin: t.origin,
            health,
            reason: t.ejection?.reason ?? t.activeReason,
            inFlight: t.inFlight,
            latencyMs: t.ewmaMs,
            window: empty,
          };
        }),
      ),
      process: { uptimeS: process.uptime(), cpuPercent: 0, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, eventLoopLagMs: 0, openConnections: 0 },
      host: { cpuPercent: 0, memoryUsedRatio: 0, diskUsedRatio: 0, netRxBytesPerS: 0, netTxBytesPerS: 0, load1: 0 },
      shedLevel: 0,
      recentErrors: [],
    };
  }
}

function emptyWindow(windowS: number): WindowStats {
  return { windowS, requests: 0, rps: 0, errors: 0, errorRatio: 0, p50Ms: null, p95Ms: null, p99Ms: null };
}
