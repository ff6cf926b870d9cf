import { loadConfig, formatProblem } from '../config/load.js';
import type { Config, ConfigProblem } from '../config/types.js';
import { ControlPlane } from '../control/control-plane.js';
import { DataPlane } from '../dataplane/data-plane.js';
import { loadMiddlewares } from '../middlewares/index.js';
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
    private readonly dataPlane: DataPlane,
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
    if (source !== null && config.configStore !== undefined) {
      // Routes and upstreams from etcd (or its snapshot while etcd is down) replace the file's.
      const layered = await source.load();
      if (!layered.ok) throw new ConfigError(layered.problems);
      config = layered.config;
      for (const w of layered.warnings) logger.warn({ problem: formatProblem(w) }, 'config warning');
    }
    // Only the middlewares the routes use are loaded (a gateway without a cache never loads it, nor Redis).
    await loadMiddlewares(config);
    const data = new DataPlane(config, logger, jsonDestination);
    const gw = new Gateway(data, source, logger, config, flushLogs);
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
    this.beginStop();
    await this.dataPlane.stop();
    // After the drain: no request is in flight to an instance when it gets SIGTERM.
    await super.stop();
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
