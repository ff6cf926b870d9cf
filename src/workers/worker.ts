/**
 * A data-plane worker process (forked by the primary, src/workers/pool.ts): it runs the
 * request path of the config the primary hands it, serves the connections the primary
 * accepts on the listeners it bound (src/workers/distributor.ts), and reports every `REPORT_MS` while busy — its finished requests as one batch, its
 * gauges, the ejections its outlier detection made. It runs no health checks (the primary
 * runs them once and sends the verdicts), no admin API, no alerting.
 */
import { Socket } from 'node:net';
import type { Listener } from '../listeners/server.js';
import type { ListenerConfig } from '../config/types.js';
import { basename, dirname, extname, join } from 'node:path';
import { parseConfigText, type ConfigResult } from '../config/load.js';
import type { ConfigInputs } from '../providers/config-file.js';
import { combine } from '../providers/config-store/document.js';
import type { Config } from '../config/types.js';
import type { Ejection } from '../core/views.js';
import { DataPlane } from '../dataplane/data-plane.js';
import { loadRouteCode } from '../dataplane/runtime.js';
import { createLogger, type Logger } from '../observability/logger.js';
import type { CacheMiddleware } from '../middlewares/cache/index.js';
import type { CacheStats } from '../middlewares/cache/middleware.js';
import { processFamilies, type MetricsExposition } from '../observability/metrics.js';
import type { PurgeSpec } from '../middlewares/cache/store.js';
import { setNodeShare } from '../middlewares/rate-limit/node-share.js';
import { BatchSink } from './batch.js';
import { WorkerShares } from './shares.js';
import { applyHealth } from './health.js';
import { BATCH_MS, CLOSED_MS, IDLE_REPORT_EVERY, REPORT_MS, type FromWorker, type ToWorker } from './protocol.js';

/**
 * The config as a worker runs it: no active health checks (the primary's verdicts come
 * as messages), and its own access log file (`access-w2.log`): each worker rotates its own
 * file, so no two processes ever write or rename the same one. The listeners it serves are
 * the primary's (bound once there, port 0 included), not the text's: see `serve`.
 *
 * Limits on what is in flight are partitioned (`workers` > 1): each worker takes 1/N
 * (rounded up) of an upstream's `limits` and of a route's `concurrency` (its `maxQueue`
 * too), and 1/N of a retry budget's floor per second (the budget's ratio holds as it is:
 * each worker's retries are a share of its own requests). The connections of one worker
 * never wait for another's, so what a limit protects (the upstream, the queue) sees at most
 * the configured total, at no cost per request.
 */
export function workerConfig(config: Config, slot: number, workers = 1): Config {
  const n = Math.max(1, workers);
  const part = (x: number): number => Math.max(1, Math.ceil(x / n));
  const upstreams = Object.fromEntries(
    Object.entries(config.upstreams).map(([name, u]) => {
      const limits = u.limits === null || n === 1 ? u.limits : { ...u.limits, maxRequests: part(u.limits.maxRequests), maxPendingRequests: part(u.limits.maxPendingRequests), maxRetries: part(u.limits.maxRetries) };
      const retry = n === 1 ? u.retry : { ...u.retry, budgetMinPerSecond: u.retry.budgetMinPerSecond / n };
      return [name, { ...u, healthCheck: null, limits, retry }];
    }),
  );
  const routes =
    n === 1
      ? config.routes
      : config.routes.map((r) => {
          const c = r.concurrency;
          return c === undefined ? r : { ...r, concurrency: { ...c, maxConcurrent: part(c.maxConcurrent), maxQueue: c.maxQueue === 0 ? 0 : part(c.maxQueue) } };
        });
  const file = config.logging.access.file;
  const access = file === null ? config.logging.access : { ...config.logging.access, file: join(dirname(file), `${basename(file, extname(file))}-w${slot}${extname(file)}`) };
  // The warm spare (slot 0) serves nothing: no access log until it takes a slot.
  return { ...config, upstreams, routes, logging: { ...config.logging, access, accessLog: slot === 0 ? false : config.logging.accessLog } };
}

/** The config made of the texts the primary checked: the file alone, or with the store's document layered over it. */
export function configOf(inputs: ConfigInputs, file: string): ConfigResult {
  const store = inputs.store;
  return store === null ? parseConfigText(inputs.fileText, file) : combine(file, inputs.fileText, { text: store.text, revision: store.revision, from: store.from }, store.key);
}

class Worker {
  private dp: DataPlane | null = null;
  private readonly sink = new BatchSink();
  private slot = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Ejections already told to the primary, or told by it. */
  private readonly known = new WeakSet<Ejection>();
  private applying: Promise<void> = Promise.resolve();
  private metricsOn = true;
  /** Its process families for the node's `/metrics` (made at the first scrape). */
  private processMetrics: MetricsExposition | null = null;
  private shares: WorkerShares | null = null;
  private batchTimer: NodeJS.Timeout | null = null;
  /** `performance.now()` of the next report tick and of the last batch or report sent. */
  private nextReportAt = 0;
  private sentAt = 0;
  /** Requests recorded when the last report went, and idle ticks since (see startReports). */
  private reportedTotal = 0;
  private idleTicks = 0;
  /** Per upstream, the breaker epoch last reported or opened from another worker (not reported back). */
  private readonly breakerEpochs = new Map<string, number>();
  /** Workers in the node (limits are partitioned by it). */
  private workers = 1;
  /** The config version in force as the primary sent it (before this worker's own changes). */
  private config: Config | null = null;
  /** The listeners the primary bound, which this worker serves (by name, once serving). */
  private listenerConfigs: readonly ListenerConfig[] = [];
  private readonly listenerByName = new Map<string, Listener>();
  /** Connections the primary sent that closed (monotonic), and the count last told to the primary. */
  private closedConns = 0;
  private toldClosed = 0;
  private closedTimer: NodeJS.Timeout | null = null;
  /**
   * The primary sends new connections to the worker with the fewest open, so closes are
   * told within `CLOSED_MS` (with the next acknowledgement or report if one goes first):
   * a burst of new connections right after many closed must not see a stale count. One
   * message for every close in that time; none under steady keep-alive load.
   */
  private readonly onConnClose = (): void => {
    this.closedConns++;
    this.closedTimer ??= setTimeout(this.tellClosed, CLOSED_MS).unref();
  };
  private readonly tellClosed = (): void => {
    this.closedTimer = null;
    if (this.closedConns === this.toldClosed) return;
    this.toldClosed = this.closedConns;
    this.send({ t: 'closed', closed: this.closedConns });
  };

  constructor(
    private readonly logger: Logger,
    private readonly accessDestination: ReturnType<typeof createLogger>['jsonDestination'],
    private readonly flushLogs: () => void,
  ) {}

  onMessage(msg: ToWorker): void {
    switch (msg.t) {
      case 'start':
        // In the same queue as config versions: one sent while this worker starts is applied after.
        this.applying = this.applying.then(() => this.start(msg).catch((err: unknown) => this.fatal(`the worker could not start: ${(err as Error).message}`)));
        return;
      case 'listen':
        this.applying = this.applying.then(() => this.listen(msg.slot).catch((err: unknown) => this.fatal(`the worker could not start: ${(err as Error).message}`)));
        return;
      case 'apply':
        // Serialised, like the primary's reloads.
        this.applying = this.applying.then(() => this.apply(msg.version, msg.inputs, msg.file));
        return;
      case 'membership':
        this.dp?.membership(msg.entry.upstream, msg.entry.command);
        return;
      case 'health':
        if (this.dp !== null) applyHealth(this.dp.runtime, msg.entries, this.known);
        return;
      case 'shares':
        this.shares?.apply(msg.grants);
        return;
      case 'flush':
        // A whole report (batch, gauges, ejections, breakers); IPC keeps the order, so it reaches the primary before the answer.
        this.report();
        if (!msg.process) this.send({ t: 'flushed', id: msg.id, process: null });
        else {
          this.processMetrics ??= processFamilies();
          void this.processMetrics.text().then(
            (text) => this.send({ t: 'flushed', id: msg.id, process: text }),
            () => this.send({ t: 'flushed', id: msg.id, process: null }),
          );
        }
        return;
      case 'cacheStats':
        this.send({ t: 'cacheStats', id: msg.id, routes: this.cacheStats() });
        return;
      case 'purge':
        void this.purge(msg.id, msg.spec, msg.route);
        return;
      case 'breaker': {
        const b = this.dp?.runtime.upstreams.get(msg.upstream)?.breaker ?? null;
        if (b !== null && b.state !== 'open') {
          b.openFrom(Date.now(), msg.openForMs, `worker ${msg.worker}'s breaker opened`);
          this.breakerEpochs.set(msg.upstream, b.epoch);
        }
        return;
      }
      case 'reopen':
        this.dp?.reopenLogs();
        return;
      case 'stop':
        void this.stop();
        return;
      case 'conn':
        // Its handle comes with the message: see onConnection.
        return;
    }
  }

  /**
   * A connection the primary accepted on one of its listeners: acknowledged at once, before
   * a byte of it is read (the primary then closes its copy; until then, if this worker dies,
   * the request is still whole for another), then served as if accepted here.
   */
  onConnection(msg: Extract<ToWorker, { t: 'conn' }>, handle: unknown): void {
    this.toldClosed = this.closedConns;
    this.send({ t: 'took', id: msg.id, closed: this.closedConns });
    let socket: Socket;
    try {
      // A raw handle, as node:cluster hands connections over; wrapped as Node wraps a received socket.
      socket = new Socket({ handle, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
    } catch (err) {
      this.logger.warn({ err }, 'a connection handed over by the primary could not be opened');
      (handle as { close?: () => void } | null)?.close?.();
      this.closedConns++;
      return;
    }
    socket.once('close', this.onConnClose);
    const listener = this.listenerByName.get(msg.listener);
    if (listener === undefined) {
      this.logger.warn({ listener: msg.listener }, 'a connection came for a listener this worker does not serve; closing it');
      socket.destroy();
      return;
    }
    listener.adopt(socket);
  }

  private async start(msg: Extract<ToWorker, { t: 'start' }>): Promise<void> {
    this.slot = msg.slot;
    this.listenerConfigs = msg.listeners;
    // Every in-memory rate limit of this process admits its share of the node's rate.
    this.workers = msg.workers;
    this.shares = new WorkerShares(1 / Math.max(1, msg.workers));
    setNodeShare(this.shares);
    const parsed = configOf(msg.inputs, msg.file);
    if (!parsed.ok) return this.fatal(`the config the primary sent is invalid: ${parsed.problems[0]?.message ?? ''}`);
    const config = workerConfig(parsed.config, this.slot, this.workers);
    this.logger.level = config.logging.level;
    this.metricsOn = config.metrics?.enabled ?? true;
    await loadRouteCode(config);
    const dp = new DataPlane(config, this.logger, this.accessDestination, msg.version);
    this.dp = dp;
    dp.setRecorder(this.metricsOn ? this.sink : null);
    this.config = parsed.config;
    await dp.activate();
    for (const entry of msg.membership) dp.membership(entry.upstream, entry.command);
    applyHealth(dp.runtime, msg.health, this.known);
    if (msg.standby) this.send({ t: 'standby' });
    else await this.serve(config);
  }

  /**
   * Reports start when the worker serves: the warm spare sends nothing (nobody watches its
   * heartbeat, and every message wakes the primary). A report goes every `REPORT_MS` while
   * the worker is active (requests finished or in flight, rate-limit demand), every
   * `IDLE_REPORT_EVERY`-th tick when it is idle (its heartbeat, well within `STUCK_MS`).
   * Finished requests between reports go `BATCH_MS` after the first of them, unless the
   * report is about to take them: about 35 messages a second from a busy worker (50 before), and what a
   * SIGKILL loses is at most some `BATCH_MS` of its requests.
   */
  private startReports(): void {
    if (this.timer !== null) return;
    this.sink.onFirst = () => this.armBatch();
    this.nextReportAt = performance.now() + REPORT_MS;
    this.timer = setInterval(() => this.tick(), REPORT_MS);
  }

  private tick(): void {
    this.nextReportAt = performance.now() + REPORT_MS;
    const active = this.sink.total !== this.reportedTotal || this.sink.inFlight > 0 || (this.shares?.pending ?? false);
    if (active || ++this.idleTicks >= IDLE_REPORT_EVERY) this.report();
  }

  private armBatch(): void {
    if (this.batchTimer === null) this.batchTimer = setTimeout(() => this.flushBatch(), BATCH_MS);
  }

  /** The warm spare takes a slot: its own access log file, then the listeners. */
  private async listen(slot: number): Promise<void> {
    const dp = this.dp;
    if (dp === null || this.config === null) return this.fatal('the spare was told to listen before it was built');
    this.slot = slot;
    const config = workerConfig(this.config, slot, this.workers);
    if (config.logging.accessLog) await dp.apply(config, dp.runtime.version);
    await this.serve(config);
  }

  /** Serves the primary's listeners (static config: a reload that changed `listen` takes effect at the next start of the node). */
  private async serve(config: Config): Promise<void> {
    const dp = this.dp!;
    await dp.listen({ ...config, listen: this.listenerConfigs }, true);
    for (const l of dp.listeners) this.listenerByName.set(l.config.name, l);
    this.send({ t: 'ready', version: dp.runtime.version, listeners: dp.listeners.map((l) => ({ name: l.config.name, host: l.host, port: l.port, protocol: l.protocol })) });
    this.startReports();
  }

  private async apply(version: number, inputs: ConfigInputs, file: string): Promise<void> {
    const dp = this.dp;
    if (dp === null) return;
    const parsed = configOf(inputs, file);
    if (!parsed.ok) {
      this.send({ t: 'applied', version, ok: false, message: parsed.problems[0]?.message ?? 'invalid' });
      return;
    }
    this.config = parsed.config;
    const result = await dp.apply(workerConfig(parsed.config, this.slot, this.workers), version);
    this.send(result.ok ? { t: 'applied', version, ok: true } : { t: 'applied', version, ok: false, message: result.problems[0]?.message ?? 'refused' });
  }

  private flushBatch(): void {
    this.batchTimer = null;
    const now = performance.now();
    if (this.sink.pending === 0 || this.nextReportAt - now < BATCH_MS / 2) return;
    // Sent (by a report) moments ago: the rest goes BATCH_MS after that send.
    if (now - this.sentAt < BATCH_MS / 2) {
      this.batchTimer = setTimeout(() => this.flushBatch(), this.sentAt + BATCH_MS - now);
      return;
    }
    this.sentAt = now;
    this.send({ t: 'batch', batch: this.sink.take() });
  }

  /** This worker's route caches' counters, by route. */
  private cacheStats(): Record<string, CacheStats> {
    const out: Record<string, CacheStats> = {};
    const rt = this.dp?.runtime;
    if (rt === undefined) return out;
    for (const [i, r] of rt.config.routes.entries()) for (const m of rt.pipelineOfRoute[i] ?? []) if (m.name === 'cache') out[r.name] = (m as CacheMiddleware).cacheStats();
    return out;
  }

  /** Purges this worker's route caches (memory; Redis too, which is idempotent). */
  private async purge(id: number, spec: PurgeSpec, route: string | null): Promise<void> {
    let memory = 0;
    const rt = this.dp?.runtime;
    if (rt !== undefined) {
      for (const [i, r] of rt.config.routes.entries()) {
        if (route !== null && r.name !== route) continue;
        for (const m of rt.pipelineOfRoute[i] ?? []) if (m.name === 'cache') memory += (await (m as CacheMiddleware).purge(spec)).memory;
      }
    }
    this.send({ t: 'purged', id, memory });
  }

  private report(done?: () => void): void {
    const dp = this.dp;
    if (dp === null) return;
    const breakers: [string, number][] = [];
    const now = Date.now();
    for (const u of dp.runtime.upstreams.values()) {
      const b = u.breaker;
      if (b === null || b.state !== 'open' || this.breakerEpochs.get(u.name) === b.epoch) continue;
      this.breakerEpochs.set(u.name, b.epoch);
      breakers.push([u.name, b.retryAfterMs(now)]);
    }
    const ejections: [string, Ejection][] = [];
    const targetsInFlight: Record<string, number> = {};
    for (const u of dp.runtime.upstreams.values()) {
      for (const t of u.targets) {
        if (t.inFlight > 0) targetsInFlight[t.key] = t.inFlight;
        const e = t.ejection;
        if (e !== null && !this.known.has(e)) {
          this.known.add(e);
          ejections.push([t.key, e]);
        }
      }
    }
    const cpu = process.cpuUsage();
    this.idleTicks = 0;
    this.reportedTotal = this.sink.total;
    this.toldClosed = this.closedConns;
    this.sentAt = performance.now();
    this.send({
      t: 'report',
      version: dp.runtime.version,
      batch: this.sink.take(),
      inFlight: this.metricsOn ? this.sink.inFlight : 0,
      openConnections: dp.openConnections,
      openTunnels: dp.openTunnels,
      closed: this.closedConns,
      shedLevel: dp.shedLevel,
      ejections,
      breakers,
      targetsInFlight,
      demand: this.shares?.take() ?? {},
      rss: process.memoryUsage.rss(),
      cpuUs: cpu.user + cpu.system,
    }, done);
  }

  /** Drains (stop accepting, finish what is in flight), sends the last batch, exits. */
  private async stop(): Promise<void> {
    // Its siblings keep serving: connections busy now close after an answer, not under a request.
    await this.dp?.stop({ idleGraceMs: 1000 });
    if (this.timer !== null) clearInterval(this.timer);
    if (this.batchTimer !== null) clearTimeout(this.batchTimer);
    this.flushLogs();
    // Exit once the last batch is out: its requests count in the node's totals.
    this.report(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  }

  private fatal(message: string): void {
    this.logger.fatal(message);
    this.send({ t: 'fatal', message });
    setTimeout(() => process.exit(1), 50).unref();
  }

  private send(msg: FromWorker, done?: () => void): void {
    if (process.connected && process.send !== undefined) process.send(msg, undefined, {}, done === undefined ? undefined : () => done());
    else done?.();
  }
}

/** The worker's entry: called by src/workers/worker-main.ts in a process forked by the primary. */
export function runWorker(): void {
  const { logger, jsonDestination, flush } = createLogger({ level: 'info', format: 'json' });
  const worker = new Worker(logger.child({ worker: Number(process.env['BRISK_WORKER_SLOT'] ?? 0) }), jsonDestination, flush);
  process.on('message', (msg: ToWorker, handle: unknown) => {
    if (msg.t === 'conn') worker.onConnection(msg, handle);
    else worker.onMessage(msg);
  });
  process.send?.({ t: 'hello' } satisfies FromWorker);
  // The primary gone means no one supervises this worker any more: it stops too.
  process.on('disconnect', () => process.exit(0));
  // A bug in a rare path must not take every other connection of this worker down with it.
  process.on('uncaughtException', (err) => logger.fatal({ err }, 'uncaught exception (kept running)'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  // Signals are the primary's business: it drains workers with a message.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void worker.onMessage({ t: 'stop' }));
}
