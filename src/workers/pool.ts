import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { Batch } from './batch.js';
import { ChannelReads } from './channel-reads.js';
import { Distributor } from './distributor.js';
import { STUCK_MS, type FromWorker, type Report, type RestartReason, type StartMessage, type ToWorker, type WorkerState } from './protocol.js';

/** One place for a worker: a replacement takes the slot of the one it replaces. */
export interface Slot {
  readonly index: number;
  worker: ClusterWorker | null;
  state: WorkerState;
  /** The config version the worker serves. */
  version: number;
  startedAt: number;
  readyAt: number;
  /** `performance.now()` of its last message (the heartbeat). */
  lastSeen: number;
  restarts: Record<RestartReason, number>;
  /** Requests it finished, over every worker that held the slot (monotonic). */
  requests: number;
  inFlight: number;
  openConnections: number;
  openTunnels: number;
  shedLevel: number;
  rss: number;
  cpuUs: number;
  /** Failed starts in a row (backoff). */
  failures: number;
}

/** What the pool asks of its owner. */
export interface PoolHost {
  /** The start message for a worker in this slot (0 and `standby`: the warm spare): config inputs and version, health, membership. */
  startMessage(slot: number, standby: boolean): StartMessage;
  /** A worker's report (its batch is the owner's to replay); returns the requests it held. */
  onReport(slot: Slot, report: Report): number;
  /** A worker bound its listeners. */
  onReady(slot: Slot, listeners: Extract<FromWorker, { t: 'ready' }>['listeners']): void;
  /** Finished requests a worker sent between reports; returns how many. */
  onBatch(batch: Batch): number;
  /** A worker's answer to a question sent to every worker (`ask`): a purge, a flush, its cache counters. */
  onAnswer(id: number, slot: Slot | null, value: unknown): void;
  /** A worker answered an `apply`. */
  onApplied(slot: Slot, msg: Extract<FromWorker, { t: 'applied' }>): void;
}

/** How long a promoted spare may take to bind its listeners (tens of milliseconds when healthy). */
const SPARE_LISTEN_MS = 5000;

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** How long after a worker's exit its channel may take to report its end (its last acknowledgements are read first). */
const CHANNEL_END_MS = 1000;

/**
 * The primary's workers (node:cluster forks them): watches their heartbeat (every report
 * is one), replaces one that exits or whose event loop is stuck at once, and replaces
 * them one by one on a rolling restart, each new one serving before the old one drains.
 *
 * The listeners are the primary's: it accepts each connection and sends it to the worker
 * with the fewest open connections (src/workers/distributor.ts), not through node:cluster's
 * round robin, which under a burst of new connections favours the worker that answers
 * first. Node 20 has no `reusePort`, and the kernel's own balancing of one shared socket
 * (`SCHED_NONE`) piles connections onto the busiest workers (the one awake first takes
 * them). The cost is one handle passed per connection, nothing per request on a
 * keep-alive connection.
 */
export class WorkerPool {
  readonly slots: Slot[] = [];
  private sweptAt = 0;
  private stopping = false;
  /** Workers being drained by a rolling restart: they leave without being replaced. */
  private readonly leaving = new WeakSet<ClusterWorker>();
  /** Workers killed for a stuck event loop: their exit is counted as `stuck`. */
  private readonly killedStuck = new WeakSet<ClusterWorker>();
  /** Called with each worker's stdout/stderr chunk of whole lines. */
  output: (stream: 'stdout' | 'stderr', text: string) => void = (stream, text) => (stream === 'stdout' ? process.stdout : process.stderr).write(text);

  constructor(
    readonly count: number,
    private readonly host: PoolHost,
    private readonly logger: Logger,
  ) {
    for (let i = 1; i <= count; i++) {
      this.slots.push({ index: i, worker: null, state: 'down', version: 0, startedAt: 0, readyAt: 0, lastSeen: 0, restarts: { exit: 0, stuck: 0, rolling: 0 }, requests: 0, inFlight: 0, openConnections: 0, openTunnels: 0, shedLevel: 0, rss: 0, cpuUs: 0, failures: 0 });
    }
    this.reads = new ChannelReads((w) => this.quiet(w));
    this.distributor = new Distributor(() => this.serving(), logger, {
      wakeAll: () => this.reads.wakeAll(),
      sending: (w) => this.reads.resume(w),
    });
  }

  /** Reading the workers' channels on the tick only while nothing waits (src/workers/channel-reads.ts). */
  private readonly reads: ChannelReads;

  /** Nothing waits for this worker's messages: it serves, stays, and has no connection on its way. */
  private quiet(worker: ClusterWorker): boolean {
    const slot = this.slotOf.get(worker);
    return !this.stopping && slot !== undefined && slot.worker === worker && slot.state === 'ready' && !this.leaving.has(worker) && this.distributor.pendingCount(worker) === 0;
  }

  /** Every worker's messages are read as they come until the returned function is called (a question to the workers waits for their answers). */
  hold(): () => void {
    return this.reads.hold();
  }

  /** The workers that take new connections: serving, not leaving (a rolling restart drains them). */
  private serving(): ClusterWorker[] {
    const out: ClusterWorker[] = [];
    for (const s of this.slots) if (s.state === 'ready' && s.worker !== null && !this.leaving.has(s.worker) && s.worker.isConnected()) out.push(s.worker);
    return out;
  }

  /** The primary's listeners and the connections on their way to workers. */
  readonly distributor: Distributor;

  /** The listeners as bound (each worker serves these). */
  get listeners(): readonly ListenerConfig[] {
    return this.distributor.listeners;
  }

  /** Binds the listeners, forks every worker; resolves when all serve. */
  async start(listen: readonly ListenerConfig[]): Promise<void> {
    // Bound before any worker exists: a listener that cannot be bound fails the start, and port 0 gets its port once.
    await this.distributor.bind(listen);
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [], silent: true, serialization: 'advanced' });
    await Promise.all(this.slots.map((s) => this.fork(s)));
    this.forkSpare();
  }

  /** Sends a message to every worker, the warm spare included (it keeps up with versions, membership and health). */
  broadcast(msg: ToWorker): void {
    for (const s of this.slots) if (s.worker !== null && s.state !== 'down') this.send(s.worker, msg);
    if (this.spare !== null) this.send(this.spare, msg);
  }

  send(worker: ClusterWorker, msg: ToWorker): void {
    if (worker.isConnected()) worker.send(msg);
  }

  /**
   * The warm spare: a worker that has loaded the code and built the config version in
   * force but binds nothing. A worker that dies is replaced by it in the time it takes to
   * start listening (tens of milliseconds) instead of a whole process start (a second or
   * more on a busy machine); a new spare is then forked in the background. It costs one
   * idle process's memory.
   */
  private spare: ClusterWorker | null = null;
  private spareReady = false;
  private readonly slotOf = new Map<ClusterWorker, Slot>();
  private readonly waiters = new Map<ClusterWorker, () => void>();

  /** Connections sent to a worker that died before it took them, served by another worker instead (monotonic). */
  get rescued(): number {
    return this.distributor.rescued;
  }

  /** Connections no worker could take within 10 s: closed (the client sees a closed connection, not a hang). */
  get rescueClosed(): number {
    return this.distributor.closedUntaken;
  }

  /** The warm spare's state: null when there is none (being replaced, or stopping). */
  get spareState(): 'starting' | 'ready' | null {
    return this.spare === null ? null : this.spareReady ? 'ready' : 'starting';
  }

  private forkSpare(delayMs = 0): void {
    if (this.stopping || this.spare !== null) return;
    const t = setTimeout(() => {
      if (this.stopping || this.spare !== null) return;
      this.spareReady = false;
      this.spare = this.spawn(null);
    }, delayMs);
    t.unref();
  }

  /** Forks a worker into a slot; resolves when it serves (or failed to start). */
  private fork(slot: Slot): Promise<void> {
    return new Promise<void>((resolve) => {
      const worker = this.spawn(slot);
      this.waiters.set(worker, resolve);
    });
  }

  /** Puts the warm spare into a slot: it binds the listeners and serves. */
  private promote(slot: Slot): Promise<void> {
    const worker = this.spare!;
    this.spare = null;
    this.attach(slot, worker);
    // A spare that does not serve within a few seconds (hung while idle) is killed: its
    // exit puts a freshly forked worker in the slot.
    const timer = setTimeout(() => {
      if (slot.worker === worker && slot.state !== 'ready') {
        this.logger.error({ worker: slot.index, workerPid: worker.process.pid }, 'the warm spare did not start serving; replacing it');
        worker.process.kill('SIGKILL');
      }
    }, SPARE_LISTEN_MS);
    timer.unref();
    return new Promise<void>((resolve) => {
      this.waiters.set(worker, resolve);
      this.send(worker, { t: 'listen', slot: slot.index });
    });
  }

  private attach(slot: Slot, worker: ClusterWorker): void {
    slot.worker = worker;
    slot.state = 'starting';
    slot.startedAt = Date.now();
    slot.lastSeen = performance.now();
    this.slotOf.set(worker, slot);
  }

  private spawn(slot: Slot | null): ClusterWorker {
    const worker = cluster.fork({ BRISK_WORKER_SLOT: String(slot?.index ?? 0) });
    this.distributor.add(worker);
    this.reads.add(worker);
    if (slot !== null) this.attach(slot, worker);
    this.pipe(worker);
    worker.on('message', (msg: FromWorker) => this.onMessage(worker, msg));
    worker.on('exit', (code, signal) => this.onExit(worker, code, signal));
    return worker;
  }

  private onMessage(worker: ClusterWorker, msg: FromWorker): void {
    const slot = this.slotOf.get(worker) ?? null;
    if (slot !== null && slot.worker === worker) slot.lastSeen = performance.now();
    switch (msg.t) {
      case 'hello':
        this.send(worker, this.host.startMessage(slot?.index ?? 0, slot === null));
        return;
      case 'standby':
        if (worker === this.spare) this.spareReady = true;
        return;
      case 'ready':
        if (slot !== null && slot.worker === worker) {
          slot.state = 'ready';
          slot.readyAt = Date.now();
          slot.version = msg.version;
          slot.failures = 0;
          this.logger.info({ worker: slot.index, workerPid: worker.process.pid, startMs: slot.readyAt - slot.startedAt }, 'worker serving');
          this.host.onReady(slot, msg.listeners);
          this.distributor.flush();
        }
        this.waiters.get(worker)?.();
        this.waiters.delete(worker);
        return;
      case 'report':
        this.distributor.reported(worker, msg.closed);
        if (slot === null) return;
        // A draining worker's last batches still count (its requests were served).
        if (slot.worker === worker) {
          slot.version = msg.version;
          slot.inFlight = msg.inFlight;
          slot.openConnections = msg.openConnections;
          slot.openTunnels = msg.openTunnels;
          slot.shedLevel = msg.shedLevel;
          slot.rss = msg.rss;
          slot.cpuUs = msg.cpuUs;
        }
        slot.requests += this.host.onReport(slot, msg);
        return;
      case 'applied':
        if (slot === null) return;
        if (msg.ok && slot.worker === worker) slot.version = msg.version;
        this.host.onApplied(slot, msg);
        return;
      case 'fatal':
        this.logger.error({ worker: slot?.index ?? 'spare', message: msg.message }, 'worker failed to start');
        return;
      case 'batch':
        if (slot !== null) slot.requests += this.host.onBatch(msg.batch);
        return;
      case 'purged':
        this.host.onAnswer(msg.id, slot, msg.memory);
        return;
      case 'flushed':
        this.host.onAnswer(msg.id, slot, msg.process);
        return;
      case 'cacheStats':
        this.host.onAnswer(msg.id, slot, msg.routes);
        return;
      case 'took':
        this.distributor.took(worker, msg.id, msg.closed);
        return;
      case 'closed':
        this.distributor.reported(worker, msg.closed);
        return;
    }
  }

  private onExit(worker: ClusterWorker, code: number | null, signal: string | null): void {
    this.reads.remove(worker);
    const slot = this.slotOf.get(worker) ?? null;
    // Its slot stays known until its channel has been read to the end: the batches and
    // reports it sent before it died (read after its exit when its channel was paused,
    // src/workers/channel-reads.ts) still count its requests in the node's totals.
    this.whenChannelEnds(worker, () => {
      this.distributor.gone(worker);
      this.slotOf.delete(worker);
    });
    this.waiters.get(worker)?.();
    this.waiters.delete(worker);
    if (worker === this.spare) {
      this.spare = null;
      if (!this.leaving.has(worker)) this.logger.warn({ workerPid: worker.process.pid, code, signal }, 'the warm spare worker exited; forking another');
      this.forkSpare(1000);
      return;
    }
    if (this.leaving.has(worker) || this.stopping || slot === null || slot.worker !== worker) return;
    slot.worker = null;
    slot.state = 'down';
    slot.inFlight = 0;
    slot.openConnections = 0;
    if (!this.killedStuck.has(worker)) slot.restarts.exit++;
    const early = slot.readyAt < slot.startedAt;
    if (early) slot.failures++;
    if (this.spare !== null && this.spareReady && !early) {
      this.logger.error({ worker: slot.index, workerPid: worker.process.pid, code, signal }, 'worker exited; the warm spare takes its place');
      void this.promote(slot).then(() => this.forkSpare());
      return;
    }
    // A worker that cannot even start is retried with a growing delay, not in a tight loop.
    const delay = early ? Math.min(5000, 100 * 2 ** Math.min(6, slot.failures - 1)) : 0;
    this.logger.error({ worker: slot.index, workerPid: worker.process.pid, code, signal, retryInMs: delay }, 'worker exited; replacing it');
    setTimeout(() => {
      if (!this.stopping && slot.worker === null) void this.fork(slot);
    }, delay).unref();
  }

  /**
   * Calls `then` once the worker's IPC channel has ended (every message it sent has been
   * read): a 'disconnect' Node may never emit when a handle was on its way to the worker,
   * so the channel itself is watched, and `CHANNEL_END_MS` bounds the wait.
   */
  private whenChannelEnds(worker: ClusterWorker, then: () => void): void {
    const started = performance.now();
    const check = (): void => {
      if (worker.process.channel == null || performance.now() - started >= CHANNEL_END_MS) then();
      else setTimeout(check, 20).unref();
    };
    check();
  }

  /**
   * A worker silent for `STUCK_MS` has a stuck event loop: killed and replaced (its
   * connections are lost, as with a crash). Called on the primary's tick (every 100 ms),
   * which also sweeps the distributor once a second.
   */
  watch(): void {
    if (this.stopping) return;
    this.reads.tick();
    const now = performance.now();
    if (now - this.sweptAt >= 1000) {
      this.sweptAt = now;
      this.distributor.sweep();
    }
    for (const slot of this.slots) {
      const w = slot.worker;
      if (w === null || slot.state !== 'ready' || now - slot.lastSeen < STUCK_MS) continue;
      this.logger.error({ worker: slot.index, workerPid: w.process.pid, silentMs: Math.round(now - slot.lastSeen) }, 'worker stuck (no heartbeat); replacing it');
      slot.restarts.stuck++;
      this.killedStuck.add(w);
      w.process.kill('SIGKILL');
      slot.state = 'down';
    }
  }

  /**
   * Replaces every worker, one slot at a time: the new worker serves before the old one
   * is told to drain (stop accepting, finish in-flight requests), so no request fails.
   */
  async rollingRestart(): Promise<void> {
    for (const slot of this.slots) {
      if (this.stopping) return;
      const old = slot.worker;
      if (old !== null) this.leaving.add(old);
      slot.restarts.rolling++;
      await this.fork(slot);
      if (old !== null) await this.drain(old);
    }
    // The spare runs the old code too (a rolling restart is how new code is deployed).
    const spare = this.spare;
    if (spare !== null) {
      this.leaving.add(spare);
      this.spare = null;
      await this.drain(spare);
      this.forkSpare();
    }
  }

  /** Tells a worker to drain and waits for it to exit (SIGKILL after the drain timeout and a margin). */
  private drain(worker: ClusterWorker, timeoutMs = 35_000): Promise<void> {
    return new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve();
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), timeoutMs);
      timer.unref();
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.send(worker, { t: 'stop' });
    });
  }

  /** Drains every worker (graceful stop). */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.stopping = true;
    // Every worker's last messages (its last batch) are read as they come.
    this.reads.wakeAll();
    // No new connection from now on; those sent are taken by workers before their drain begins (messages keep their order).
    this.distributor.close();
    const spare = this.spare;
    this.spare = null;
    if (spare !== null) this.leaving.add(spare);
    await Promise.all([...this.slots.map((s) => (s.worker === null ? null : this.drain(s.worker, drainTimeoutMs + 5000))), spare === null ? null : this.drain(spare, 5000)]);
    this.distributor.destroyAll();
  }

  /** Worker output, forwarded in whole lines: a line is never cut by another process's. */
  private pipe(worker: ClusterWorker): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = worker.process[name];
      if (stream === null || stream === undefined) continue;
      let carry = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const text = carry + chunk;
        const end = text.lastIndexOf('\n');
        if (end === -1) {
          carry = text;
          return;
        }
        carry = text.slice(end + 1);
        this.output(name, text.slice(0, end + 1));
      });
      stream.on('end', () => {
        if (carry !== '') this.output(name, carry + '\n');
        carry = '';
      });
    }
  }
}
