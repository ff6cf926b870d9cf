import { createHistogram } from 'node:perf_hooks';
import type { RuntimeView as Runtime } from '../core/views.js';
import { HostSampler } from './host.js';
import { createMetrics, targetHealth, type MetricsExposition } from './metrics.js';
import { membershipStamp, RequestRecorder, type RouteRec } from './recorder.js';
import type { CacheSnapshot, ConfigRevisionSnapshot, DiscoverySnapshot, RouteSnapshot, ServiceSnapshot, StatsSnapshot, StatsSource, TargetSnapshot, UpstreamSnapshot, WindowStats } from './snapshot.js';
import { WindowSum, type WindowSeries } from './window.js';

/** What the gateway lends the stats besides its runtime. */
export interface GatewayStatsOptions {
  /** Client connections open now. */
  readonly openConnections?: () => number;
  /** Directory whose file system `diskUsedRatio` reports (default: the working directory). */
  readonly diskPath?: string;
  /** `metrics.enabled`, fixed at start (default true). */
  readonly enabled?: boolean;
}

/**
 * The gateway's live state for watchers (dashboard, alert rules, `/api/stats`) and for
 * Prometheus (`/metrics`): the request recorder the proxy writes into, a ticker that
 * closes each second (request windows, host and process samples, event-loop lag), and
 * the snapshot that reads it all.
 *
 * A snapshot costs one pass over the runtime's routes, upstreams and targets (counters,
 * health, breakers are read fresh) plus the windows, which only change when a second
 * closes: they are computed once per second and window length, and a window of up to two
 * minutes read every second slides by one slot instead of being summed again. With 300
 * targets that is about a millisecond a second for a dashboard.
 *
 * @example
 * const stats = new GatewayStats(() => gw.runtime, { openConnections: () => tracker.size });
 * stats.start();
 * state.metrics = stats.recorder;        // the proxy records finished requests
 * stats.snapshot(60).total.p99Ms;        // the last minute's p99
 * await stats.metricsText();             // Prometheus text
 */
export class GatewayStats implements StatsSource {
  readonly recorder = new RequestRecorder();
  readonly host: HostSampler;
  /** Reload outcomes, for `brisk_config_reloads_total`. */
  readonly reloads = { success: 0, failure: 0, lastSuccessAt: Date.now() };
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;
  private readonly lag = new LagMeter();
  private lastCpu = process.cpuUsage();
  private lastTickAt = performance.now();
  private cpuRatio = 0;
  private shedSource: (() => number) | null = null;
  private servicesSource: (() => readonly ServiceSnapshot[]) | null = null;
  private discoverySource: (() => readonly DiscoverySnapshot[]) | null = null;
  private configRevisionSource: (() => ConfigRevisionSnapshot | null) | null = null;
  private exposition: MetricsExposition | null = null;
  /** Window stats by window length, for the second they were computed in. */
  private readonly cache = new Map<number, CachedWindows>();
  private readonly openConnections: () => number;

  constructor(
    private readonly runtime: () => Runtime,
    options: GatewayStatsOptions = {},
  ) {
    this.openConnections = options.openConnections ?? (() => 0);
    this.enabled = options.enabled ?? true;
    this.host = new HostSampler(options.diskPath);
  }

  /** Starts the ticker (idempotent): one sample per second. */
  start(): void {
    if (this.timer !== null) return;
    this.recorder.bind(this.runtime());
    this.lag.start();
    this.lastTickAt = performance.now();
    this.lastCpu = process.cpuUsage();
    this.host.sample(this.lastTickAt);
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.lag.stop();
  }

  /** Closes one second. Public so that tests can drive it without waiting. */
  tick(): void {
    const now = performance.now();
    this.recorder.bind(this.runtime());
    this.recorder.roll();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedUs = (now - this.lastTickAt) * 1000;
    if (elapsedUs > 0) this.cpuRatio = (cpu.user + cpu.system) / elapsedUs;
    this.lastCpu = process.cpuUsage();
    this.lastTickAt = now;
    this.lag.roll();
    this.host.sample(now);
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        // A watcher's failure must not stop the ticker or the other watchers.
      }
    }
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Where the services Brisk runs are read from (the supervisor), or null when it runs
   * none: their snapshot goes into `snapshot()` and their families into `/metrics`.
   */
  setServicesSource(source: (() => readonly ServiceSnapshot[]) | null): void {
    this.servicesSource = source;
  }

  /** The services' snapshot now (empty when Brisk runs none). */
  services(): readonly ServiceSnapshot[] {
    if (this.servicesSource === null) return [];
    try {
      return this.servicesSource();
    } catch {
      return [];
    }
  }

  /** Where the discovery of upstreams is read from (src/providers/discovery/), or null when no upstream has any. */
  setDiscoverySource(source: (() => readonly DiscoverySnapshot[]) | null): void {
    this.discoverySource = source;
  }

  /** Each discovered upstream's view: targets, staleness, problem (empty without discovery). */
  discovery(): readonly DiscoverySnapshot[] {
    if (this.discoverySource === null) return [];
    try {
      return this.discoverySource();
    } catch {
      return [];
    }
  }

  /** Where the config store's revision in force is read from (src/providers/config-store/). */
  setConfigRevisionSource(source: (() => ConfigRevisionSnapshot | null) | null): void {
    this.configRevisionSource = source;
  }

  /** The config store's revision in force; null without `configStore`. */
  configRevision(): ConfigRevisionSnapshot | null {
    try {
      return this.configRevisionSource?.() ?? null;
    } catch {
      return null;
    }
  }

  /** Where the gateway-wide shedding level is read from (a LoadShedder's `level`), or null for 0. */
  setShedLevelSource(source: (() => number) | null): void {
    this.shedSource = source;
  }

  /** Counts a reload and resolves records for the new version (removed routes and targets leave `/metrics`). */
  onReload(ok: boolean): void {
    if (ok) {
      this.reloads.success++;
      this.reloads.lastSuccessAt = Date.now();
      this.recorder.bind(this.runtime());
    } else this.reloads.failure++;
  }

  /** Whether requests are recorded (`metrics.enabled` at start, default true). */
  readonly enabled: boolean;

  /** The Prometheus text exposition. */
  async metricsText(): Promise<string> {
    if (this.beforeScrape !== null) await this.beforeScrape();
    this.recorder.bind(this.runtime());
    this.exposition ??= createMetrics({
      recorder: this.recorder,
      host: this.host,
      runtime: this.runtime,
      openConnections: this.openConnections,
      shedLevel: () => this.shedLevel,
      eventLoopLagMs: () => this.lag.p99Ms,
      processCpuRatio: () => this.cpuRatio,
      reloads: this.reloads,
      services: () => this.services(),
      discovery: () => this.discovery(),
      configRevision: () => this.configRevision(),
      processMetrics: (own) => (this.processMerge === null ? own : this.processMerge(own)),
    });
    const text = await this.exposition.text();
    return this.extraMetrics === null ? text : text + this.extraMetrics();
  }

  /** Families written by someone else (the workers' primary: per-worker share, restarts), appended to `/metrics`. */
  setExtraMetrics(source: (() => string) | null): void {
    this.extraMetrics = source;
  }

  private extraMetrics: (() => string) | null = null;

  /**
   * The event-loop lag sampled by the caller every `ms` instead of by a timer of its own;
   * returns the function to call (before `start`). The workers' primary serves no request:
   * its loop is idle between a few messages, every wake-up costs it 100–200 µs of CPU on a
   * shared virtual machine, and a 10 ms timer was once a third of its CPU; its own 100 ms
   * tick samples the lag (the workers' own is in the process families).
   */
  sampleLagEvery(ms: number): () => void {
    this.lag.resolutionMs = ms;
    this.lag.external = true;
    return this.lag.sample;
  }

  /** The node's process families from this process's (the workers' primary adds theirs, labelled). */
  setProcessMetrics(merge: ((own: string) => string) | null): void {
    this.processMerge = merge;
  }

  private processMerge: ((own: string) => string) | null = null;

  /**
   * Called (and awaited) before each `/metrics` text is built: the workers' primary has
   * them send what they finished since their last batch, so a scrape counts every request
   * answered before it.
   */
  setBeforeScrape(hook: (() => Promise<void>) | null): void {
    this.beforeScrape = hook;
  }

  private beforeScrape: (() => Promise<void>) | null = null;

  /** The Content-Type of `metricsText`. */
  get metricsContentType(): string {
    return 'text/plain; version=0.0.4; charset=utf-8';
  }

  private get shedLevel(): number {
    if (this.shedSource === null) return 0;
    try {
      return this.shedSource();
    } catch {
      return 0;
    }
  }

  snapshot(windowS: number): StatsSnapshot {
    const w = Math.max(1, Math.min(3600, Math.round(Number.isFinite(windowS) ? windowS : 60)));
    const rec = this.recorder;
    const rt = this.runtime();
    rec.bind(rt);
    // Windows read closed seconds only, so they change once a second: computed once per
    // second and window, however many watchers ask. Counters and health are read fresh.
    let windows = this.cache.get(w);
    // Keyed on membership too: the target windows are read by position in the member lists.
    const stamp = membershipStamp(rt);
    if (windows === undefined || windows.sec !== rec.sec || windows.version !== rt.version || windows.stamp !== stamp) {
      if (this.cache.size > 16) this.cache.clear();
      windows = this.computeWindows(rt, w, stamp);
      this.cache.set(w, windows);
    }
    let wi = 0;
    const routes: RouteSnapshot[] = rt.routes.map((r) => {
      const rr = rec.routes.get(r.name);
      return {
        name: r.name,
        upstream: r.upstreamName,
        window: windows.routes[wi++]!,
        rateLimited: rr?.rateLimited ?? 0,
        shed: rr?.shed ?? 0,
        cache: rr === undefined ? null : cacheOf(rr),
      };
    });
    const upstreams: UpstreamSnapshot[] = [];
    const targets: TargetSnapshot[] = [];
    let ui = 0;
    let ti = 0;
    for (const u of rt.upstreams.values()) {
      const ur = rec.upstreams.get(u.name);
      let ejections = 0;
      for (const t of u.targets) {
        const tr = rec.targets.get(t.key);
        if (tr !== undefined) for (const n of tr.ejections) ejections += n;
        targets.push({
          upstream: u.name,
          origin: t.origin,
          health: targetHealth(t),
          reason: t.ejection?.reason ?? t.activeReason,
          inFlight: t.inFlight,
          latencyMs: t.ewmaMs,
          window: windows.targets[ti++]!,
        });
      }
      upstreams.push({
        name: u.name,
        breaker: u.breaker?.state ?? null,
        panic: u.panic,
        healthyTargets: u.availableCount,
        totalTargets: u.targets.length,
        window: windows.upstreams[ui++]!,
        retries: ur?.retries ?? 0,
        hedges: ur?.hedges ?? 0,
        ejections,
      });
    }
    const mem = process.memoryUsage();
    const host = this.host;
    const snapshot: StatsSnapshot = {
      at: Date.now(),
      configVersion: rt.version,
      total: windows.total,
      routes,
      upstreams,
      targets,
      process: {
        uptimeS: process.uptime(),
        cpuPercent: this.cpuRatio * 100,
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        eventLoopLagMs: this.lag.p99Ms,
        openConnections: this.openConnections(),
      },
      host: {
        cpuPercent: host.cpuRatio * 100,
        memoryUsedRatio: host.memoryUsedRatio,
        diskUsedRatio: host.diskUsedRatio,
        netRxBytesPerS: host.netRxPerS,
        netTxBytesPerS: host.netTxPerS,
        load1: host.load1,
      },
      shedLevel: this.shedLevel,
      recentErrors: rec.recentErrors(),
      services: this.services(),
      discovery: this.discovery(),
    };
    return snapshot;
  }

  private computeWindows(rt: Runtime, w: number, stamp: number): CachedWindows {
    const rec = this.recorder;
    const sum = new WindowSum();
    const windowOf = (s: WindowSeries | undefined): WindowStats => (s === undefined ? emptyWindow(w) : toWindow(s.read(rec.sec, w, sum.reset()), w));
    const targets: WindowStats[] = [];
    const upstreams: WindowStats[] = [];
    for (const u of rt.upstreams.values()) {
      upstreams.push(windowOf(rec.upstreams.get(u.name)?.series));
      for (const t of u.targets) targets.push(windowOf(rec.targets.get(t.key)?.series));
    }
    return {
      sec: rec.sec,
      windowS: w,
      version: rt.version,
      stamp,
      total: windowOf(rec.total),
      routes: rt.routes.map((r) => windowOf(rec.routes.get(r.name)?.series)),
      upstreams,
      targets,
    };
  }
}

interface CachedWindows {
  readonly sec: number;
  readonly windowS: number;
  readonly version: number;
  readonly stamp: number;
  readonly total: WindowStats;
  readonly routes: readonly WindowStats[];
  readonly upstreams: readonly WindowStats[];
  readonly targets: readonly WindowStats[];
}

function toWindow(s: WindowSum, windowS: number): WindowStats {
  const requests = s.requests;
  return {
    windowS,
    requests,
    rps: requests / s.seconds,
    errors: s.errors,
    errorRatio: requests === 0 ? 0 : s.errors / requests,
    p50Ms: s.quantile(0.5),
    p95Ms: s.quantile(0.95),
    p99Ms: s.quantile(0.99),
  };
}

function emptyWindow(windowS: number): WindowStats {
  return { windowS, requests: 0, rps: 0, errors: 0, errorRatio: 0, p50Ms: null, p95Ms: null, p99Ms: null };
}

function cacheOf(rr: RouteRec): CacheSnapshot | null {
  if (!rr.hasCache) return null;
  const [hits, misses, stale, revalidated] = rr.cache;
  const counted = hits! + misses! + stale! + revalidated!;
  return { hits: hits!, misses: misses!, stale: stale!, revalidated: revalidated!, hitRatio: counted === 0 ? 0 : hits! / counted };
}

/**
 * Event-loop lag, p99 over the last second: a 10 ms interval timer (50 ms in the workers' primary) records how late it
 * fires into a perf_hooks histogram, read and reset once a second. (The load shedder's
 * monitor slices its second into 100 ms slots for a sliding window; one slot per
 * second is all the stats need. `monitorEventLoopDelay` is not used for the reason given
 * there: a reset forgets the interval in progress.)
 */
class LagMeter {
  p99Ms = 0;
  resolutionMs = 10;
  /** Sampled by someone else's timer (`sample`), every `resolutionMs`. */
  external = false;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private readonly hist = createHistogram();

  start(): void {
    if (this.timer !== null) return;
    this.last = performance.now();
    if (this.external) return;
    this.timer = setInterval(this.sample, this.resolutionMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  roll(): void {
    this.p99Ms = this.hist.count === 0 ? 0 : this.hist.percentile(99) / 1000;
    this.hist.reset();
  }

  readonly sample = (): void => {
    const now = performance.now();
    const lateMs = now - this.last - this.resolutionMs;
    this.last = now;
    this.hist.record(Math.max(1, Math.round(lateMs * 1000)));
  };
}
