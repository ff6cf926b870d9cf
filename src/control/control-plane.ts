import type { AdminHost, ListenerInfo, ReloadResult, WorkersView } from '../admin/host.js';
import type { AdminServer } from '../admin/server.js';
import { AlertingService } from '../alerting/index.js';
import { formatProblem } from '../config/load.js';
import { staticChanges } from '../config/static-changes.js';
import type { Config, ConfigProblem } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { ExportStats } from '../observability/otlp-exporter.js';
import type { AlertsView, ConfigRevisionSnapshot } from '../observability/snapshot.js';
import { GatewayStats } from '../observability/stats.js';
import type { ConfigSource } from '../providers/config-file.js';
import type { DiscoveryManager } from '../providers/discovery/manager.js';
import { Supervisor } from '../supervisor/supervisor.js';
import type { ServicesView } from '../supervisor/types.js';
import type { Runtime } from '../proxy/runtime.js';
import type { MembershipCommand, MembershipResult } from '../upstreams/membership.js';
import type { DataPlanePort } from './port.js';

/**
 * What runs once per gateway beside the request path: the config source and its reloads,
 * the admin API and dashboard, the stats ticker (windows, host samples), alerting and the
 * supervisor of the services Brisk runs. It
 * drives the data plane only through `DataPlanePort` — hand it a config version, read its
 * state — so that one control plane can later feed several data-plane workers.
 *
 * Reloads are serialised: a burst of triggers (file changes, SIGHUP, the admin API) runs
 * one after the other, never interleaved. An invalid file leaves the old config serving;
 * its problems are logged and kept for the admin API.
 */
export class ControlPlane implements AdminHost {
  readonly stats: GatewayStats;
  admin: AdminServer | null = null;
  /** Alert rules, the delivery queue and silences (src/alerting). */
  alerting: AlertingService | null = null;
  /** The alerting engine's view, when alerting runs. */
  alerts: AlertsView | null = null;
  /** The services Brisk runs (`services` in the config): started, watched, restarted, scaled. */
  readonly supervisor: Supervisor;
  /** Problems of the last reload that failed; cleared by one that succeeds. */
  lastReloadProblems: readonly ConfigProblem[] = [];
  lastReloadAt: Date | null = null;
  /** Service discovery (`upstreams.NAME.discovery`); null until a config has a block (then loaded). */
  discovery: DiscoveryManager | null = null;
  private reloading: Promise<ReloadResult> | null = null;
  /** The data-plane workers (set by the gateway when it runs some); null for one process. */
  workers: WorkersView | null = null;
  /** The config the process started with: listeners, admin and limits stay bound to it. */
  private boundConfig: Config;
  private stopped = false;
  /** The source closed by {@link beginStop} (its last snapshot write on disk). */
  private sourceClosed: Promise<void> | null = null;

  constructor(
    private readonly data: DataPlanePort,
    private readonly source: (ConfigSource & { revision?(): ConfigRevisionSnapshot | null }) | null,
    readonly logger: Logger,
    config: Config,
  ) {
    this.boundConfig = config;
    this.stats = new GatewayStats(() => data.runtime, { openConnections: () => data.openConnections, enabled: config.metrics?.enabled ?? true });
    this.stats.setShedLevelSource(() => data.shedLevel);
    this.supervisor = new Supervisor({ port: data, stats: this.stats, logger });
    this.stats.setServicesSource(() => this.supervisor.list());
    this.stats.setConfigRevisionSource(() => this.configRevision());
  }

  /**
   * Starts discovery, before the data plane activates: snapshots restored and the first
   * answers (bounded by each `startWait`) are in the sets' first membership, so their
   * first health checks warm them before the listeners open, as for the file's targets.
   */
  async startDiscovery(config: Config): Promise<void> {
    await this.applyDiscovery(config, true);
  }

  /** Loads the discovery manager the first time a config has a block: a config without one loads nothing of it. */
  private async applyDiscovery(config: Config, wait: boolean): Promise<void> {
    if (this.discovery === null) {
      if (!Object.values(config.upstreams).some((u) => u.discovery !== null)) return;
      const { DiscoveryManager } = await import('../providers/discovery/manager.js');
      this.discovery = new DiscoveryManager(this.data, this.logger);
      const manager = this.discovery;
      this.stats.setDiscoverySource(() => manager.list());
    }
    await this.discovery.apply(config, wait);
  }

  /**
   * Starts the services of the config (once the data plane's first runtime is active, so
   * their upstreams take members) and waits, bounded, for their first instances to be ready.
   */
  async startServices(config: Config): Promise<void> {
    await this.supervisor.start(config);
  }

  /** Starts the stats ticker and alerting, binds the admin listener, watches the source. */
  async open(config: Config, watch: boolean): Promise<void> {
    this.stats.start();
    this.alerting = AlertingService.start(config.alerts, this.stats, this.logger);
    this.alerts = this.alerting.view;
    this.alerting.actions.services = this.supervisor;
    if (config.admin !== undefined) {
      // Loaded only with an admin listener: the API, the dashboard and their assets.
      const { startAdmin } = await import('../admin/server.js');
      this.admin = await startAdmin(config.admin, this);
      this.logger.info({ address: `${config.admin.host}:${this.admin.port}` }, 'admin API listening');
    }
    this.source?.markApplied();
    if (watch) this.source?.watch(() => void this.reload());
  }

  // ---- the AdminHost view -------------------------------------------------------------

  get runtime(): Runtime {
    return this.data.runtime;
  }

  get draining(): boolean {
    return this.data.draining;
  }

  membership(upstream: string, command: MembershipCommand): MembershipResult | null {
    return this.data.membership(upstream, command);
  }

  /** Which revision of the config store this node serves; null without `configStore`. */
  configRevision(): ConfigRevisionSnapshot | null {
    return this.source?.revision?.() ?? null;
  }

  get services(): ServicesView {
    return this.supervisor;
  }

  get listeners(): readonly ListenerInfo[] {
    return this.data.listeners;
  }

  get openConnections(): number {
    return this.data.openConnections;
  }

  get openTunnels(): number {
    return this.data.openTunnels;
  }

  get tracingStats(): ExportStats | null {
    return this.data.tracingStats;
  }

  // ---- reloads ------------------------------------------------------------------------

  /**
   * Re-reads the config source. Invalid: the old config keeps serving and the problems are
   * logged and kept for the admin API. Valid: the data plane swaps it in — no request
   * fails because of a reload.
   */
  reload(): Promise<ReloadResult> {
    const previous = this.reloading ?? Promise.resolve(null);
    const next = previous.then(() => this.doReload());
    this.reloading = next;
    void next.finally(() => {
      if (this.reloading === next) this.reloading = null;
    });
    return next;
  }

  private async doReload(): Promise<ReloadResult> {
    const source = this.source;
    if (source === null) return this.rejected([{ file: '', line: 0, column: 0, path: '(root)', message: 'this gateway was started without a config file' }], null);
    if (this.stopped) return this.rejected([{ file: source.file, line: 0, column: 0, path: '(root)', message: 'the gateway is stopping' }], null);
    this.lastReloadAt = new Date();
    const result = await source.load();
    if (!result.ok) return this.rejected(result.problems, `reload rejected: ${result.problems.length} problem(s) in ${source.file}; the previous config keeps serving`);
    for (const w of result.warnings) this.logger.warn({ problem: formatProblem(w) }, 'config warning');
    const config = result.config;
    const applied = await this.data.apply(config);
    if (!applied.ok) return this.rejected(applied.problems, 'reload rejected: the new config could not be built; the previous config keeps serving');
    this.stats.onReload(true);
    this.lastReloadProblems = [];
    source.markApplied();
    this.alerting?.reload(config.alerts);
    await this.supervisor.load(config);
    this.supervisor.reload(config);
    await this.applyDiscovery(config, false);
    const restartRequired = staticChanges(this.boundConfig, config);
    if (restartRequired.length > 0) this.logger.warn({ restartRequired }, `not applied until a restart: ${restartRequired.join(', ')} changed (bound when the process started); the rest was reloaded`);
    this.logger.info({ version: applied.version, routes: config.routes.length, upstreams: Object.keys(config.upstreams).length, closedTunnels: applied.closedTunnels }, 'config reloaded');
    const workers = this.workers?.list().map((w) => ({ slot: w.slot, version: w.version }));
    return { ok: true, version: applied.version, restartRequired, ...(workers === undefined ? {} : { workers }) };
  }

  private rejected(problems: readonly ConfigProblem[], message: string | null): ReloadResult {
    this.stats.onReload(false);
    this.lastReloadProblems = problems;
    if (message !== null) this.logger.error({ problems: problems.map(formatProblem) }, message);
    return { ok: false, problems };
  }

  /**
   * Stops watching the source: no reload starts from now on (the data plane is draining).
   * Settles once the source has written what it was writing (the config store's snapshot).
   */
  beginStop(): Promise<void> {
    this.stopped = true;
    this.sourceClosed ??= Promise.resolve(this.source?.close()).catch(() => {});
    return this.sourceClosed;
  }

  /** Stops the services' instances, closes the admin listener, alerting and the stats ticker. */
  async stop(): Promise<void> {
    await this.beginStop();
    await this.supervisor.stop();
    await this.discovery?.stop();
    await this.admin?.close();
    await this.alerting?.stop();
    this.stats.stop();
  }
}
