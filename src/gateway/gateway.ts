import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadConfig, formatProblem } from '../config/load.js';
import { staticChanges } from '../config/static-changes.js';
import type { Config, ConfigProblem } from '../config/types.js';
import { startAdmin, type AdminServer } from '../admin/server.js';
import { AlertingService } from '../alerting/index.js';
import { ConnectionTracker } from '../listeners/connections.js';
import { startListener, type Listener } from '../listeners/server.js';
import type { DestinationStream } from 'pino';
import { AccessLog } from '../observability/access-log.js';
import { RotatingFile } from '../observability/log-file.js';
import type { ExportStats } from '../observability/otlp-exporter.js';
import { Tracer } from '../observability/tracing.js';
import { createLogger, type Logger } from '../observability/logger.js';
import type { AlertsView } from '../observability/snapshot.js';
import { GatewayStats } from '../observability/stats.js';
import { createProxyHandler, type ProxyState } from '../proxy/forward.js';
import { UpgradeProxy } from '../proxy/upgrade.js';
import { MiddlewareCache } from '../middlewares/index.js';
import { LoadShedder, SHED_LEVEL_NAMES, type OverloadConfig } from '../middlewares/shedding/load-shedder.js';
import { TargetRegistry } from '../upstreams/registry.js';
import { activateRuntime, buildRuntime, deactivateRuntime, type Runtime } from './runtime.js';

/** How a gateway is started. */
export interface GatewayOptions {
  /** The config file; needed for reloads. */
  readonly configFile?: string;
  /** A config already loaded (tests); otherwise `configFile` is read. */
  readonly config?: Config;
  /** Reload when the config file changes on disk. Default true when a file is given. */
  readonly watch?: boolean;
  /** A logger to use instead of one built from `logging` in the config. */
  readonly logger?: Logger;
}

/** The outcome of a reload. */
export type ReloadResult = { readonly ok: true; readonly version: number; readonly unchanged?: boolean; readonly restartRequired?: readonly string[] } | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/**
 * The running gateway: listeners, the runtime in force, and the machinery to swap it.
 *
 * @example
 * const gw = await Gateway.start({ configFile: 'brisk.yaml' });
 * // … later
 * await gw.stop();
 */
export class Gateway {
  readonly logger: Logger;
  readonly listeners: Listener[] = [];
  admin: AdminServer | null = null;
  /** Problems of the last reload that failed; cleared by one that succeeds. */
  lastReloadProblems: readonly ConfigProblem[] = [];
  lastReloadAt: Date | null = null;
  /** The live state for watchers (dashboard, alert rules). */
  readonly stats: GatewayStats;
  /** The alerting engine's view, when alerting runs. */
  alerts: AlertsView | null = null;
  /** Alert rules, the delivery queue and silences (src/alerting). */
  alerting: AlertingService | null = null;
  private readonly state: ProxyState;
  private readonly pools = new TargetRegistry();
  private readonly middlewares = new MiddlewareCache();
  private readonly tracker = new ConnectionTracker();
  private readonly upgrades: UpgradeProxy;
  private readonly flushLogs: () => void;
  private watcher: FSWatcher | null = null;
  private readonly accessLogDestination: DestinationStream | null;
  /** The access log file (`logging.accessLog.file`), kept open across reloads that keep it. */
  private accessFile: RotatingFile | null = null;
  private configDigest = '';
  private reloading: Promise<ReloadResult> | null = null;
  /** The config the process started with: listeners, admin and limits stay bound to it. */
  private boundConfig: Config | undefined;
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly options: GatewayOptions,
    config: Config,
  ) {
    let jsonDestination: DestinationStream | null = null;
    if (options.logger !== undefined) {
      this.logger = options.logger;
      this.flushLogs = () => {};
    } else {
      const created = createLogger({ level: config.logging.level, format: config.logging.format });
      this.logger = created.logger;
      this.flushLogs = created.flush;
      jsonDestination = created.jsonDestination;
    }
    this.accessLogDestination = jsonDestination;
    this.state = {
      runtime: buildRuntime(config, 1, this.pools, this.logger, this.middlewares, this.onQueueWait),
      draining: false,
      logger: this.logger,
      accessLog: null,
      shedder: null,
      tracer: config.tracing.otlp === null ? null : new Tracer(config.tracing, this.logger, BRISK_VERSION),
    };
    this.state.accessLog = this.makeAccessLog(config);
    this.applyOverload(config.overload, false);
    this.upgrades = new UpgradeProxy(this.state);
    this.stats = new GatewayStats(() => this.state.runtime, { openConnections: () => this.tracker.size, enabled: config.metrics?.enabled ?? true });
    // Bound at start, like the admin listener: in-flight counts must see every request's start and end.
    this.state.metrics = this.stats.enabled ? this.stats.recorder : null;
    this.stats.setShedLevelSource(() => this.state.shedder?.level ?? 0);
  }

  /** Loads the config (unless given), binds every listener and the admin API. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    let config = options.config;
    let digest = '';
    let warnings: readonly ConfigProblem[] = [];
    if (config === undefined) {
      if (options.configFile === undefined) throw new Error('Gateway.start needs a config or a configFile');
      const result = await loadConfig(options.configFile);
      if (!result.ok) throw new ConfigError(result.problems);
      config = result.config;
      digest = fileDigest(options.configFile);
      warnings = result.warnings;
    }
    const gw = new Gateway(options, config);
    for (const w of warnings) gw.logger.warn({ problem: formatProblem(w) }, 'config warning');
    gw.configDigest = digest;
    try {
      await activateRuntime(gw.state.runtime);
      gw.stats.start();
      gw.state.shedder?.start();
      gw.alerting = AlertingService.start(config.alerts, gw.stats, gw.logger);
      gw.alerts = gw.alerting.view;
      const handlers = { request: createProxyHandler(gw.state), upgrade: gw.upgrades.handle };
      for (const l of config.listen) {
        const listener = await startListener(l, config.limits, handlers, gw.tracker, gw.logger);
        gw.listeners.push(listener);
        gw.logger.info({ listener: l.name, address: `${listener.host}:${listener.port}`, protocol: listener.protocol }, 'listening');
      }
      if (config.admin !== undefined) {
        gw.admin = await startAdmin(config.admin, gw);
        gw.logger.info({ address: `${config.admin.host}:${gw.admin.port}` }, 'admin API listening');
      }
    } catch (err) {
      await gw.stop();
      throw err;
    }
    if (options.configFile !== undefined && options.watch !== false) gw.watchConfigFile(options.configFile);
    return gw;
  }

  /**
   * The access log for a config: stdout's JSON destination (or the logger), or the file,
   * reopened only when its path or rotation changed.
   */
  private makeAccessLog(config: Config): AccessLog | null {
    // The previous access log's lines of this turn go out before its destination may close.
    this.state?.accessLog?.flush();
    const access = config.logging.access;
    const file = config.logging.accessLog ? access.file : null;
    const current = this.accessFile;
    if (current !== null && (file === null || current.path !== file || !this.sameRotation(access))) {
      current.flushSync();
      void current.close();
      this.accessFile = null;
    }
    if (!config.logging.accessLog) return null;
    if (file !== null && this.accessFile === null) {
      this.accessFile = new RotatingFile(file, access, (err, what) => this.logger.warn({ err }, what));
      this.accessRotation = access;
    }
    const destination = this.accessFile === null ? this.accessLogDestination : (this.accessFile as unknown as DestinationStream);
    // Chunks well under the rotation size, so that a rotated file stays close to its limit.
    const chunkBytes = file !== null && access.maxSize > 0 ? Math.max(1024, Math.min(64 * 1024, Math.floor(access.maxSize / 8))) : undefined;
    return new AccessLog(this.logger, destination, { sampleSuccesses: access.sampleSuccesses, ...(chunkBytes === undefined ? {} : { chunkBytes }) });
  }

  private accessRotation: Config['logging']['access'] | null = null;

  private sameRotation(a: Config['logging']['access']): boolean {
    const b = this.accessRotation;
    return b !== null && a.maxSize === b.maxSize && a.maxFiles === b.maxFiles && a.daily === b.daily;
  }

  /** Reopens the access log file by its path, after an external logrotate moved it (SIGUSR1). */
  reopenLogs(): void {
    this.accessFile?.reopen();
  }

  /** Span export counters (exported, dropped, failed, queued); null when spans are not exported. */
  get tracingStats(): ExportStats | null {
    return this.state.tracer?.stats() ?? null;
  }

  /** The runtime in force. */
  get runtime(): Runtime {
    return this.state.runtime;
  }

  get draining(): boolean {
    return this.state.draining;
  }

  get openConnections(): number {
    return this.tracker.size;
  }

  get openTunnels(): number {
    return this.upgrades.openTunnels;
  }

  /**
   * Re-reads the config file. Invalid: the old config keeps serving and the problems are
   * logged and kept for the admin API. Valid: the new runtime is built in full, then
   * swapped in one assignment, so in-flight requests finish on the old one and new ones
   * see the new one — no request fails because of a reload.
   */
  reload(): Promise<ReloadResult> {
    // Reloads are serialised: a burst of triggers runs one after the other, never interleaved.
    const previous = this.reloading ?? Promise.resolve(null);
    const next = previous.then(() => this.doReload());
    this.reloading = next;
    void next.finally(() => {
      if (this.reloading === next) this.reloading = null;
    });
    return next;
  }

  private async doReload(): Promise<ReloadResult> {
    const file = this.options.configFile;
    if (file === undefined) return { ok: false, problems: [{ file: '', line: 0, column: 0, path: '(root)', message: 'this gateway was started without a config file' }] };
    this.lastReloadAt = new Date();
    const result = await loadConfig(file);
    if (!result.ok) {
      this.stats.onReload(false);
      this.lastReloadProblems = result.problems;
      this.logger.error({ problems: result.problems.map(formatProblem) }, `reload rejected: ${result.problems.length} problem(s) in ${file}; the previous config keeps serving`);
      return { ok: false, problems: result.problems };
    }
    for (const w of result.warnings) this.logger.warn({ problem: formatProblem(w) }, 'config warning');
    const old = this.state.runtime;
    const config = result.config;
    let runtime: Runtime;
    try {
      runtime = buildRuntime(config, old.version + 1, this.pools, this.logger, this.middlewares, this.onQueueWait);
    } catch (err) {
      // The loader checks what it can; anything the build still refuses is reported the same way.
      const problems: ConfigProblem[] = [{ file, line: 1, column: 1, path: '(root)', message: (err as Error).message }];
      this.lastReloadProblems = problems;
      this.stats.onReload(false);
      this.logger.error({ err }, 'reload rejected: the new config could not be built; the previous config keeps serving');
      return { ok: false, problems };
    }
    await activateRuntime(runtime);
    this.state.runtime = runtime;
    this.stats.onReload(true);
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
    this.lastReloadProblems = [];
    this.configDigest = fileDigest(file);
    this.alerting?.reload(config.alerts);
    const closed = this.upgrades.closeTunnelsNotIn(new Set(config.routes.map((r) => r.name)));
    const restartRequired = staticChanges((this.boundConfig ??= old.config), config);
    if (restartRequired.length > 0) this.logger.warn({ restartRequired }, `not applied until a restart: ${restartRequired.join(', ')} changed (bound when the process started); the rest was reloaded`);
    this.logger.info({ version: runtime.version, routes: config.routes.length, upstreams: Object.keys(config.upstreams).length, closedTunnels: closed }, 'config reloaded');
    return { ok: true, version: runtime.version, restartRequired };
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

  private watchConfigFile(file: string): void {
    // Watch the directory, not the file: editors and config management replace the file
    // (write to a temp name, rename over), which a watch on the old inode would miss.
    let timer: NodeJS.Timeout | null = null;
    const name = basename(file);
    try {
      this.watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed !== name) return;
        if (timer !== null) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = null;
          // Only reload when the content really changed (touch, chmod and the like are ignored).
          if (fileDigest(file) === this.configDigest) return;
          this.logger.info({ file }, 'config file changed; reloading');
          void this.reload();
        }, 200);
      });
      this.watcher.on('error', (err) => this.logger.warn({ err }, 'config file watch failed; use SIGHUP or POST /api/reload'));
    } catch (err) {
      this.logger.warn({ err }, 'cannot watch the config file; use SIGHUP or POST /api/reload');
    }
  }

  /**
   * Graceful stop: stop accepting, let in-flight requests finish (keep-alive connections
   * are told to close), then cut what is left after the drain timeout.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.state.draining = true;
    this.watcher?.close();
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
    await this.admin?.close();
    await this.alerting?.stop();
    this.stats.stop();
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
    this.logger.info('stopped');
    this.flushLogs();
  }
}

/** Thrown by `Gateway.start` when the config file is invalid. */
export class ConfigError extends Error {
  readonly code = 'BRISK_CONFIG_INVALID';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(`the configuration is invalid:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ConfigError';
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

function fileDigest(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return '';
  }
}
