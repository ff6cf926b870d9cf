/**
 * Test helpers: snapshots built from a few fields, and a StatsSource that plays a
 * scripted sequence of them. Used by the unit tests here and by test/alerting.test.ts.
 */
import pino from 'pino';
import type { HostSnapshot, ProcessSnapshot, RouteSnapshot, ServiceSnapshot, StatsSnapshot, StatsSource, TargetSnapshot, UpstreamSnapshot, WindowStats } from '../observability/snapshot.js';

export function windowStats(p: Partial<WindowStats> = {}): WindowStats {
  const requests = p.requests ?? 0;
  const errors = p.errors ?? 0;
  return { windowS: 60, requests, rps: requests / 60, errors, errorRatio: requests === 0 ? 0 : errors / requests, p50Ms: null, p95Ms: null, p99Ms: null, ...p };
}

export interface SnapshotInput {
  routes?: Array<Partial<RouteSnapshot> & { name: string }>;
  upstreams?: Array<Partial<UpstreamSnapshot> & { name: string }>;
  targets?: Array<Partial<TargetSnapshot> & { upstream: string; origin: string }>;
  host?: Partial<HostSnapshot>;
  process?: Partial<ProcessSnapshot>;
  total?: Partial<WindowStats>;
  services?: Array<Partial<ServiceSnapshot> & { name: string }>;
  at?: number;
}

export function snapshot(input: SnapshotInput = {}): StatsSnapshot {
  return {
    at: input.at ?? Date.now(),
    configVersion: 1,
    total: windowStats(input.total),
    routes: (input.routes ?? []).map((r) => ({ upstream: 'app', window: windowStats(), rateLimited: 0, shed: 0, cache: null, ...r })),
    upstreams: (input.upstreams ?? []).map((u) => ({ breaker: null, panic: false, healthyTargets: 1, totalTargets: 1, window: windowStats(), retries: 0, hedges: 0, ejections: 0, ...u })),
    targets: (input.targets ?? []).map((t) => ({ health: 'healthy', reason: null, inFlight: 0, latencyMs: 1, window: windowStats(), ...t })),
    process: { uptimeS: 1, cpuPercent: 0, rssBytes: 0, heapUsedBytes: 0, eventLoopLagMs: 0, openConnections: 0, ...input.process },
    host: { cpuPercent: 0, memoryUsedRatio: 0, diskUsedRatio: 0, netRxBytesPerS: 0, netTxBytesPerS: 0, load1: 0, ...input.host },
    shedLevel: 0,
    recentErrors: [],
    services: (input.services ?? []).map((v) => ({
      upstream: v.name,
      min: 1,
      max: 1,
      desired: 1,
      ready: 1,
      scaling: 'fixed',
      instances: [],
      restarts: {},
      scaleDecisions: { up: 0, down: 0 },
      lastScale: null,
      problem: null,
      gaveUp: false,
      rollout: null,
      ...v,
    })),
  };
}

/** A StatsSource whose current snapshot the test sets; `tick()` calls the subscribers like the real one does each second. */
export class ScriptedStats implements StatsSource {
  current: StatsSnapshot = snapshot();
  readonly windows: number[] = [];
  private readonly listeners = new Set<() => void>();

  set(input: SnapshotInput): void {
    this.current = snapshot(input);
  }

  snapshot(windowS: number): StatsSnapshot {
    this.windows.push(windowS);
    return this.current;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  tick(): void {
    for (const l of this.listeners) l();
  }
}

/** A pino logger whose lines are kept, parsed, in `logs`. */
export function captureLogger(): { logger: import('pino').Logger; logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug', formatters: { level: (label) => ({ level: label }) } },
    {
      write(line: string) {
        for (const l of line.split('\n')) if (l.trim() !== '') logs.push(JSON.parse(l) as Record<string, unknown>);
      },
    },
  );
  return { logger, logs };
}
