import { readFileSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import type { Config, ConfigProblem } from '../config/types.js';
import { ConnectionTracker } from '../listeners/connections.js';
import { startListener, type Listener } from '../listeners/server.js';
import { MiddlewareCache } from '../middlewares/index.js';
import { LoadShedder, SHED_LEVEL_NAMES } from '../middlewares/shedding/load-shedder.js';
import type { OverloadConfig } from '../middlewares/shedding/schema.js';
import { AccessLog } from '../observability/access-log.js';
import { RotatingFile } from '../observability/log-file.js';
import type { Logger } from '../observability/logger.js';
import type { ExportStats } from '../observability/otlp-exporter.js';
import type { RequestSink } from '../observability/recorder.js';
import { Tracer } from '../observability/tracing.js';
import type { ProxyState } from '../proxy/context.js';
import { createProxyHandler } from '../proxy/forward.js';
import type { Runtime } from '../proxy/runtime.js';
import { UpgradeProxy } from '../proxy/upgrade.js';
import { targetHealth } from '../observability/metrics.js';
import type { MembershipCommand, MembershipResult, MemberStatus } from '../upstreams/membership.js';
import { TargetRegistry } from '../upstreams/registry.js';
import { activateRuntime, buildRuntime, deactivateRuntime, loadRouteCode } from './runtime.js';
import { capYoungGeneration } from './young-generation.js';

/** What applying a config to the data plane gave. */
export type ApplyResult = { readonly ok: true; readonly version: number; readonly closedTunnels: number } | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/**
 * The request path of one process: the listeners, the runtime in force (routes, upstreams,
 * pipelines, pools) and the machinery to swap it, and what requests write into (access
 * log, traces, the metrics recorder, the load shedder). It knows nothing of where configs
 * come from or who watches: the control plane (`src/control/`) hands it each config
 * version through `apply`, reads it through the `DataPlanePort` view, and stops it.
 *
 * @example
 * const dp = new DataPlane(config, logger, null);
 * await dp.start(config);
 * await dp.apply(nextConfig); // { ok: true, version: 2, closedTunnels: 0 }
 * await dp.stop();
 */
export class DataPlane {
  readonly listeners: Listener[] = [];
  private readonly state: ProxyState;
  private readonly pools = new TargetRegistry();
  private readonly middlewares = new MiddlewareCache();
  private readonly tracker = new ConnectionTracker();
  private readonly upgrades: UpgradeProxy;
  /** The access log file (`logging.accessLog.file`), kept open across reloads that keep it. */
  private accessFile: RotatingFile | null = null;
  private accessRotation: Config['logging']['access'] | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    config: Config,
    private readonly logger: Logger,
    /** stdout's JSON destination for the access log, or null to write it through the logger. */
    private readonly accessLogDestination: DestinationStream | null,
    /** The first runtime's version: a data-plane worker started late takes the version in force. */
    version = 1,
    /** False for a data plane that serves nothing (the workers' primary): it opens no access log. */
    private readonly writesAccessLog = true,
  ) {
    // A process that serves requests keeps V8's young generation small (young-generation.ts).
    if (writesAccessLog) capYoungGeneration();
    this.state = {
      runtime: buildRuntime(config, version, this.pools, logger, this.middlewares, this.onQueueWait),
      draining: false,
      logger,
      accessLog: null,
      shedder: null,
      tracer: config.tracing.otlp === null ? null : new Tracer(config.tracing, logger, BRISK_VERSION),
    };
    this.state.accessLog = this.makeAccessLog(config);
    this.applyOverload(config.overload, false);
    this.upgrades = new UpgradeProxy(this.state);
  }

  /**
   * Where finished requests are recorded (null: metrics are off). Bound before the
   * listeners open: in-flight counts must see every request's start and end.
   */
  setRecorder(recorder: RequestSink | null): void {
    this.state.metrics = recorder;
  }

  /** Warms the first runtime (first health checks), then binds every listener. */
  async start(config: Config): Promise<void> {
    await this.activate();
    await this.listen(config);
  }

  /** Warms the first runtime (first health checks): its target sets take membership commands from now on. */
  async activate(): Promise<void> {
    await activateRuntime(this.state.runtime);
  }

  /**
   * Binds every listener (after `activate`). `servesOnly`: binds nothing; each listener
   * serves the connections handed to its `adopt` (a data-plane worker: the primary bound
   * `config.listen`, whose ports are the ones it got).
   */
  async listen(config: Config, servesOnly = false): Promise<void> {
    this.state.shedder?.start();
    const handlers = { request: createProxyHandler(this.state), upgrade: this.upgrades.handle };
    for (const l of config.listen) {
      const listener = await startListener(l, config.limits, handlers, this.tracker, this.logger, servesOnly ? { port: l.port } : null);
      this.listeners.push(listener);
      this.logger.info({ listener: l.name, address: `${listener.host}:${listener.port}`, protocol: listener.protocol }, 'listening');
    }
  }

  /** The runtime in force. */
  get runtime(): Runtime {
    return this.state.runtime;
  }

  get draining(): boolean {
    return this.state.draining;
  }

  /** Applies a membership command to an upstream's live target set; null when there is no such upstream. */
  membership(upstream: string, command: MembershipCommand): MembershipResult | null {
    const u = this.state.runtime.upstreams.get(upstream);
    if (u === undefined) return null;
    // Before the first activation (discovery restoring its snapshot at start), the set takes
    // the settings of the version about to activate: its members are then probed by that activation.
    if (!u.set.isConfigured) u.set.configure(u.config);
    return u.set.apply(command);
  }

  /** An upstream's members with their state, health and load; null when there is no such upstream. */
  members(upstream: string): readonly MemberStatus[] | null {
    const u = this.state.runtime.upstreams.get(upstream);
    if (u === undefined) return null;
    const out: MemberStatus[] = [];
    for (const t of u.set.members) {
      const view = u.set.viewOf(t);
      if (view === undefined) continue;
      const probe = u.health?.status(t);
      const lastProbe = probe?.lastProbeAt == null || probe.lastResult === null ? null : { at: probe.lastProbeAt, ms: probe.lastResult.durationMs, ok: probe.lastResult.ok, answered: probe.lastResult.answered };
      out.push({ ...view, health: targetHealth(t), reason: t.ejection?.reason ?? t.activeReason, inFlight: t.inFlight, latencyEwmaMs: t.ewmaMs, lastProbe });
    }
    return out;
  }

  get openConnections(): number {
    return this.tracker.size;
  }

  get openTunnels(): number {
    return this.upgrades.openTunnels;
  }

  /** The gateway-wide shedding level (0 when `overload` is off). */
  get shedLevel(): number {
    return this.state.shedder?.level ?? 0;
  }

  /** Span export counters (exported, dropped, failed, queued); null when spans are not exported. */
  get tracingStats(): ExportStats | null {
    return this.state.tracer?.stats() ?? null;
  }

  /**
   * Puts a new config version in force: the middlewares it uses are loaded, the runtime is built in full and warmed, then
   * swapped in one assignment, so in-flight requests finish on the old one and new ones
   * see the new one. A config the build refuses leaves the old one serving. `version`
   * (default: the next one) is the primary's number when workers apply it together.
   */
  async apply(config: Config, version?: number): Promise<ApplyResult> {
    const old = this.state.runtime;
    let runtime: Runtime;
    try {
      await loadRouteCode(config);
      runtime = buildRuntime(config, version ?? old.version + 1, this.pools, this.logger, this.middlewares, this.onQueueWait);
    } catch (err) {
      // The loader checks what it can; anything the build still refuses is reported the same way.
      this.logger.error({ err }, 'the new config could not be built; the previous config keeps serving');
      return { ok: false, problems: [{ file: config.source, line: 1, column: 1, path: '(root)', message: (err as Error).message }] };
    }
    await activateRuntime(runtime);
    this.state.runtime = runtime;
    deactivateRuntime(old);
    this.middlewares.sweep();
    this.state.accessLog = this.makeAccessLog(config);
    if (JSON.stringify(config.tracing) !== JSON.stringify(old.config.tracing)) {
      const previous = this.state.tracer;
      this.state.tracer = config.tracing.otlp === null ? null : new Tracer(config.tracing, this.logger, BRISK_VERSION);
      void previous?.shutdown(2000);
    }
    this.logger.level = config.logging.level;
    this.applyOverload(config.overload, true);
    this.pools.sweep();
    const closedTunnels = this.upgrades.closeTunnelsNotIn(new Set(config.routes.map((r) => r.name)));
    return { ok: true, version: runtime.version, closedTunnels };
  }

  /** Reopens the access log file by its path, after an external logrotate moved it (SIGUSR1). */
  reopenLogs(): void {
    this.accessFile?.reopen();
  }

  /**
   * Graceful stop: stop accepting, let in-flight requests finish (keep-alive connections
   * are told to close), then cut what is left after the drain timeout; then close pools,
   * flush spans and the access log.
   */
  stop(options: { readonly idleGraceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.doStop(options.idleGraceMs ?? 0);
    return this.stopping;
  }

  /**
   * Stops taking requests and waits for those in flight (up to `proxy.drainTimeout`).
   * `idleGraceMs` (a worker leaving while its siblings keep serving): before the listeners
   * stop accepting — which closes keep-alive connections idle at that instant — answers
   * carry `Connection: close` for that long, so a busy client's connections close after an
   * answer rather than under a request it is sending (HTTP/1.1's keep-alive race).
   */
  private async doStop(idleGraceMs: number): Promise<void> {
    this.state.draining = true;
    if (idleGraceMs > 0 && this.tracker.size > 0) await this.tracker.waitEmpty(idleGraceMs);
    const drainMs = this.state.runtime.config.proxy.drainTimeoutMs;
    this.logger.info({ openConnections: this.tracker.size, drainTimeoutMs: drainMs }, 'draining');
    await Promise.all(this.listeners.map((l) => l.stopAccepting().catch(() => {})));
    this.tracker.closeSessionsGracefully();
    this.upgrades.closeAll();
    const drained = await this.tracker.waitEmpty(drainMs);
    if (!drained) {
      this.logger.warn({ openConnections: this.tracker.size }, 'drain timeout reached; closing the remaining connections');
      this.tracker.destroyAll();
    }
    this.state.shedder?.stop();
    deactivateRuntime(this.state.runtime);
    this.middlewares.closeAll();
    await this.pools.closeAll(1000);
    // Spans of the last requests: sent within a short deadline, never holding the exit up for long.
    await this.state.tracer?.shutdown(2000);
    this.state.accessLog?.flush();
    if (this.accessFile !== null) {
      this.accessFile.flushSync();
      await this.accessFile.close();
    }
  }

  /** Route concurrency queues report their waits to whichever shedder is in force. */
  private readonly onQueueWait = (ms: number): void => {
    this.state.shedder?.observeQueueWait(ms);
  };

  /**
   * Puts the `overload` config in force: a shedder is kept while its config is unchanged
   * (its level and history with it), replaced when it changed, removed when the key went.
   */
  private applyOverload(next: OverloadConfig | null, start: boolean): void {
    const current = this.state.shedder;
    if (JSON.stringify(current?.config ?? null) === JSON.stringify(next)) return;
    current?.stop();
    if (next === null) {
      this.state.shedder = null;
      return;
    }
    const shedder = new LoadShedder(next, {
      onLevelChange: (change) =>
        this.logger.warn({ from: SHED_LEVEL_NAMES[change.from], to: SHED_LEVEL_NAMES[change.to], lagMs: change.lagMs, queueWaitMs: change.queueWaitMs }, `load shedding: ${change.reason}`),
    });
    this.state.shedder = shedder;
    if (start) shedder.start();
  }

  /**
   * The access log for a config: stdout's JSON destination (or the logger), or the file,
   * reopened only when its path or rotation changed.
   */
  private makeAccessLog(config: Config): AccessLog | null {
    // The previous access log's lines of this turn go out before its destination may close.
    this.state?.accessLog?.flush();
    const access = config.logging.access;
    const on = config.logging.accessLog && this.writesAccessLog;
    const file = on ? access.file : null;
    const current = this.accessFile;
    if (current !== null && (file === null || current.path !== file || !this.sameRotation(access))) {
      current.flushSync();
      void current.close();
      this.accessFile = null;
    }
    if (!on) return null;
    if (file !== null && this.accessFile === null) {
      this.accessFile = new RotatingFile(file, access, (err, what) => this.logger.warn({ err }, what));
      this.accessRotation = access;
    }
    const destination = this.accessFile === null ? this.accessLogDestination : (this.accessFile as unknown as DestinationStream);
    // Chunks well under the rotation size, so that a rotated file stays close to its limit.
    const chunkBytes = file !== null && access.maxSize > 0 ? Math.max(1024, Math.min(64 * 1024, Math.floor(access.maxSize / 8))) : undefined;
    return new AccessLog(this.logger, destination, { sampleSuccesses: access.sampleSuccesses, ...(chunkBytes === undefined ? {} : { chunkBytes }) });
  }

  private sameRotation(a: Config['logging']['access']): boolean {
    const b = this.accessRotation;
    return b !== null && a.maxSize === b.maxSize && a.maxFiles === b.maxFiles && a.daily === b.daily;
  }
}

const BRISK_VERSION = readVersion();

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
