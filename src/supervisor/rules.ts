/**
 * What a service's controller checks once a second besides the data plane's word on
 * health: each instance's memory and CPU (sampled from the OS), the memory rule, the
 * latency rule (per-target request windows from the stats), and the autoscaler (or the
 * `scale.command` for capacity elsewhere).
 */
import { spawn } from 'node:child_process';
import type { RestartReason, ServiceSnapshot } from '../observability/snapshot.js';
import type { MemberStatus } from '../upstreams/membership.js';
import { Autoscaler } from './autoscaler.js';
import type { ServiceConfig } from './config/types.js';
import type { Instance } from './instance.js';
import { judgeSlow, type LatencyReading } from './policy.js';
import { sampleProcess } from './process-stats.js';
import type { ServiceDeps } from './types.js';

/** What the rules read of a service and may ask of it (a `ServiceController`). */
export interface RuledService {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly instances: readonly Instance[];
  readonly members: ReadonlyMap<string, MemberStatus>;
  readonly desired: number;
  readonly mode: ServiceSnapshot['scaling'];
  readonly closed: boolean;
  restart(inst: Instance, reason: RestartReason, detail: string, budgeted: boolean): boolean;
  setDesired(count: number, reason: string): void;
}

/** A `scale.command` asked for the same count is not run again for this long. */
const COMMAND_REPEAT_MS = 60_000;

export class ServiceRules {
  private autoscaler: Autoscaler | null = null;
  private command: { desired: number; at: number; running: boolean } = { desired: -1, at: 0, running: false };

  constructor(
    private readonly service: RuledService,
    private readonly deps: ServiceDeps,
  ) {
    this.reconfigure();
  }

  /** The service's config changed. */
  reconfigure(): void {
    const scale = this.service.config.scale;
    if (scale === null) this.autoscaler = null;
    else if (this.autoscaler === null) this.autoscaler = new Autoscaler(scale);
    else this.autoscaler.reconfigure(scale);
  }

  /** Four times a second: a load sample for the autoscaler. */
  observeLoad(now: number): void {
    if (this.autoscaler === null) return;
    const ready = this.service.mode === 'command' ? [...this.service.members.values()].filter((m) => m.state === 'active' && m.health === 'healthy') : this.service.instances.filter((i) => i.state === 'ready');
    let inFlight = 0;
    let cpu: number | null = null;
    for (const r of ready) inFlight += r.inFlight;
    if (this.service.mode !== 'command') {
      for (const i of ready as Instance[]) if (i.cpuPercent !== null) cpu = (cpu ?? 0) + i.cpuPercent;
    }
    this.autoscaler.observe({ at: now, inFlight, ready: ready.length, cpuPercent: cpu });
  }

  /** Once a second. */
  second(now: number): void {
    const s = this.service;
    if (s.closed) return;
    for (const inst of s.instances) this.sample(inst);
    this.memory();
    this.latency(now);
    this.scale(now);
  }

  private sample(inst: Instance): void {
    if (inst.sampling || inst.pid === null || !inst.alive) return;
    inst.sampling = true;
    void sampleProcess(inst.pid)
      .then((sample) => inst.recordSample(sample, Date.now()))
      .catch(() => {})
      .finally(() => (inst.sampling = false));
  }

  private memory(): void {
    const max = this.service.config.restart.maxMemoryBytes;
    if (max === null) return;
    for (const inst of this.service.instances) {
      if (inst.state !== 'ready' || inst.leaving !== null || inst.rssBytes === null) continue;
      inst.memoryHigh = inst.rssBytes > max ? inst.memoryHigh + 1 : 0;
      if (inst.memoryHigh >= 2) this.service.restart(inst, 'memory', `resident memory ${mb(inst.rssBytes)} over maxMemory ${mb(max)}`, true);
    }
  }

  /**
   * The latency rule: an instance ready for the whole window, slow while most of its
   * siblings are not (see `judgeSlow`), is restarted. One such restart at a time.
   */
  private latency(now: number): void {
    const s = this.service;
    const rule = s.config.restart.slow;
    const stats = this.deps.stats;
    if (rule === null || stats === null) return;
    if (s.instances.some((i) => i.leaving?.reason === 'slow')) return;
    const windowMs = rule.windowS * 1000;
    const eligible = s.instances.filter((i) => i.state === 'ready' && i.leaving === null && i.readyForMs(now) >= windowMs);
    if (eligible.length < 2) return;
    const snapshot = stats.snapshot(rule.windowS);
    const readings = new Map<Instance, LatencyReading>();
    for (const inst of eligible) {
      const t = snapshot.targets.find((x) => x.upstream === inst.spec.upstream && x.origin === inst.url);
      readings.set(inst, { p99Ms: t?.window.p99Ms ?? null, requests: t?.window.requests ?? 0, probesMs: inst.probesSince(now - windowMs) });
    }
    for (const inst of eligible) {
      const verdict = judgeSlow(readings.get(inst)!, eligible.filter((o) => o !== inst).map((o) => readings.get(o)!), rule);
      if (!verdict.slow) continue;
      const what = verdict.basis === 'p99' ? `p99 ${Math.round(verdict.valueMs)}ms over ${rule.windowS}s` : `health probes took ${Math.round(verdict.valueMs)}ms (median over ${rule.windowS}s; too few requests for a p99)`;
      if (s.restart(inst, 'slow', `${what}, above ${rule.p99Ms}ms while its siblings are below`, true)) return;
    }
  }

  private scale(now: number): void {
    const s = this.service;
    const a = this.autoscaler;
    if (a === null || (s.mode !== 'auto' && s.mode !== 'command')) return;
    const scale = s.config.scale!;
    let p95: number | null = null;
    if (scale.targetP95Ms !== null && this.deps.stats !== null) {
      p95 = this.deps.stats.snapshot(Math.max(1, Math.round(scale.windowMs / 1000))).upstreams.find((u) => u.name === s.config.upstream)?.window.p95Ms ?? null;
    }
    if (s.mode === 'auto') {
      const rec = a.decide(now, s.desired, p95, s.config.min, s.config.max);
      if (rec !== null && rec.desired !== s.desired) s.setDesired(rec.desired, rec.reason);
      return;
    }
    const current = [...s.members.values()].filter((m) => m.state !== 'draining').length;
    const rec = a.decide(now, current, p95, s.config.min, s.config.max);
    if (rec === null || rec.desired === current || this.command.running) return;
    if (rec.desired === this.command.desired && now - this.command.at < COMMAND_REPEAT_MS) return;
    this.runScaleCommand(current, rec.desired, rec.reason);
  }

  /** `scale.command`: told the current and desired counts; its targets are its business (file, admin API). */
  private runScaleCommand(current: number, desired: number, reason: string): void {
    const s = this.service;
    const command = s.config.scale!.command!;
    this.command = { desired, at: Date.now(), running: true };
    s.setDesired(desired, reason);
    const env = { ...process.env, ...s.config.env, BRISK_SERVICE: s.name, BRISK_SCALE_CURRENT: String(current), BRISK_SCALE_DESIRED: String(desired), BRISK_SCALE_REASON: reason };
    const [file, ...args] = command.argv;
    const log = this.deps.logger;
    const fields = { service: s.name, current, desired, reason };
    let output = '';
    let finished = false;
    const finish = (ok: boolean, how: string) => {
      if (finished) return;
      finished = true;
      this.command.running = false;
      if (ok) log.info({ ...fields, output: output.trim() }, `service ${s.name}: scale command ran (${current} → ${desired})`);
      else log.error({ ...fields, output: output.trim(), code: 'BRISK_SERVICE_SCALE_FAILED' }, `service ${s.name}: scale command ${how}`);
    };
    let child;
    try {
      child = spawn(file!, args, { cwd: s.config.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return finish(false, `could not start: ${(err as Error).message}`);
    }
    const collect = (c: Buffer) => {
      if (output.length < 4096) output += c.toString('utf8').slice(0, 4096 - output.length);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), s.config.scale!.commandTimeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      finish(false, `could not start: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      finish(code === 0, signal !== null ? `was killed (${signal}) after its timeout` : `exited with code ${code}`);
    });
  }
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)}mb`;
}
