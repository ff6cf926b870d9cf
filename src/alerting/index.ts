/**
 * Alerting as the gateway runs it: the engine (rules over `gw.stats`), the on-disk
 * delivery queue with its receivers, silences and actions, started with the gateway,
 * reconfigured on reload and stopped with it.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { AlertsView, StatsSource } from '../observability/snapshot.js';
import { ActionRunner } from './actions.js';
import { AlertEngine, type AlertStateStore, type PersistedAlert } from './engine.js';
import { deliver, type Notification } from './notifiers.js';
import { DeliveryQueue, writeDurably } from './queue.js';
import { normalizeAlerts, type AlertingConfig } from './schema.js';
import { Silences } from './silences.js';

export { AlertEngine } from './engine.js';
export type { AlertingConfig } from './schema.js';

/**
 * @example
 * const alerting = AlertingService.start(config.alerts, gw.stats, gw.logger);
 * gw.alerts = alerting.view;
 * // reload: alerting.reload(newConfig.alerts); stop: await alerting.stop();
 */
export class AlertingService {
  readonly engine: AlertEngine;
  readonly queue: DeliveryQueue;
  readonly silences: Silences;
  readonly actions: ActionRunner;
  private config: AlertingConfig;

  private constructor(config: AlertingConfig, source: StatsSource, private readonly logger: Logger) {
    this.config = config;
    this.silences = new Silences(config.queue.dir, logger);
    this.actions = new ActionRunner(logger);
    this.queue = new DeliveryQueue(config.queue, logger, (n) => this.send(n));
    this.engine = new AlertEngine(
      config,
      source,
      this.silences,
      logger,
      {
        notify: (n) => this.queue.enqueue(n),
        act: (rule, event) => this.actions.run(rule.actions, event),
      },
      this.stateStore(join(config.queue.dir, 'state.json')),
    );
  }

  /**
   * `state.json` next to the queue: the alerts receivers were told are firing. Written
   * only while there are receivers, so a gateway without any writes nothing.
   */
  private stateStore(file: string): AlertStateStore {
    return {
      load: () => {
        try {
          const list = JSON.parse(readFileSync(file, 'utf8')) as PersistedAlert[];
          return Array.isArray(list) ? list : [];
        } catch {
          return [];
        }
      },
      save: (alerts) => {
        if (Object.keys(this.config.receivers).length === 0) return;
        mkdirSync(join(file, '..'), { recursive: true });
        writeDurably(file, JSON.stringify(alerts));
      },
    };
  }

  /**
   * Starts evaluating (unless `alerts.enabled` is false) and replays notifications a
   * previous run left in the queue. `config` undefined means the defaults.
   */
  static start(config: AlertingConfig | undefined, source: StatsSource, logger: Logger): AlertingService {
    const effective = config ?? normalizeAlerts(undefined, process.cwd()).config!;
    const service = new AlertingService(effective, source, logger);
    // The queue directory is only created when there is somewhere to send to (or
    // something left to send), so a gateway without receivers writes nothing.
    if (Object.keys(effective.receivers).length > 0) service.openQueue();
    if (effective.enabled) service.engine.start();
    logger.info({ rules: effective.enabled ? effective.rules.length : 0, receivers: Object.keys(effective.receivers).length }, effective.enabled ? 'alerting started' : 'alerting is off (alerts.enabled: false)');
    return service;
  }

  /** What the dashboard reads. */
  get view(): AlertsView {
    return this.engine;
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** A reload: rules, receivers and routes are replaced; unchanged rules keep their alerts. */
  reload(config: AlertingConfig | undefined): void {
    const effective = config ?? normalizeAlerts(undefined, process.cwd()).config!;
    this.config = effective;
    this.engine.update(effective);
    this.queue.reconfigure(effective.queue);
    if (Object.keys(effective.receivers).length > 0) this.openQueue();
    if (effective.enabled) this.engine.start();
    else this.engine.stop();
  }

  async stop(): Promise<void> {
    this.engine.stop();
    await this.queue.close();
  }

  private openQueue(): void {
    try {
      this.queue.open();
    } catch (error) {
      this.logger.error({ err: error, dir: this.config.queue.dir, code: 'BRISK_ALERT_DELIVERY_FAILED' }, 'cannot open the alert queue directory; notifications are sent without a copy on disk');
    }
  }

  private async send(n: Notification): Promise<void> {
    const receiver = Object.hasOwn(this.config.receivers, n.receiver) ? this.config.receivers[n.receiver] : undefined;
    if (receiver === undefined) throw new Error(`receiver ${JSON.stringify(n.receiver)} is not in the config any more (kept until alerts.queue.maxAge in case it comes back)`);
    await deliver(receiver, n);
  }
}
