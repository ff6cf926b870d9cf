/**
 * One supervised service: its instances' lives, from start to stop, kept at the desired
 * count. Ticked by the `Supervisor` (four times a second for what the data plane says,
 * once a second for the rules in `rules.ts`); the instances' exits arrive as events.
 *
 * The life of an instance, and the commands the upstream's target set gets:
 *
 *     spawn ──port accepts──► add (warming) ──first probe passes──► ready ──► … ──► drain ──idle or bound──► SIGTERM ──grace──► SIGKILL
 *
 * A restart starts the replacement first when `max` allows and stops the old instance
 * once the new one is ready; a hung one is taken out at once (it serves nothing). See
 * src/supervisor/README.md for the decisions.
 */
import type { RestartReason, ServiceSnapshot } from '../observability/snapshot.js';
import type { MemberStatus } from '../upstreams/membership.js';
import type { ServiceConfig } from './config/types.js';
import { describeExit, Instance, type ExitInfo, type LaunchSpec, type Leaving } from './instance.js';
import { ServiceOutput } from './output.js';
import { backoffMs, modeOf, RestartBudget, sharedUnreadiness } from './policy.js';
import { Placement } from './placement.js';
import { canBind, pickFreePort } from './ports.js';
import { Rollout } from './rollout.js';
import { ServiceRules } from './rules.js';
import type { RestartStarted, ServiceDeps } from './types.js';

/** Port clashes in a row that are retried at once, before they count as failures. */
const PORT_RETRIES = 3;

type ProblemCode = 'BRISK_SERVICE_START_FAILED' | 'BRISK_SERVICE_CRASH_LOOP' | 'BRISK_SERVICE_NOT_READY' | 'BRISK_SERVICE_PORT_IN_USE' | 'BRISK_SERVICE_ALL_UNREADY';

export class ServiceController {
  readonly instances: Instance[] = [];
  desired: number;
  mode: ServiceSnapshot['scaling'];
  readonly restarts: Partial<Record<RestartReason, number>> = {};
  readonly scaleDecisions = { up: 0, down: 0 };
  lastScale: ServiceSnapshot['lastScale'] = null;
  problem: ServiceSnapshot['problem'] = null;
  /** Every serving instance answers that it is not ready (sharedUnreadiness). */
  private allUnready = false;
  gaveUp = false;
  /** The service left the configuration: its instances drain and stop. */
  closed = false;
  /** The data plane's view of the upstream at the last tick, by target URL. */
  members = new Map<string, MemberStatus>();
  private nextId = 1;
  /** Failures in a row (exits, starts that never became ready): drives the backoff. */
  private failures = 0;
  private nextStartAt = 0;
  private portClashes = 0;
  /** Starts under way (a port is being picked). */
  private launching = 0;
  /** Restart history handed to the next instance started in a dead one's place. */
  private readonly lineage: Array<{ restarts: number; last: NonNullable<Instance['lastRestart']> }> = [];
  private readonly rollout: Rollout;
  private readonly budget: RestartBudget;
  private readonly output: ServiceOutput;
  private readonly placement: Placement;
  readonly rules: ServiceRules;

  constructor(
    public config: ServiceConfig,
    /** The bound upstream's `drainTimeout`, used when the service sets none. */
    private upstreamDrainMs: number,
    private readonly deps: ServiceDeps,
  ) {
    this.desired = config.min;
    this.mode = modeOf(config);
    this.budget = new RestartBudget(config.restart.budget.restarts, config.restart.budget.windowMs);
    this.output = new ServiceOutput(config.name, config.output, deps.logger);
    this.rules = new ServiceRules(this, deps);
    this.rollout = new Rollout(this, deps.logger);
    this.placement = new Placement(config.name, deps.port, deps.logger, () => this.instances);
  }

  get name(): string {
    return this.config.name;
  }

  private get log() {
    return this.deps.logger;
  }

  /** Instances that count towards the desired number: not leaving, not on their way out. */
  get live(): Instance[] {
    return this.instances.filter((i) => i.leaving === null && i.state !== 'draining' && i.state !== 'stopping');
  }

  get readyCount(): number {
    return this.instances.filter((i) => i.state === 'ready').length;
  }

  // ---- the loop ---------------------------------------------------------------------

  /** Follows what the data plane says of each instance, then brings the count in line. */
  tick(now: number): void {
    const seen = this.placement.members([this.config.upstream, ...this.instances.map((i) => i.spec.upstream)]);
    this.members = seen;
    const shared = sharedUnreadiness(this.instances.filter((i) => i.state === 'ready' || i.state === 'unhealthy').map((i) => seen.get(i.url)));
    if (shared !== null && this.problem?.code !== 'BRISK_SERVICE_ALL_UNREADY') this.log.warn({ service: this.name, code: 'BRISK_SERVICE_ALL_UNREADY' }, `service ${this.name}: ${shared}`);
    if (shared !== null) this.setProblem({ code: 'BRISK_SERVICE_ALL_UNREADY', message: shared });
    else if (this.problem?.code === 'BRISK_SERVICE_ALL_UNREADY') this.setProblem(null);
    this.allUnready = shared !== null;
    for (const inst of [...this.instances]) this.follow(inst, seen.get(inst.url), now);
    if (this.failures > 0 && this.instances.some((i) => i.state === 'ready' && i.readyForMs(now) >= this.config.restart.resetAfterMs)) this.failures = 0;
    this.reconcile(now);
    this.rollout.step();
    this.rules.observeLoad(now);
  }

  /** Once a second: samples, and the memory, latency and scaling rules. */
  second(now: number): void {
    this.rules.second(now);
  }

  private follow(inst: Instance, member: MemberStatus | undefined, now: number): void {
    inst.inFlight = member?.inFlight ?? 0;
    inst.recordProbe(member?.lastProbe ?? null);
    switch (inst.state) {
      case 'starting':
        if (inst.joined && member?.state === 'active' && member.health === 'healthy') this.becameReady(inst, now);
        if (inst.state === 'starting' && now - inst.startedAt > this.config.readyTimeoutMs) this.neverReady(inst, member);
        return;
      case 'ready':
      case 'unhealthy': {
        if (member === undefined) {
          if (inst.leaving === null) this.log.warn({ service: this.name, instance: inst.id, target: inst.url }, `service ${this.name}: instance #${inst.id} was taken out of upstream ${inst.spec.upstream} from elsewhere (the admin API?); it is stopped and replaced`);
          inst.joined = false;
          this.terminate(inst, { reason: 'removed', detail: 'taken out of its upstream', at: now });
          return;
        }
        const bad = member.health === 'unhealthy' || member.health === 'ejected';
        if (!bad) {
          inst.state = 'ready';
          inst.unhealthySince = 0;
          return;
        }
        if (inst.state === 'ready') {
          inst.state = 'unhealthy';
          inst.unhealthySince = now;
        }
        // Waiting for its replacement, it stopped serving: nothing is gained by keeping it.
        if (inst.leaving !== null) {
          this.inherit(inst);
          this.terminate(inst, inst.leaving);
          return;
        }
        const why = member.reason === null ? '' : ` (${member.reason})`;
        inst.unhealthyReason = member.health === 'ejected' ? `ejected by outlier detection${why}` : `failing its health check${why}`;
        const forMs = this.config.restart.unhealthyForMs;
        // A cause every instance shares (policy.ts): the clock starts again once it is over.
        if (this.allUnready) inst.unhealthySince = now;
        else if (forMs > 0 && now - inst.unhealthySince >= forMs && inst.leaving === null) {
          this.restart(inst, 'unhealthy', `${inst.unhealthyReason} for ${Math.round((now - inst.unhealthySince) / 100) / 10}s`, true);
        }
        return;
      }
      case 'draining':
        if (member === undefined || now >= inst.drainDeadline) this.terminate(inst, inst.leaving);
        return;
      case 'stopping':
        return;
    }
  }

  private becameReady(inst: Instance, now: number): void {
    inst.state = 'ready';
    inst.readyAt = now;
    this.portClashes = 0;
    if (!this.gaveUp && this.problem !== null && this.problem.code !== 'BRISK_SERVICE_CRASH_LOOP') this.setProblem(null);
    this.log.info({ service: this.name, instance: inst.id, pid: inst.pid, port: inst.port, startMs: now - inst.startedAt }, `service ${this.name}: instance #${inst.id} ready on port ${inst.port} after ${now - inst.startedAt}ms`);
    const old = inst.replaces;
    inst.replaces = null;
    if (old !== null && old.replacedBy === inst && (old.state === 'ready' || old.state === 'unhealthy' || old.state === 'starting')) this.drain(old);
  }

  private neverReady(inst: Instance, member: MemberStatus | undefined): void {
    const why = !inst.joined
      ? `nothing listens on its port ${inst.port} (\$PORT) after ${this.config.readyTimeoutMs}ms: does the program listen on $PORT?`
      : `its health check did not pass within ${this.config.readyTimeoutMs}ms${member?.reason ? ` (${member.reason})` : ''}`;
    this.log.error({ service: this.name, instance: inst.id, pid: inst.pid, port: inst.port, code: 'BRISK_SERVICE_NOT_READY' }, `service ${this.name}: instance #${inst.id} never became ready: ${why}; it is stopped`);
    this.setProblem({ code: 'BRISK_SERVICE_NOT_READY', message: `instance #${inst.id} never became ready: ${why}` });
    this.unlink(inst);
    this.failed('not-ready', why, inst);
    this.terminate(inst, { reason: 'not-ready', detail: why, at: Date.now() });
  }

  /** Starts or stops instances until the live count is the desired one. */
  private reconcile(now: number): void {
    if (this.closed || this.config.command === null) return;
    const live = this.live.length + this.launching;
    // Instances marked for a restart wait for a replacement (one per start under way); when
    // no start will come (the count went down meanwhile), they simply drain.
    const waiting = this.instances.filter((i) => i.leaving !== null && i.replacedBy === null && (i.state === 'ready' || i.state === 'unhealthy'));
    if (live >= this.desired && waiting.length > this.launching) {
      for (const inst of waiting.slice(this.launching)) {
        this.inherit(inst);
        this.drain(inst);
      }
    }
    if (live < this.desired) {
      if (this.gaveUp || now < this.nextStartAt) return;
      // After failures, one start at a time: a crashing program is tried, not stormed.
      if (this.failures > 0 && (this.launching > 0 || this.instances.some((i) => i.state === 'starting'))) return;
      let slots = this.config.max - this.instances.filter((i) => i.state !== 'stopping').length - this.launching;
      let missing = this.desired - live;
      while (missing > 0 && slots > 0) {
        this.launch();
        missing--;
        slots--;
        if (this.failures > 0) break;
      }
      return;
    }
    if (live > this.desired && this.launching === 0) {
      const byAge = this.live.sort((a, b) => Number(a.state === 'ready') - Number(b.state === 'ready') || b.startedAt - a.startedAt);
      for (const inst of byAge.slice(0, live - this.desired)) {
        inst.leaving = { reason: 'scale-down', detail: `scaled to ${this.desired}`, at: now };
        this.drain(inst);
      }
    }
  }

  private launch(): void {
    const command = this.config.command!;
    const spec: LaunchSpec = { service: this.name, command, cwd: this.config.cwd, env: this.config.env, upstream: this.config.upstream };
    this.launching++;
    const avoid = new Set<number>([...this.instances.map((i) => i.port), ...[...this.members.keys()].map((u) => Number(new URL(u).port))]);
    void pickFreePort(avoid).then(
      (port) => {
        this.launching--;
        if (this.closed) return;
        const inst = new Instance(this.nextId++, port, spec);
        const predecessor = this.instances.find((i) => i.leaving !== null && i.replacedBy === null && (i.state === 'ready' || i.state === 'unhealthy'));
        if (predecessor !== undefined) {
          predecessor.replacedBy = inst;
          inst.replaces = predecessor;
          inst.restarts = predecessor.restarts + 1;
          inst.lastRestart = { reason: predecessor.leaving!.reason as RestartReason, detail: predecessor.leaving!.detail, at: predecessor.leaving!.at, replaced: predecessor.id };
        } else {
          const before = this.lineage.shift();
          if (before !== undefined) {
            inst.restarts = before.restarts;
            inst.lastRestart = before.last;
          }
        }
        this.instances.push(inst);
        this.log.info({ service: this.name, instance: inst.id, port, replaces: predecessor?.id }, `service ${this.name}: starting instance #${inst.id} on port ${port}${predecessor === undefined ? '' : ` to replace #${predecessor.id}`}`);
        inst.start(this.output, (exit) => this.onExit(inst, exit));
        void this.placement.joinWhenListening(inst, () => !this.closed);
      },
      (err: unknown) => {
        this.launching--;
        this.log.error({ service: this.name, err, code: 'BRISK_SERVICE_START_FAILED' }, `service ${this.name}: no free port for a new instance`);
        this.nextStartAt = Date.now() + 1000;
      },
    );
  }

  // ---- stopping ---------------------------------------------------------------------

  /** Graceful: out of the balancer, requests in flight finish (bounded), then SIGTERM. */
  private drain(inst: Instance): void {
    if (inst.state === 'draining' || inst.state === 'stopping') return;
    inst.leaving ??= { reason: 'removed', detail: 'stopped', at: Date.now() };
    if (!inst.joined || !inst.alive) return this.terminate(inst, inst.leaving);
    const bound = this.config.drainTimeoutMs ?? this.upstreamDrainMs;
    inst.state = 'draining';
    inst.drainDeadline = Date.now() + bound + 1000;
    this.placement.leave(inst, bound);
  }

  /** Out of the upstream at once (requests in flight cut), then SIGTERM, SIGKILL after the grace period. */
  private terminate(inst: Instance, leaving: Leaving | null): void {
    if (inst.state === 'stopping') return;
    inst.leaving ??= leaving ?? { reason: 'removed', detail: 'stopped', at: Date.now() };
    this.placement.leave(inst, 0);
    void inst.stop(this.config.stopTimeoutMs).then(() => {
      if (inst.alive) this.log.error({ service: this.name, instance: inst.id, pid: inst.pid }, `service ${this.name}: instance #${inst.id} (pid ${inst.pid}) did not exit even after SIGKILL`);
    });
  }

  private onExit(inst: Instance, exit: ExitInfo): void {
    const index = this.instances.indexOf(inst);
    if (index !== -1) this.instances.splice(index, 1);
    this.output.instanceGone(inst.id);
    this.placement.leave(inst, 0);
    if (inst.leaving !== null || inst.state === 'stopping') {
      this.log.info({ service: this.name, instance: inst.id, pid: inst.pid, reason: inst.leaving?.reason }, `service ${this.name}: instance #${inst.id} stopped (${describeExit(exit)})`);
      return;
    }
    const how = describeExit(exit);
    this.unlink(inst);
    if (exit.spawnError === null && inst.readyAt === null) {
      // Exited before it was ready: the port may have been taken between our check and its bind.
      void canBind(inst.port).then((free) => (free ? this.crashed(inst, how) : this.portTaken(inst, how)));
      return;
    }
    this.crashed(inst, how, exit.spawnError !== null);
  }

  private crashed(inst: Instance, how: string, cannotStart = false): void {
    if (this.closed) return;
    const code = cannotStart ? 'BRISK_SERVICE_START_FAILED' : 'BRISK_SERVICE_CRASHED';
    this.log.error({ service: this.name, instance: inst.id, pid: inst.pid, code }, `service ${this.name}: instance #${inst.id} ${how}${inst.readyAt === null ? ' before it was ready' : ''}`);
    if (cannotStart) this.setProblem({ code: 'BRISK_SERVICE_START_FAILED', message: `instance #${inst.id} ${how}` });
    this.failed('exit', how, inst);
  }

  private portTaken(inst: Instance, how: string): void {
    if (this.closed) return;
    this.portClashes++;
    const message = `instance #${inst.id} ${how}: its port ${inst.port} was taken by another process`;
    this.log.warn({ service: this.name, instance: inst.id, port: inst.port, code: 'BRISK_SERVICE_PORT_IN_USE' }, `service ${this.name}: ${message}; starting it again on another port`);
    if (this.portClashes > PORT_RETRIES) {
      this.setProblem({ code: 'BRISK_SERVICE_PORT_IN_USE', message: `${message} (${this.portClashes} times in a row)` });
      this.failed('exit', message, inst);
    } else this.lineage.push({ restarts: inst.restarts, last: { ...(inst.lastRestart ?? { reason: 'exit', detail: message, at: Date.now() }), replaced: inst.id } });
  }

  /** A failure (exit, never ready): backoff, and the budget; past it the service is given up. */
  private failed(reason: RestartReason, detail: string, inst: Instance): void {
    const now = Date.now();
    this.failures++;
    if (!this.budget.allows(now)) {
      this.giveUp(detail);
      return;
    }
    this.budget.spend(now);
    this.count(reason);
    const wait = backoffMs(this.failures, this.config.restart.initialBackoffMs, this.config.restart.maxBackoffMs);
    this.nextStartAt = now + wait;
    this.lineage.push({ restarts: inst.restarts + 1, last: { reason, detail, at: now, replaced: inst.id } });
    if (this.failures > 1) this.log.warn({ service: this.name, failures: this.failures, backoffMs: wait }, `service ${this.name}: ${this.failures} failures in a row; next start in ${wait}ms`);
  }

  private giveUp(detail: string): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    // Instances waiting for a replacement that will not come keep serving.
    for (const i of this.instances) if (i.leaving !== null && i.replacedBy === null && (i.state === 'ready' || i.state === 'unhealthy')) i.leaving = null;
    const { restarts, windowMs } = this.config.restart.budget;
    const message = `gave up after ${restarts} restarts within ${windowMs / 1000}s (last: ${detail}); fix it, then POST /api/services/${this.name}/restart or reload`;
    this.setProblem({ code: 'BRISK_SERVICE_CRASH_LOOP', message });
    this.log.error({ service: this.name, code: 'BRISK_SERVICE_CRASH_LOOP' }, `service ${this.name}: ${message}`);
    this.rollout.abort('the service was given up');
  }

  // ---- restarts ---------------------------------------------------------------------

  /**
   * Replaces `inst`. A rule's restart (`budgeted`) waits while the budget is spent. The
   * replacement starts first when `max` allows; a hung instance is taken out at once.
   */
  restart(inst: Instance, reason: RestartReason, detail: string, budgeted: boolean): boolean {
    if (inst.leaving !== null || inst.state === 'draining' || inst.state === 'stopping') return false;
    const now = Date.now();
    if (budgeted) {
      if (!this.budget.allows(now)) {
        // Rules ask again every tick: say it once a budget window, not four times a second.
        if (now - inst.deferredAt >= this.config.restart.budget.windowMs) {
          inst.deferredAt = now;
          this.log.warn({ service: this.name, instance: inst.id, reason }, `service ${this.name}: instance #${inst.id} should be restarted (${reason}: ${detail}), but the restart budget is spent; it waits`);
        }
        return false;
      }
      this.budget.spend(now);
    }
    this.count(reason);
    inst.leaving = { reason, detail, at: now };
    this.log.warn({ service: this.name, instance: inst.id, pid: inst.pid, reason, detail }, `service ${this.name}: restarting instance #${inst.id} (${reason}: ${detail})`);
    const hung = inst.state === 'unhealthy' || inst.state === 'starting';
    const atMax = this.instances.filter((i) => i.state !== 'stopping').length + this.launching >= this.config.max;
    if (!hung && !atMax) return true; // the next start replaces it (see `launch`), then it drains
    // Stopped first: its replacement starts once it is on its way out, and inherits its history.
    this.inherit(inst);
    if (hung) this.terminate(inst, inst.leaving);
    else this.drain(inst);
    return true;
  }

  /** A rolling restart: each instance replaced in turn (the next once the previous one is done). */
  startRollout(reason: RestartReason, only?: Instance): RestartStarted {
    this.rollout.assertIdle();
    if (this.gaveUp) this.revive();
    return this.rollout.start(reason, only !== undefined ? [only] : this.instances.filter((i) => i.leaving === null && i.state !== 'draining' && i.state !== 'stopping'));
  }

  /** A start or a replacement is under way (a rollout waits for it). */
  get busy(): boolean {
    return this.launching > 0 || this.instances.some((i) => i.leaving !== null || i.state === 'starting');
  }

  /** An instance restarted without a replacement linked to it: the next one started takes its history. */
  private inherit(inst: Instance): void {
    const l = inst.leaving;
    if (l === null || inst.replacedBy !== null || l.reason === 'scale-down' || l.reason === 'removed' || l.reason === 'shutdown') return;
    this.lineage.push({ restarts: inst.restarts + 1, last: { reason: l.reason, detail: l.detail, at: l.at, replaced: inst.id } });
  }

  /** A replacement that failed: the instance it was to replace stays (and is tried again later). */
  private unlink(inst: Instance): void {
    const old = inst.replaces;
    if (old === null) return;
    old.replacedBy = null;
    inst.replaces = null;
    if (this.rollout.active && old.leaving !== null) {
      old.leaving = null;
      this.rollout.abort(`the replacement of instance #${old.id} failed`);
    }
  }

  /** Forgets a give-up: an operator restarted the service, or its definition changed. */
  private revive(): void {
    this.gaveUp = false;
    this.failures = 0;
    this.nextStartAt = 0;
    this.budget.clear();
    this.setProblem(null);
  }

  // ---- scaling ----------------------------------------------------------------------

  /** Sets the desired count (within min..max), counting the decision. */
  setDesired(count: number, reason: string): void {
    const to = Math.min(this.config.max, Math.max(this.config.min, count));
    if (to === this.desired) return;
    const from = this.desired;
    this.desired = to;
    if (to > from) this.scaleDecisions.up++;
    else this.scaleDecisions.down++;
    this.lastScale = { from, to, reason, at: Date.now() };
    this.log.info({ service: this.name, from, to, reason }, `service ${this.name}: scaling ${from} → ${to} (${reason})`);
  }

  // ---- configuration ------------------------------------------------------------------

  /** A reload: new settings apply at once; a changed program, directory, environment or upstream rolls every instance. */
  reconfigure(config: ServiceConfig, upstreamDrainMs: number): void {
    const before = this.config;
    this.config = config;
    this.upstreamDrainMs = upstreamDrainMs;
    this.output.reconfigure(config.output);
    this.budget.reconfigure(config.restart.budget.restarts, config.restart.budget.windowMs);
    this.rules.reconfigure();
    if (this.mode !== 'manual') this.mode = modeOf(config);
    if (this.mode === 'fixed') this.desired = config.min;
    this.desired = Math.min(config.max, Math.max(config.min, this.desired));
    const spec = (c: ServiceConfig) => JSON.stringify([c.command, c.cwd, c.env, c.upstream]);
    if (spec(before) !== spec(config)) {
      if (this.gaveUp || this.problem !== null) this.revive();
      this.rollout.abort('the service definition changed again');
      if (this.instances.length > 0) this.startRollout('config');
    }
  }

  /** The service left the configuration: every instance drains, then stops. */
  close(): void {
    this.closed = true;
    this.rollout.abort('the service was removed from the configuration');
    for (const inst of [...this.instances]) {
      inst.leaving ??= { reason: 'removed', detail: 'the service was removed from the configuration', at: Date.now() };
      this.drain(inst);
    }
  }

  /** Brisk stops: the data plane has drained already, so SIGTERM every instance at once. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.rollout.abort('Brisk is stopping');
    await Promise.all(
      this.instances.map((inst) => {
        inst.leaving ??= { reason: 'shutdown', detail: 'Brisk is stopping', at: Date.now() };
        return inst.stop(this.config.stopTimeoutMs);
      }),
    );
    await this.output.close();
  }

  /** SIGKILL to every process, synchronously (Brisk is exiting). */
  killNow(): void {
    for (const inst of this.instances) inst.signal('SIGKILL');
  }

  private count(reason: RestartReason): void {
    this.restarts[reason] = (this.restarts[reason] ?? 0) + 1;
  }

  private setProblem(problem: { code: ProblemCode; message: string } | null): void {
    if (problem === null) this.problem = null;
    else if (this.problem?.message !== problem.message) this.problem = { ...problem, since: this.problem?.code === problem.code ? this.problem.since : Date.now() };
  }

  /** The rollout's progress, for the snapshot. */
  get rolloutProgress(): ServiceSnapshot['rollout'] {
    return this.rollout.progress;
  }
}
