/**
 * The supervisor: runs the services of the `services` section, part of the control
 * plane. It drives the data plane only through membership commands and reads only plain
 * data (member status, stats windows), so it runs the same beside one data plane in
 * process or in front of several worker processes.
 *
 * One controller per service (`service.ts`), ticked four times a second; kept across
 * reloads (instances, restart counts, backoff, a count set by hand), reconfigured when
 * the service changed, drained and stopped when it left the file. Brisk's shutdown stops
 * every instance; any other exit of the process SIGKILLs them (see `Instance`).
 */
import type { ServiceControl } from '../alerting/actions.js';
import type { Config } from '../config/types.js';
import type { InstanceSnapshot, ServiceSnapshot } from '../observability/snapshot.js';
import type { ServiceConfig } from './config/types.js';
import type { RegistryPublisher } from './registry.js';
import type { ServiceController } from './service.js';
import { ServiceOperationError, type RestartStarted, type ServiceDeps, type ServicesView } from './types.js';

const TICK_MS = 250;

/**
 * The implementation, imported by {@link Supervisor.load} the first time a config has
 * services (or a registry to publish to): a gateway without a `services` section never
 * loads the process management, the autoscaler or the Redis publisher.
 */
let Controller: typeof ServiceController | null = null;
let Publisher: typeof RegistryPublisher | null = null;

/**
 * @example
 * const supervisor = new Supervisor({ port: dataPlane, stats, logger });
 * await supervisor.start(config);   // min instances ready (or failed), bounded
 * supervisor.reload(nextConfig);
 * await supervisor.stop();
 */
export class Supervisor implements ServicesView, ServiceControl {
  private readonly services = new Map<string, ServiceController>();
  /** Removed from the file, draining. */
  private readonly leaving = new Set<ServiceController>();
  private timer: NodeJS.Timeout | null = null;
  /** Publishes ready instances in the Redis registry (`services.NAME.register`); made when a service first asks. */
  private registry: RegistryPublisher | null = null;
  private ticks = 0;
  private stopped = false;
  private readonly killOnExit = (): void => {
    for (const c of [...this.services.values(), ...this.leaving]) c.killNow();
  };

  constructor(private readonly deps: ServiceDeps) {}

  /** Whether the configuration has services (or some are still stopping). */
  get active(): boolean {
    return this.services.size > 0 || this.leaving.size > 0;
  }

  /**
   * Starts the services and waits until each has its `min` instances ready, or has a
   * problem (a program that cannot start, an instance never ready), or `readyTimeout`
   * passed: Brisk then opens its listeners with its services warm, but never waits forever.
   */
  async start(config: Config): Promise<void> {
    await this.load(config);
    this.reload(config);
    const services = [...this.services.values()];
    if (services.length === 0) return;
    const deadline = Date.now() + Math.max(...services.map((s) => s.config.readyTimeoutMs)) + 1000;
    const settled = (s: ServiceController) => s.config.command === null || s.readyCount >= s.desired || s.problem !== null || s.gaveUp;
    while (Date.now() < deadline && !services.every(settled)) await new Promise((r) => setTimeout(r, 50));
    for (const s of services) {
      if (!settled(s)) this.deps.logger.warn({ service: s.name, ready: s.readyCount, desired: s.desired }, `service ${s.name}: ${s.readyCount} of ${s.desired} instance(s) ready at start; the rest join when ready`);
    }
  }

  /** Imports what `config`'s services need, once per process; await it before {@link reload}. */
  async load(config: Config): Promise<void> {
    const wanted = Object.values(config.services ?? {}) as ServiceConfig[];
    if (wanted.length > 0 && Controller === null) Controller = (await import('./service.js')).ServiceController;
    if (Publisher === null && wanted.some((s) => s.register !== null)) Publisher = (await import('./registry.js')).RegistryPublisher;
  }

  /**
   * Puts a config's services in force: new ones start, changed ones are reconfigured,
   * removed ones drain and stop. The config's implementation must be loaded ({@link load}).
   */
  reload(config: Config): void {
    if (this.stopped) return;
    const wanted = config.services ?? {};
    for (const [name, controller] of this.services) {
      if (Object.hasOwn(wanted, name)) continue;
      this.services.delete(name);
      this.deps.logger.info({ service: name }, `service ${name} was removed from the configuration; its instances drain and stop`);
      controller.close();
      this.leaving.add(controller);
    }
    for (const [name, service] of Object.entries(wanted) as [string, ServiceConfig][]) {
      const drainMs = config.upstreams[service.upstream]?.drainTimeoutMs ?? 30_000;
      const existing = this.services.get(name);
      if (existing !== undefined) existing.reconfigure(service, drainMs);
      else {
        if (Controller === null) throw new Error('Supervisor.reload before Supervisor.load');
        this.services.set(name, new Controller(service, drainMs, this.deps));
        this.deps.logger.info({ service: name, instances: service.min, upstream: service.upstream }, `service ${name}: starting ${service.min} instance(s) for upstream ${service.upstream}`);
      }
    }
    if (this.registry === null && Publisher !== null && Object.values(wanted).some((s) => (s as ServiceConfig).register !== null)) this.registry = new Publisher(this.deps.logger);
    if (this.active && this.timer === null) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
      process.once('exit', this.killOnExit);
      this.tick();
    }
  }

  private tick(): void {
    const now = Date.now();
    const second = this.ticks++ % (1000 / TICK_MS) === 0;
    for (const c of [...this.services.values(), ...this.leaving]) {
      try {
        c.tick(now);
        if (second) c.second(now);
      } catch (err) {
        // A bug in one service's bookkeeping must stop neither the others nor Brisk.
        this.deps.logger.error({ service: c.name, err }, `service ${c.name}: supervisor error`);
      }
      if (c.closed && c.instances.length === 0 && this.leaving.delete(c)) this.deps.logger.info({ service: c.name }, `service ${c.name}: every instance stopped`);
    }
    this.registry?.sync([...this.services.values()].map((c) => ({ name: c.name, register: c.config.register, instances: c.instances })));
  }

  /** Stops every instance (SIGTERM, SIGKILL after each service's `stopTimeout`). Call after the data plane drained. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    // Out of the registry first: other nodes stop sending before the instances get SIGTERM.
    await this.registry?.stop();
    const all = [...this.services.values(), ...this.leaving];
    const count = all.reduce((n, c) => n + c.instances.length, 0);
    if (count > 0) this.deps.logger.info({ instances: count }, `stopping ${count} service instance(s)`);
    await Promise.all(all.map((c) => c.shutdown()));
    process.removeListener('exit', this.killOnExit);
  }

  // ---- ServicesView (admin API, CLI, dashboard) -------------------------------------------

  list(): readonly ServiceSnapshot[] {
    const now = Date.now();
    return [...this.services.values()].map((c) => snapshotOf(c, now));
  }

  get(name: string): ServiceSnapshot | undefined {
    const c = this.services.get(name);
    return c === undefined ? undefined : snapshotOf(c, Date.now());
  }

  restart(name: string, options: { readonly instance?: number; readonly reason?: string }): RestartStarted {
    const c = this.controller(name);
    if (c.config.command === null) throw new ServiceOperationError('BRISK_SERVICE_REQUEST_INVALID', `service ${name} runs no instances here (it scales with scale.command)`);
    let only;
    if (options.instance !== undefined) {
      only = c.instances.find((i) => i.id === options.instance && i.leaving === null && i.state !== 'draining' && i.state !== 'stopping');
      if (only === undefined) throw new ServiceOperationError('BRISK_SERVICE_REQUEST_INVALID', `service ${name} has no running instance #${options.instance}; it has ${c.instances.map((i) => `#${i.id}`).join(', ') || 'none'}`);
    }
    return c.startRollout(options.reason === 'alert' ? 'alert' : 'rolling', only);
  }

  scale(name: string, count: number | 'auto'): ServiceSnapshot {
    const c = this.controller(name);
    if (count === 'auto') {
      if (c.config.scale === null) throw new ServiceOperationError('BRISK_SERVICE_REQUEST_INVALID', `service ${name} has no scale section: there is no autoscaler to hand the count back to`);
      c.mode = c.config.scale.command !== null ? 'command' : 'auto';
      this.deps.logger.info({ service: name }, `service ${name}: autoscaling resumed`);
      return snapshotOf(c, Date.now());
    }
    if (!Number.isInteger(count) || count < c.config.min || count > c.config.max) {
      throw new ServiceOperationError('BRISK_SERVICE_REQUEST_INVALID', `service ${name} runs between ${c.config.min} and ${c.config.max} instances (instances.min, instances.max); ${count} is outside`);
    }
    if (c.mode === 'command') throw new ServiceOperationError('BRISK_SERVICE_REQUEST_INVALID', `service ${name} scales with scale.command; its count is not set here`);
    c.mode = 'manual';
    c.setDesired(count, 'set through the admin API');
    return snapshotOf(c, Date.now());
  }

  // ---- ServiceControl (alert actions) ----------------------------------------------

  restartFromAlert(service: string, target: string | undefined, why: string): string {
    const c = this.controller(service);
    const inst = target === undefined ? undefined : c.instances.find((i) => i.url === target || target.startsWith(`${i.url}/`));
    if (inst !== undefined) {
      if (!c.restart(inst, 'alert', why, true)) return `instance #${inst.id} of ${service} is already being replaced, or the restart budget is spent`;
      return `restarting instance #${inst.id} of ${service}`;
    }
    const started = this.restart(service, { reason: 'alert' });
    return `rolling restart of ${service} (${started.instances.length} instance(s))`;
  }

  scaleFromAlert(service: string, change: { readonly by: number } | { readonly to: number }, why: string): string {
    const c = this.controller(service);
    if (c.config.command === null) throw new ServiceOperationError('BRISK_SERVICE_REQUEST_INVALID', `service ${service} scales with scale.command`);
    const to = 'to' in change ? change.to : c.desired + change.by;
    const from = c.desired;
    c.setDesired(to, why);
    return c.desired === from ? `${service} stays at ${from} instance(s) (within ${c.config.min}..${c.config.max})` : `${service} scaled ${from} → ${c.desired}`;
  }

  private controller(name: string): ServiceController {
    const c = this.services.get(name);
    if (c === undefined) {
      const known = [...this.services.keys()];
      throw new ServiceOperationError('BRISK_SERVICE_NOT_FOUND', `no service ${JSON.stringify(name)}${known.length > 0 ? `; the configuration has ${known.map((k) => JSON.stringify(k)).join(', ')}` : ' (the configuration has no services section)'}`);
    }
    return c;
  }
}

function snapshotOf(c: ServiceController, now: number): ServiceSnapshot {
  const instances: InstanceSnapshot[] = c.instances.map((i) => ({
    id: i.id,
    pid: i.pid,
    port: i.port,
    url: i.url,
    state: i.state,
    startedAt: i.startedAt,
    readyAt: i.readyAt,
    uptimeS: Math.round((now - i.startedAt) / 100) / 10,
    rssBytes: i.rssBytes,
    cpuPercent: i.cpuPercent === null ? null : Math.round(i.cpuPercent * 10) / 10,
    inFlight: i.inFlight,
    restarts: i.restarts,
    lastRestart: i.lastRestart,
  }));
  return {
    name: c.name,
    upstream: c.config.upstream,
    min: c.config.min,
    max: c.config.max,
    desired: c.desired,
    ready: c.readyCount,
    scaling: c.mode,
    instances,
    restarts: { ...c.restarts },
    scaleDecisions: { ...c.scaleDecisions },
    lastScale: c.lastScale,
    problem: c.problem,
    gaveUp: c.gaveUp,
    rollout: c.rolloutProgress,
  };
}
