/**
 * A rolling restart of one service: its instances replaced one at a time, the next once
 * the previous replacement is ready and its old instance gone, so capacity never drops by
 * more than one instance and no request fails. Started by the admin API, an alert action,
 * or a reload that changed the service's program, directory, environment or upstream.
 */
import type { Logger } from '../observability/logger.js';
import type { RestartReason, ServiceSnapshot } from '../observability/snapshot.js';
import type { Instance } from './instance.js';
import { ServiceOperationError, type RestartStarted } from './types.js';

/** What a rollout drives (a `ServiceController`). */
export interface RolloutHost {
  readonly name: string;
  readonly instances: readonly Instance[];
  /** Whether a start (or a replacement) is under way. */
  readonly busy: boolean;
  restart(inst: Instance, reason: RestartReason, detail: string, budgeted: boolean): boolean;
}

interface Current {
  readonly queue: Instance[];
  readonly reason: RestartReason;
  readonly total: number;
  done: number;
  readonly finished: (result: { ok: boolean; message: string }) => void;
}

export class Rollout {
  private current: Current | null = null;

  constructor(
    private readonly host: RolloutHost,
    private readonly log: Logger,
  ) {}

  get active(): boolean {
    return this.current !== null;
  }

  /** Throws BRISK_SERVICE_BUSY while a rollout is under way. */
  assertIdle(): void {
    if (this.current !== null) throw new ServiceOperationError('BRISK_SERVICE_BUSY', `service ${this.host.name} is already being restarted (${this.current.done} of ${this.current.total} done)`);
  }

  /** Starts replacing `instances` in turn. Throws BRISK_SERVICE_BUSY while one is under way. */
  start(reason: RestartReason, instances: readonly Instance[]): RestartStarted {
    const name = this.host.name;
    this.assertIdle();
    let finished!: Current['finished'];
    const done = new Promise<{ ok: boolean; message: string }>((resolve) => (finished = resolve));
    this.current = { queue: [...instances], reason, total: instances.length, done: 0, finished };
    this.log.info({ service: name, instances: instances.map((i) => i.id), reason }, `service ${name}: rolling restart of ${instances.length} instance(s)`);
    this.step();
    return { service: name, instances: instances.map((i) => i.id), done };
  }

  /** Replaces the next instance once the previous replacement is done (called every tick). */
  step(): void {
    const r = this.current;
    if (r === null || this.host.busy) return;
    let next = r.queue.shift();
    while (next !== undefined && (!this.host.instances.includes(next) || next.leaving !== null)) next = r.queue.shift();
    if (next === undefined) {
      this.current = null;
      this.log.info({ service: this.host.name, instances: r.total }, `service ${this.host.name}: rolling restart done (${r.total} instance(s))`);
      r.finished({ ok: true, message: `${r.total} instance(s) replaced` });
      return;
    }
    r.done++;
    this.host.restart(next, r.reason, r.reason === 'config' ? `the service definition changed (${r.done} of ${r.total})` : `${r.done} of ${r.total}`, false);
  }

  /** Stops early; the instances not yet replaced keep running. */
  abort(why: string): void {
    const r = this.current;
    if (r === null) return;
    this.current = null;
    this.log.error({ service: this.host.name, done: r.done, total: r.total }, `service ${this.host.name}: rolling restart stopped after ${Math.max(0, r.done - 1)} of ${r.total}: ${why}`);
    r.finished({ ok: false, message: why });
  }

  get progress(): ServiceSnapshot['rollout'] {
    const r = this.current;
    return r === null ? null : { done: r.done, total: r.total, reason: r.reason };
  }
}
