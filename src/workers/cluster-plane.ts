import type { ListenerInfo } from '../admin/host.js';
import type { Config } from '../config/types.js';
import type { Ejection } from '../core/views.js';
import type { DataPlanePort } from '../control/port.js';
import { DataPlane, type ApplyResult } from '../dataplane/data-plane.js';
import type { PurgeSpec } from '../middlewares/cache/store.js';
import type { Logger } from '../observability/logger.js';
import type { ConfigInputs } from '../providers/config-file.js';
import type { RequestRecorder } from '../observability/recorder.js';
import type { Runtime } from '../proxy/runtime.js';
import type { MembershipCommand, MembershipResult, MemberStatus } from '../upstreams/membership.js';
import { BatchReplay, STRIDE, type Batch } from './batch.js';
import { ejectUntil, healthDigest, healthTable } from './health.js';
import { workersMetrics } from './metrics.js';
import { WorkerPool, type PoolHost, type Slot } from './pool.js';
import { ShareBook } from './shares.js';
import { labelProcessFamilies, sumCacheStats } from './node-views.js';
import type { CacheStats } from '../middlewares/cache/middleware.js';
import { REPORT_MS, type FromWorker, type MembershipEntry, type Report, type StartMessage, type ToWorker, type WorkerInfo } from './protocol.js';

/** Membership commands kept for workers started later; past this the oldest go (a replace per source comes back with the next reload). */
const MEMBERSHIP_LOG_MAX = 10_000;

/**
 * The data plane of a node with workers, as the control plane sees it (`DataPlanePort`):
 * the primary keeps a data plane of its own that never binds a listener — it holds the
 * runtime the control plane reads, runs the health checks once for the node and takes
 * membership commands first — and forwards every config version, membership command and
 * health change to the workers, which serve. Their batches of finished requests are
 * replayed into the primary's recorder, so `/metrics`, the dashboard and alert rules see
 * the node.
 */
export class ClusterDataPlane implements DataPlanePort, PoolHost {
  readonly pool: WorkerPool;
  private readonly local: DataPlane;
  private listenerInfo: ListenerInfo[] = [];
  private readonly membershipLog: MembershipEntry[] = [];
  private replay: BatchReplay | null = null;
  private recorder: RequestRecorder | null = null;
  private lastHealth = '';
  private timer: NodeJS.Timeout | null = null;
  private readonly known = new WeakSet<Ejection>();
  private readonly waiting = new Map<number, { readonly version: number; readonly pending: Set<number>; readonly done: () => void }>();
  private readonly rateShares: ShareBook;
  private inFlightByTarget = new Map<number, Readonly<Record<string, number>>>();
  /** Requests per slot in each of the last 10 seconds, for the request share. */
  private readonly shareRing: number[][] = [];
  private lastRequests: number[] = [];
  private shareTick = 0;

  constructor(
    config: Config,
    private inputs: ConfigInputs,
    private readonly file: string,
    /** The texts of the config the control plane's source last loaded. */
    private readonly inputsOf: () => ConfigInputs | null,
    count: number,
    private readonly logger: Logger,
  ) {
    // It serves nothing: no access log (the workers write theirs); its config is the node's, as `/api/config` shows it.
    this.local = new DataPlane(config, logger, null, 1, false);
    this.pool = new WorkerPool(count, this, logger);
    this.rateShares = new ShareBook(count);
  }

  /** Where the workers' requests are replayed (the control plane's recorder), or null when metrics are off. */
  setRecorder(recorder: RequestRecorder | null): void {
    this.recorder = recorder;
    this.replay = recorder === null ? null : new BatchReplay(recorder, () => this.local.runtime);
  }

  /** Warms the first runtime here (the node's first health checks). */
  async activate(): Promise<void> {
    await this.local.activate();
  }

  /** Starts the workers; resolves when every one serves. */
  async listen(config: Config): Promise<void> {
    await this.pool.start(config.listen);
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /**
   * The primary's one timer: every wake-up costs it 100–200 µs of CPU on a shared virtual
   * machine, so its periodic work shares one (the workers' heartbeat watch, the health table,
   * rate-limit shares, the request share, the distributor's sweep, and `onTick`).
   */
  readonly tickMs = REPORT_MS;
  /** Runs on every tick (the gateway samples the primary's event-loop lag). */
  onTick: () => void = () => {};

  // ---- DataPlanePort -------------------------------------------------------------------

  get runtime(): Runtime {
    return this.local.runtime;
  }

  get draining(): boolean {
    return this.local.draining;
  }

  get listeners(): readonly ListenerInfo[] {
    return this.listenerInfo;
  }

  get openConnections(): number {
    return this.sum((s) => s.openConnections);
  }

  get openTunnels(): number {
    return this.sum((s) => s.openTunnels);
  }

  get shedLevel(): number {
    let level = 0;
    for (const s of this.pool.slots) if (s.state === 'ready') level = Math.max(level, s.shedLevel);
    return level;
  }

  get tracingStats(): null {
    return null;
  }

  membership(upstream: string, command: MembershipCommand): MembershipResult | null {
    const result = this.local.membership(upstream, command);
    if (result === null) return null;
    const entry: MembershipEntry = { upstream, command };
    this.membershipLog.push(entry);
    if (this.membershipLog.length > MEMBERSHIP_LOG_MAX) this.membershipLog.shift();
    this.pool.broadcast({ t: 'membership', entry });
    return result;
  }

  members(upstream: string): readonly MemberStatus[] | null {
    const list = this.local.members(upstream);
    if (list === null) return null;
    return list.map((m) => {
      let inFlight = 0;
      for (const byKey of this.inFlightByTarget.values()) inFlight += byKey[`${upstream}|${m.url}`] ?? 0;
      return { ...m, inFlight };
    });
  }

  /**
   * Builds and warms the version here, then has every worker apply the same text at the
   * same version number, and waits for their answers (bounded): each worker swaps whole,
   * and `GET /api/workers` shows which version each serves.
   */
  async apply(config: Config): Promise<ApplyResult> {
    const version = this.local.runtime.version + 1;
    const result = await this.local.apply(config, version);
    if (!result.ok) return result;
    this.inputs = this.inputsOf() ?? this.inputs;
    const pending = new Set(this.pool.slots.filter((s) => s.worker !== null && s.state !== 'down').map((s) => s.index));
    const release = this.pool.hold();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(version);
        this.logger.error({ version, workers: [...pending] }, 'workers did not confirm the new config version in time');
        resolve();
      }, 15_000);
      timer.unref();
      this.waiting.set(version, {
        version,
        pending,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.pool.broadcast({ t: 'apply', version, inputs: this.inputs, file: this.file });
      if (pending.size === 0) this.onApplied(null, { t: 'applied', version, ok: true });
    });
    release();
    return result;
  }

  // ---- PoolHost ------------------------------------------------------------------------

  startMessage(slot: number, standby: boolean): StartMessage {
    return { t: 'start', slot, standby, version: this.local.runtime.version, inputs: this.inputs, file: this.file, membership: this.membershipLog, health: healthTable(this.local.runtime), workers: this.pool.count, listeners: this.pool.listeners };
  }

  onReady(slot: Slot, listeners: Extract<FromWorker, { t: 'ready' }>['listeners']): void {
    this.rateShares.resend(slot.index);
    if (this.listenerInfo.length > 0) return;
    this.listenerInfo = listeners.map((l) => ({ config: { name: l.name }, host: l.host, port: l.port, protocol: l.protocol }));
  }

  onApplied(slot: Slot | null, msg: Extract<FromWorker, { t: 'applied' }>): void {
    if (slot !== null && !msg.ok) this.logger.error({ worker: slot.index, version: msg.version, message: msg.message }, 'a worker could not apply the config version');
    const w = this.waiting.get(msg.version);
    if (w === undefined) return;
    if (slot !== null) w.pending.delete(slot.index);
    if (w.pending.size === 0) {
      this.waiting.delete(msg.version);
      w.done();
    }
  }

  onBatch(batch: Batch): number {
    return this.replay === null ? batch.nums.length / STRIDE : this.replay.replay(batch);
  }

  onReport(slot: Slot, report: Report): number {
    const n = this.onBatch(report.batch);
    this.inFlightByTarget.set(slot.index, report.targetsInFlight);
    this.rateShares.onDemand(slot.index, report.demand);
    for (const [key, ejection] of report.ejections) this.ejectedBy(slot, key, ejection);
    for (const [upstream, openForMs] of report.breakers) this.breakerOpenedBy(slot, upstream, openForMs);
    if (this.recorder !== null) this.recorder.inFlight = this.sum((s) => s.inFlight);
    return n;
  }

  /** A worker's outlier detection ejected a target: ejected here too, and so for every worker with the next table. */
  private ejectedBy(slot: Slot, key: string, ejection: Ejection): void {
    for (const u of this.local.runtime.upstreams.values()) {
      for (const t of u.targets) {
        if (t.key !== key || t.ejection !== null || ejection.until <= Date.now()) continue;
        this.logger.warn({ worker: slot.index, upstream: u.name, target: t.origin, reason: ejection.reason }, 'a worker ejected a target; ejected for every worker');
        ejectUntil(t, ejection, this.known);
      }
    }
  }

  /** A worker's breaker opened on its traffic: every other worker's opens for the same time (and the primary's, for the admin API). */
  private breakerOpenedBy(slot: Slot, upstream: string, openForMs: number): void {
    if (openForMs <= 0) return;
    this.logger.warn({ worker: slot.index, upstream, openForMs }, "a worker's circuit breaker opened; opened for every worker");
    this.local.runtime.upstreams.get(upstream)?.breaker?.openFrom(Date.now(), openForMs, `worker ${slot.index}'s breaker opened`);
    for (const s of this.pool.slots) if (s !== slot && s.worker !== null) this.pool.send(s.worker, { t: 'breaker', upstream, openForMs, worker: slot.index });
  }

  /** Every report interval: the health table to the workers when it changed; every second, the request share. */
  private tick(): void {
    this.onTick();
    this.pool.watch();
    const table = healthTable(this.local.runtime);
    const digest = healthDigest(table);
    if (digest !== this.lastHealth) {
      this.lastHealth = digest;
      this.pool.broadcast({ t: 'health', entries: table });
    }
    const grants = this.rateShares.tick();
    for (const slot of this.pool.slots) {
      const g = grants[slot.index - 1]!;
      if (g.length > 0 && slot.worker !== null) this.pool.send(slot.worker, { t: 'shares', grants: g });
    }
    if (++this.shareTick % Math.round(1000 / REPORT_MS) !== 0) return;
    const now = this.pool.slots.map((s) => s.requests);
    this.shareRing.push(now.map((v, i) => v - (this.lastRequests[i] ?? 0)));
    if (this.shareRing.length > 10) this.shareRing.shift();
    this.lastRequests = now;
  }

  /** Each slot's share of the node's requests over the last 10 seconds (0 for all when there were none). */
  shares(): number[] {
    const sums = this.pool.slots.map((_, i) => this.shareRing.reduce((a, r) => a + (r[i] ?? 0), 0));
    const total = sums.reduce((a, b) => a + b, 0);
    return sums.map((v) => (total === 0 ? 0 : v / total));
  }

  /** The workers for the admin API. */
  workers(): WorkerInfo[] {
    const shares = this.shares();
    const now = performance.now();
    return this.pool.slots.map((s, i) => ({
      slot: s.index,
      pid: s.worker?.process.pid ?? null,
      state: s.state,
      version: s.version,
      startedAt: s.startedAt === 0 ? null : new Date(s.startedAt).toISOString(),
      requests: s.requests,
      share: shares[i] ?? 0,
      inFlight: s.inFlight,
      openConnections: s.openConnections,
      restarts: { ...s.restarts },
      rssBytes: s.rss,
      heartbeatAgeMs: s.worker === null ? -1 : Math.round(now - s.lastSeen),
    }));
  }

  /** The per-worker families of `/metrics`. */
  metricsText(): string {
    return workersMetrics(this.workers(), { handedOver: this.pool.rescued, closed: this.pool.rescueClosed });
  }

  private askSeq = 0;
  private readonly asks = new Map<number, { pending: number; readonly answers: [Slot | null, unknown][]; readonly done: () => void }>();
  /** Each slot's process families from the last scrape's flush (Prometheus text). */
  private processTexts = new Map<number, string>();

  /** Purges every worker's route caches; resolves with the memory entries removed (bounded wait). */
  async purge(spec: PurgeSpec, route: string | null): Promise<number> {
    const answers = await this.ask((id) => ({ t: 'purge', id, spec, route }), 3000);
    return answers.reduce((n, [, memory]) => n + (typeof memory === 'number' ? memory : 0), 0);
  }

  /**
   * Has every serving worker send the requests it finished so far, and its process families
   * when `process` (a scrape of `/metrics`); resolves when they did (at most 250 ms).
   */
  async flush(process = false): Promise<void> {
    const answers = await this.ask((id) => ({ t: 'flush', id, process }), 250);
    if (!process) return;
    this.processTexts = new Map();
    for (const [slot, text] of answers) if (slot !== null && typeof text === 'string') this.processTexts.set(slot.index, text);
  }

  /** The primary's process families and every worker's, one family each, labelled `worker` (`primary`, or the slot). */
  processMetrics(primary: string): string {
    return labelProcessFamilies([['primary', primary], ...[...this.processTexts].map(([slot, text]) => [String(slot), text] as const)]);
  }

  /** Every worker's route cache counters, summed per route (each worker caches in its own memory), and each worker's. */
  async cacheStats(): Promise<{ routes: Record<string, CacheStats>; workers: { slot: number; routes: Readonly<Record<string, CacheStats>> }[] }> {
    const answers = await this.ask((id) => ({ t: 'cacheStats', id }), 3000);
    const workers: { slot: number; routes: Readonly<Record<string, CacheStats>> }[] = [];
    for (const [slot, routes] of answers) if (slot !== null && typeof routes === 'object' && routes !== null) workers.push({ slot: slot.index, routes: routes as Record<string, CacheStats> });
    workers.sort((a, b) => a.slot - b.slot);
    return { routes: sumCacheStats(workers.map((w) => w.routes)), workers };
  }

  /** Sends one question to every serving worker; resolves with their answers, or those that came within `timeoutMs`. */
  private ask(message: (id: number) => ToWorker, timeoutMs: number): Promise<[Slot | null, unknown][]> {
    const id = ++this.askSeq;
    const pending = this.pool.slots.filter((s) => s.worker !== null && s.state === 'ready').length;
    if (pending === 0) return Promise.resolve([]);
    const release = this.pool.hold();
    return new Promise((resolve) => {
      const answers: [Slot | null, unknown][] = [];
      const timer = setTimeout(() => {
        this.asks.delete(id);
        release();
        resolve(answers);
      }, timeoutMs);
      timer.unref();
      this.asks.set(id, {
        pending,
        answers,
        done: () => {
          clearTimeout(timer);
          release();
          resolve(answers);
        },
      });
      const msg = message(id);
      for (const s of this.pool.slots) if (s.worker !== null && s.state === 'ready') this.pool.send(s.worker, msg);
    });
  }

  onAnswer(id: number, slot: Slot | null, value: unknown): void {
    const a = this.asks.get(id);
    if (a === undefined) return;
    a.answers.push([slot, value]);
    if (--a.pending <= 0) {
      this.asks.delete(id);
      a.done();
    }
  }

  /** Replaces every worker, one at a time, with no failed request. */
  restart(): Promise<void> {
    return this.pool.rollingRestart();
  }

  /** Workers reopen their access log files (SIGUSR1 after an external logrotate). */
  reopenLogs(): void {
    this.pool.broadcast({ t: 'reopen' });
  }

  /** Drains every worker, then stops the primary's own plane (health checks, pools). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.pool.stop(this.local.runtime.config.proxy.drainTimeoutMs);
    await this.local.stop();
  }

  private sum(read: (s: Slot) => number): number {
    let n = 0;
    for (const s of this.pool.slots) if (s.worker !== null) n += read(s);
    return n;
  }
}

