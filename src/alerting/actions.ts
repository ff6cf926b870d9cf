/**
 * Actions: a command (argv, no shell), a webhook, or a restart or scaling of a service
 * Brisk runs, when an alert fires (and, with `onResolve`, when it resolves). Each runs at most once per `minInterval` per alert
 * instance, so a flapping alert cannot start a storm of processes or requests.
 */
import { createRequire } from 'node:module';
import { request } from '../core/undici.js';
import type { Logger } from '../observability/logger.js';
import { safeOrigin } from './notifiers.js';
import type { ActionConfig } from './schema.js';

/** What an action is told about the alert. */
export interface ActionEvent {
  readonly rule: string;
  readonly state: 'firing' | 'resolved';
  readonly severity: string;
  readonly value: string;
  readonly summary: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The alert instance's identity, for the rate limit. */
  readonly fingerprint: string;
}

const MAX_OUTPUT = 4096;

/**
 * What `restart` and `scale` actions drive: the services Brisk runs (the supervisor,
 * src/supervisor/), set by the control plane. Each call returns what was done, in words,
 * or throws with why nothing was.
 */
export interface ServiceControl {
  /** Restarts the instance whose target is `target` when the service has one, else every instance in turn. */
  restartFromAlert(service: string, target: string | undefined, why: string): string;
  /** Changes the service's instance count, by `by` or to `to`, within its min and max. */
  scaleFromAlert(service: string, change: { readonly by: number } | { readonly to: number }, why: string): string;
}

/**
 * Runs actions with their per-instance rate limit.
 *
 * @example
 * const runner = new ActionRunner(logger);
 * runner.run(rule.actions, event);
 */
export class ActionRunner {
  /** `fingerprint#index` → when it last ran. */
  private readonly lastRun = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  /** The services `restart` and `scale` actions act on; null when Brisk runs none. */
  services: ServiceControl | null = null;

  constructor(private readonly logger: Logger) {}

  /** Starts the actions that apply to this event; returns at once. */
  run(actions: readonly ActionConfig[], event: ActionEvent, now = Date.now()): void {
    actions.forEach((action, i) => {
      if (event.state === 'resolved' && !action.onResolve) return;
      const key = `${event.fingerprint}#${i}#${event.state}`;
      const last = this.lastRun.get(key);
      if (last !== undefined && now - last < action.minIntervalMs) {
        this.logger.info({ rule: event.rule, labels: event.labels, action: i, state: event.state, nextInMs: action.minIntervalMs - (now - last) }, 'alert action skipped: it ran less than minInterval ago');
        return;
      }
      this.lastRun.set(key, now);
      const p = this.start(action, event, i).catch((error: unknown) => {
        this.logger.error({ err: error, rule: event.rule, action: i, code: 'BRISK_ALERT_ACTION_FAILED' }, 'alert action failed');
      });
      this.running.add(p);
      void p.finally(() => this.running.delete(p));
    });
    // Forget instances that have not run for a day so the map cannot grow forever.
    if (this.lastRun.size > 10_000) for (const [k, t] of this.lastRun) if (now - t > 86_400_000) this.lastRun.delete(k);
  }

  private start(action: ActionConfig, event: ActionEvent, index: number): Promise<void> {
    switch (action.kind) {
      case 'command':
        return this.command(action, event, index);
      case 'webhook':
        return this.webhook(action, event, index);
      default:
        return Promise.resolve().then(() => this.service(action, event, index));
    }
  }

  /** `restart` / `scale`: a call into the supervisor, logged with what it did or why it did nothing. */
  private service(action: Extract<ActionConfig, { kind: 'restart' | 'scale' }>, event: ActionEvent, index: number): void {
    const fields = { rule: event.rule, state: event.state, labels: event.labels, action: index, service: action.service };
    const why = `alert ${event.rule} ${event.state}`;
    if (this.services === null) {
      this.logger.error({ ...fields, code: 'BRISK_ALERT_ACTION_FAILED' }, `alert action ${action.kind} ${action.service}: no services run in this gateway`);
      return;
    }
    try {
      const done =
        action.kind === 'restart'
          ? this.services.restartFromAlert(action.service, event.labels['target'], why)
          : this.services.scaleFromAlert(action.service, action.to !== null ? { to: action.to } : { by: action.by ?? 0 }, why);
      this.logger.info(fields, `alert action ran: ${done}`);
    } catch (error) {
      this.logger.error({ ...fields, reason: (error as Error).message, code: 'BRISK_ALERT_ACTION_FAILED' }, `alert action ${action.kind} ${action.service} did nothing: ${(error as Error).message}`);
    }
  }

  /** Waits for running actions (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private command(action: Extract<ActionConfig, { kind: 'command' }>, event: ActionEvent, index: number): Promise<void> {
    const env: Record<string, string> = { ...process.env, ...action.env } as Record<string, string>;
    env['BRISK_ALERT_RULE'] = event.rule;
    env['BRISK_ALERT_STATE'] = event.state;
    env['BRISK_ALERT_SEVERITY'] = event.severity;
    env['BRISK_ALERT_VALUE'] = event.value;
    env['BRISK_ALERT_SUMMARY'] = event.summary;
    env['BRISK_ALERT_LABELS'] = JSON.stringify(event.labels);
    for (const [k, v] of Object.entries(event.labels)) env[`BRISK_ALERT_LABEL_${k.toUpperCase()}`] = v;
    const [file, ...args] = action.command;
    return new Promise((resolve) => {
      const started = Date.now();
      // Required at the first command action: a gateway without one never loads child_process.
      const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
      const child = spawn(file!, args, { env, stdio: ['ignore', 'pipe', 'pipe'], shell: false });
      let output = '';
      const collect = (chunk: Buffer) => {
        if (output.length < MAX_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_OUTPUT - output.length);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, action.timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        this.logger.error({ rule: event.rule, action: index, command: file, err: error, code: 'BRISK_ALERT_ACTION_FAILED' }, `alert action could not start ${JSON.stringify(file)}`);
        resolve();
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const fields = { rule: event.rule, state: event.state, labels: event.labels, action: index, command: file, exitCode: code, signal, durationMs: Date.now() - started, output: output.trimEnd() };
        if (timedOut) this.logger.error({ ...fields, code: 'BRISK_ALERT_ACTION_FAILED' }, `alert action killed after its timeout of ${action.timeoutMs}ms`);
        else if (code !== 0) this.logger.error({ ...fields, code: 'BRISK_ALERT_ACTION_FAILED' }, `alert action exited with code ${code}`);
        else this.logger.info(fields, 'alert action ran');
        resolve();
      });
    });
  }

  private async webhook(action: Extract<ActionConfig, { kind: 'webhook' }>, event: ActionEvent, index: number): Promise<void> {
    const body = JSON.stringify({ version: '1', rule: event.rule, state: event.state, severity: event.severity, value: event.value, summary: event.summary, labels: event.labels });
    try {
      const res = await request(action.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'brisk-alerting', ...action.headers },
        body,
        headersTimeout: action.timeoutMs,
        bodyTimeout: action.timeoutMs,
      });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode > 299) {
        this.logger.error({ rule: event.rule, action: index, to: safeOrigin(action.webhookUrl), status: res.statusCode, code: 'BRISK_ALERT_ACTION_FAILED' }, `alert action webhook answered ${res.statusCode}`);
      } else this.logger.info({ rule: event.rule, state: event.state, action: index, to: safeOrigin(action.webhookUrl), status: res.statusCode }, 'alert action webhook called');
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      this.logger.error({ rule: event.rule, action: index, to: safeOrigin(action.webhookUrl), reason: e.code ?? e.message, code: 'BRISK_ALERT_ACTION_FAILED' }, 'alert action webhook failed');
    }
  }
}
