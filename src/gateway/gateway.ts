import { formatProblem, loadConfig } from '../config/load.js';
import { BriskError } from '../core/errors.js';
import type { Config, ConfigProblem } from '../config/types.js';
import { ControlPlane } from '../control/control-plane.js';
import type { DataPlanePort } from '../control/port.js';
import { DataPlane } from '../dataplane/data-plane.js';
import { loadRouteCode } from '../dataplane/runtime.js';
import type { RequestRecorder } from '../observability/recorder.js';
import type { ClusterDataPlane } from '../workers/cluster-plane.js';
import { resolveWorkers } from '../workers/cpus.js';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from '../observability/logger.js';
import type { ConfigSource } from '../providers/config-file.js';
import { LayeredConfigSource } from '../providers/config-store/source.js';

export type { ReloadResult } from '../admin/host.js';

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
  /** Data-plane worker processes (`--workers`); overrides `workers` in the config. More than one needs `configFile`. */
  readonly workers?: number | 'auto';
}

/** What the gateway drives of its data plane: one in this process, or the workers' (src/workers/). */
interface PlaneHandle extends DataPlanePort {
  setRecorder(recorder: RequestRecorder | null): void;
  activate(): Promise<void>;
  listen(config: Config): Promise<void>;
  reopenLogs(): void;
  stop(): Promise<void>;
}

/**
 * A running gateway in one process: the control plane (config reloads, admin API, stats,
 * alerting: src/control/) with its data plane in the same process (listeners and the
 * request path: src/dataplane/), started and stopped together.
 *
 * @example
 * const gw = await Gateway.start({ configFile: 'brisk.yaml' });
 * // … later
 * await gw.stop();
 */
export class Gateway extends ControlPlane {
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly dataPlane: PlaneHandle,
    source: ConfigSource | null,
    logger: Logger,
    config: Config,
    private readonly flushLogs: () => void,
  ) {
    super(dataPlane, source, logger, config);
  }

  /** Loads the config (unless given), binds every listener and the admin API. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    let config = options.config;
    let warnings: readonly ConfigProblem[] = [];
    if (config === undefined) {
      if (options.configFile === undefined) throw new Error('Gateway.start needs a config or a configFile');
      const result = await loadConfig(options.configFile);
      if (!result.ok) throw new ConfigError(result.problems);
      config = result.config;
      warnings = result.warnings;
    }
    const workers = resolveWorkers(options.workers ?? config.workers);
    if (workers > 1 && options.configFile === undefined) {
      throw new BriskError('BRISK_WORKERS_NEED_FILE', `${workers} workers were asked for, but the gateway was started without a config file: every worker reads the same text the primary checked; start with --config FILE, or with workers: 1`);
    }
    let logger: Logger;
    let flushLogs = (): void => {};
    let jsonDestination: DestinationStream | null = null;
    if (options.logger !== undefined) logger = options.logger;
    else {
      const created = createLogger({ level: config.logging.level, format: config.logging.format });
      logger = created.logger;
      flushLogs = created.flush;
      jsonDestination = created.jsonDestination;
    }
    const source = options.configFile === undefined ? null : new LayeredConfigSource(options.configFile, logger);
    // With workers the source's own load gives the texts they check (the file's, the store document's).
    if (source !== null && (config.configStore !== undefined || workers > 1)) {
      // Routes and upstreams from etcd (or its snapshot while etcd is down) replace the file's.
      const layered = await source.load();
      if (!layered.ok) throw new ConfigError(layered.problems);
      config = layered.config;
      if (config.configStore !== undefined) for (const w of layered.warnings) logger.warn({ problem: formatProblem(w) }, 'config warning');
    }
    // Only the middlewares the routes use are loaded (a gateway without a cache never loads it, nor Redis).
    await loadRouteCode(config);
    let cluster: ClusterDataPlane | null = null;
    if (workers > 1 && source !== null) {
      const inputs = source.inputs();
      if (inputs === null) throw new BriskError('BRISK_WORKERS_NEED_FILE', 'the config file could not be read again for the workers');
      // The primary's side of the workers is loaded only when there are some.
      const { ClusterDataPlane } = await import('../workers/cluster-plane.js');
      cluster = new ClusterDataPlane(config, inputs, source.file, () => source.inputs(), workers, logger);
      // Workers' lines through the primary's own stdout destination: whole lines, one writer.
      if (jsonDestination !== null) {
        const dest = jsonDestination;
        cluster.pool.output = (stream, text) => (stream === 'stdout' ? dest.write(text) : process.stderr.write(text));
      } else if (options.logger !== undefined) {
        // A logger of the caller's (tests, embedding): the workers' lines go through it.
        cluster.pool.output = (_stream, text) => relayLines(logger, text);
      }
    }
    const data: PlaneHandle = cluster ?? new DataPlane(config, logger, jsonDestination);
    const gw = new Gateway(data, source, logger, config, flushLogs);
    if (cluster !== null) {
      const c = cluster;
      gw.workers = { list: () => c.workers(), restart: () => c.restart(), purge: (spec, route) => c.purge(spec, route), cacheStats: () => c.cacheStats(), spare: () => c.pool.spareState, rescued: () => ({ handedOver: c.pool.rescued, closed: c.pool.rescueClosed }) };
      gw.stats.setExtraMetrics(() => c.metricsText());
      gw.stats.setBeforeScrape(() => c.flush(true));
      gw.stats.setProcessMetrics((own) => c.processMetrics(own));
      c.onTick = gw.stats.sampleLagEvery(c.tickMs);
    }
    for (const w of warnings) logger.warn({ problem: formatProblem(w) }, 'config warning');
    data.setRecorder(gw.stats.enabled ? gw.stats.recorder : null);
    try {
      // Discovered targets (a snapshot, the first answers) join before activation, so they are warmed like the file's.
      await gw.startDiscovery(config);
      await data.activate();
      // Services before listeners: Brisk opens with its supervised instances warm.
      await gw.startServices(config);
      await data.listen(config);
      await gw.open(config, options.configFile !== undefined && options.watch !== false);
    } catch (err) {
      await gw.stop();
      throw err;
    }
    return gw;
  }

  /** Reopens the access log file by its path, after an external logrotate moved it (SIGUSR1). */
  reopenLogs(): void {
    this.dataPlane.reopenLogs();
  }

  /** Replaces every data-plane worker one at a time (SIGUSR2, `brisk restart`); a single process has none. */
  async restartWorkers(): Promise<boolean> {
    if (this.workers === null) return false;
    await this.workers.restart();
    return true;
  }

  /**
   * Graceful stop: no more reloads, the data plane drains (stop accepting, let in-flight
   * requests finish, cut what is left after the drain timeout), then the services'
   * instances stop (SIGTERM, SIGKILL after their grace), then the admin API, alerting and
   * stats. The admin API answers `/readyz` with `draining` meanwhile.
   */
  override stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    void this.beginStop();
    await this.dataPlane.stop();
    // After the drain: no request is in flight to an instance when it gets SIGTERM.
    await super.stop();
    this.logger.info('stopped');
    this.flushLogs();
  }
}

/** A worker's JSON log lines, logged again through `logger` (their level and message kept). */
function relayLines(logger: Logger, text: string): void {
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const { level, msg, time: _time, ...rest } = JSON.parse(line) as { level?: string; msg?: string; time?: string };
      const log = logger[(level ?? 'info') as 'info'] ?? logger.info;
      log.call(logger, rest, msg ?? '');
    } catch {
      logger.info({ line }, 'worker output');
    }
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
