import type { AdminHost, ReloadResult } from '../admin/host.js';
import type { AdminServer } from '../admin/server.js';
import type { AlertingService } from '../alerting/index.js';
import { loadConfig, formatProblem } from '../config/load.js';
import type { Config, ConfigProblem } from '../config/types.js';
import { ControlPlane } from '../control/control-plane.js';
import { DataPlane } from '../dataplane/data-plane.js';
import type { Listener } from '../listeners/server.js';
import type { DestinationStream } from 'pino';
import type { ExportStats } from '../observability/otlp-exporter.js';
import { createLogger, type Logger } from '../observability/logger.js';
import type { AlertsView } from '../observability/snapshot.js';
import type { GatewayStats } from '../observability/stats.js';
import { ConfigFileSource } from '../providers/config-file.js';
import type { Runtime } from '../proxy/runtime.js';

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
 * A running gateway in one process: a data plane (listeners and the request path,
 * src/dataplane/) and the control plane that feeds and watches it (config reloads, admin
 * API, stats, alerting: src/control/), composed and stopped together.
 *
 * @example
 * const gw = await Gateway.start({ configFile: 'brisk.yaml' });
 * // … later
 * await gw.stop();
 */
export class Gateway implements AdminHost {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly logger: Logger,
    private readonly flushLogs: () => void,
    private readonly data: DataPlane,
    private readonly control: ControlPlane,
  ) {}

  /** Loads the config (unless given), binds every listener and the admin API. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    let config = options.config;
    if (config === undefined) {
      if (options.configFile === undefined) throw new Error('Gateway.start needs a config or a configFile');
      const result = await loadConfig(options.configFile);
      if (!result.ok) throw new ConfigError(result.problems);
      config = result.config;
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
    const data = new DataPlane(config, logger, jsonDestination);
    const source = options.configFile === undefined ? null : new ConfigFileSource(options.configFile, logger);
    const control = new ControlPlane(data, source, logger, config);
    data.setRecorder(control.stats.enabled ? control.stats.recorder : null);
    const gw = new Gateway(logger, flushLogs, data, control);
    try {
      await data.start(config);
      await control.start(config, options.configFile !== undefined && options.watch !== false);
    } catch (err) {
      await gw.stop();
      throw err;
    }
    return gw;
  }

  get listeners(): readonly Listener[] {
    return this.data.listeners;
  }

  get admin(): AdminServer | null {
    return this.control.admin;
  }

  get stats(): GatewayStats {
    return this.control.stats;
  }

  /** What the dashboard and `/api/alerts` list (the alerting engine's view; tests may stand in their own). */
  get alerts(): AlertsView | null {
    return this.control.alerts;
  }

  set alerts(view: AlertsView | null) {
    this.control.alerts = view;
  }

  get alerting(): AlertingService | null {
    return this.control.alerting;
  }

  get lastReloadProblems(): readonly ConfigProblem[] {
    return this.control.lastReloadProblems;
  }

  get lastReloadAt(): Date | null {
    return this.control.lastReloadAt;
  }

  /** The runtime in force. */
  get runtime(): Runtime {
    return this.data.runtime;
  }

  get draining(): boolean {
    return this.data.draining;
  }

  get openConnections(): number {
    return this.data.openConnections;
  }

  get openTunnels(): number {
    return this.data.openTunnels;
  }

  /** Span export counters (exported, dropped, failed, queued); null when spans are not exported. */
  get tracingStats(): ExportStats | null {
    return this.data.tracingStats;
  }

  /** Reopens the access log file by its path, after an external logrotate moved it (SIGUSR1). */
  reopenLogs(): void {
    this.data.reopenLogs();
  }

  /** Re-reads the config file and swaps it in (see `ControlPlane.reload`). */
  reload(): Promise<ReloadResult> {
    return this.control.reload();
  }

  /**
   * Graceful stop: no more reloads, the data plane drains (stop accepting, let in-flight
   * requests finish, cut what is left after the drain timeout), then the admin API,
   * alerting and stats stop. The admin API answers `/readyz` with `draining` meanwhile.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.control.beginStop();
    await this.data.stop();
    await this.control.stop();
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
