/**
 * Gateway-wide load shedding (top-level key `overload`). When the gateway itself is
 * overloaded — its event loop lags, so every request, admitted or not, gets slower — it
 * refuses requests at once (503 `BRISK_SHED`) by priority, to keep serving the rest
 * promptly:
 *
 * ```
 * level 0  shed nothing
 * level 1  shed `low`                       lag ≥ eventLoopLag (or queue wait ≥ queueWait)
 * level 2  shed `low` and `normal`          still overloaded `hold` after level 1
 * level 3  shed everything, `critical` too  only while lag ≥ criticalEventLoopLag
 * ```
 *
 * Each level is held for at least `hold` before the next step down, and a step down
 * needs the signals below half their thresholds (hysteresis), so that shedding does not
 * flap on and off with every sample. Level 3 ends as soon as the lag is below the
 * critical threshold.
 *
 * Signals, sampled every 100 ms:
 * - event-loop lag, as a p99 over the last second (see {@link EventLoopLagMonitor});
 * - queue wait: the mean wait of requests in the routes' `concurrency` queues over the
 *   last second (they report it through `observeQueueWait`). Off unless configured:
 *   route queues already bound their own waits, and a long wait there usually means a
 *   slow upstream, not a busy gateway.
 *
 * `shouldShed` is a comparison with a number updated by the sampler: a refused request
 * is answered synchronously, without waiting for anything.
 *
 * @example
 * const shedder = new LoadShedder(config, { onLevelChange: (c) => log.warn(c, c.reason) });
 * shedder.start();
 * // per request, before the route's middlewares:
 * const refusal = shedder.check(priority); // null, or a prebuilt 503 BRISK_SHED answer
 * // on shutdown or when the config is replaced:
 * shedder.stop();
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { Answer, Middleware, RequestContext } from '../../core/middleware.js';
import { Priority, priorityName, priorityOf, requestPriority, type PriorityName } from './priority.js';
import { realScheduler, type Scheduler } from './scheduler.js';
import type { OverloadConfig } from './schema.js';

export type { OverloadConfig } from './schema.js';

/** How the shedder learns the event-loop lag. */
export interface LagSource {
  start(): void;
  stop(): void;
  /** Called every sample interval: closes the current 100 ms slot and returns the p99 lag (ms) over the last second. */
  sample(): number;
}

export type ShedLevel = 0 | 1 | 2 | 3;

export const SHED_LEVEL_NAMES = ['none', 'low', 'low+normal', 'all'] as const;

export interface ShedLevelChange {
  readonly from: ShedLevel;
  readonly to: ShedLevel;
  readonly lagMs: number;
  readonly queueWaitMs: number;
  /** One line for the log. */
  readonly reason: string;
}

export interface LoadShedderStats {
  readonly running: boolean;
  readonly level: ShedLevel;
  /** What is shed now: `none`, `low`, `low+normal`, `all`. */
  readonly shedding: (typeof SHED_LEVEL_NAMES)[ShedLevel];
  readonly lagMs: number;
  readonly queueWaitMs: number;
  /** Requests shed since the shedder was made, by priority. */
  readonly shed: { readonly low: number; readonly normal: number; readonly critical: number };
  readonly levelChanges: number;
}

export interface LoadShedderOptions {
  readonly lagSource?: LagSource;
  readonly scheduler?: Scheduler;
  readonly onLevelChange?: (change: ShedLevelChange) => void;
}

/** The sampling period. */
export const SAMPLE_MS = 100;
/** Slots in the one-second window. */
const SLOTS = 10;
/** A step down needs the signals below this share of their thresholds. */
const RECOVER_RATIO = 0.5;

export class LoadShedder {
  readonly config: OverloadConfig;
  private readonly source: LagSource;
  private readonly scheduler: Scheduler;
  private readonly listener: ((change: ShedLevelChange) => void) | null;
  private levelNow: ShedLevel = 0;
  private since = 0;
  private lag = 0;
  private queueWait = 0;
  private readonly waitSum = new Float64Array(SLOTS);
  private readonly waitCount = new Uint32Array(SLOTS);
  private slot = 0;
  private timer: unknown = null;
  private running = false;
  private readonly shedCounts = new Float64Array(3);
  private changes = 0;
  private readonly answers: readonly [Answer, Answer, Answer];

  constructor(config: OverloadConfig, options: LoadShedderOptions = {}) {
    this.config = config;
    this.scheduler = options.scheduler ?? realScheduler;
    this.source = options.lagSource ?? new EventLoopLagMonitor();
    this.listener = options.onLevelChange ?? null;
    const headers = Object.freeze(['retry-after', String(config.retryAfterS)]);
    const answer = (p: Priority): Answer =>
      Object.freeze({
        status: 503,
        code: 'BRISK_SHED',
        message: `the gateway is overloaded and sheds ${priorityName(p)}-priority requests; try again later`,
        headers,
      });
    this.answers = [answer(Priority.Low), answer(Priority.Normal), answer(Priority.Critical)];
  }

  /** Starts sampling (idempotent). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.source.start();
    this.since = this.scheduler.now();
    this.timer = this.scheduler.setTimer(this.tick, SAMPLE_MS);
  }

  /** Stops sampling and shedding (idempotent). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== null) this.scheduler.clearTimer(this.timer);
    this.timer = null;
    this.source.stop();
    this.setLevel(0, this.scheduler.now(), 'the load shedder was stopped');
  }

  /** True when a request of this priority is to be refused now (and counted as shed). */
  shouldShed(priority: Priority): boolean {
    if (priority >= this.levelNow) return false;
    this.shedCounts[priority]! += 1;
    return true;
  }

  /** The prebuilt refusal for a request of this priority, or null to let it through. */
  check(priority: Priority): Answer | null {
    return this.shouldShed(priority) ? this.answers[priority] : null;
  }

  /** A route queue's wait (granted or timed out), for the queue-wait signal. */
  observeQueueWait(ms: number): void {
    this.waitSum[this.slot]! += ms;
    this.waitCount[this.slot]! += 1;
  }

  get level(): ShedLevel {
    return this.levelNow;
  }

  stats(): LoadShedderStats {
    return {
      running: this.running,
      level: this.levelNow,
      shedding: SHED_LEVEL_NAMES[this.levelNow],
      lagMs: this.lag,
      queueWaitMs: this.queueWait,
      shed: { low: this.shedCounts[0]!, normal: this.shedCounts[1]!, critical: this.shedCounts[2]! },
      levelChanges: this.changes,
    };
  }

  /**
   * One sample: reads the signals and moves the level. Runs every 100 ms once started;
   * public so that tests drive it by hand.
   */
  update(now: number): void {
    const c = this.config;
    this.lag = this.source.sample();
    let sum = 0;
    let count = 0;
    for (let i = 0; i < SLOTS; i++) {
      sum += this.waitSum[i]!;
      count += this.waitCount[i]!;
    }
    this.queueWait = count === 0 ? 0 : sum / count;
    this.slot = (this.slot + 1) % SLOTS;
    this.waitSum[this.slot] = 0;
    this.waitCount[this.slot] = 0;

    const lag = this.lag;
    const wait = this.queueWait;
    const lagOver = c.eventLoopLagMs > 0 && lag >= c.eventLoopLagMs;
    const waitOver = c.queueWaitMs > 0 && wait >= c.queueWaitMs;
    const severe = c.criticalEventLoopLagMs > 0 && lag >= c.criticalEventLoopLagMs;
    const calm = (c.eventLoopLagMs === 0 || lag < c.eventLoopLagMs * RECOVER_RATIO) && (c.queueWaitMs === 0 || wait < c.queueWaitMs * RECOVER_RATIO);
    const held = now - this.since >= c.holdMs;
    const level = this.levelNow;
    const why = lagOver ? `event-loop lag p99 ${fmt(lag)}ms ≥ ${c.eventLoopLagMs}ms` : waitOver ? `queue wait ${fmt(wait)}ms ≥ ${c.queueWaitMs}ms` : '';
    if (severe) {
      if (level !== 3) this.setLevel(3, now, `event-loop lag p99 ${fmt(lag)}ms ≥ ${c.criticalEventLoopLagMs}ms (criticalEventLoopLag): shedding all requests, critical ones too`);
    } else if (level === 3) {
      this.setLevel(2, now, `event-loop lag p99 ${fmt(lag)}ms is below criticalEventLoopLag again: critical requests pass`);
    } else if (lagOver || waitOver) {
      if (level === 0) this.setLevel(1, now, `${why}: shedding low-priority requests`);
      else if (level === 1 && held) this.setLevel(2, now, `${why} for ${fmt(now - this.since)}ms despite shedding low: shedding normal-priority requests too`);
    } else if (calm && level > 0 && held) {
      this.setLevel((level - 1) as ShedLevel, now, `load is down (lag p99 ${fmt(lag)}ms, queue wait ${fmt(wait)}ms): shedding ${SHED_LEVEL_NAMES[level - 1]}`);
    }
  }

  private readonly tick = (): void => {
    if (!this.running) return;
    this.update(this.scheduler.now());
    this.timer = this.scheduler.setTimer(this.tick, SAMPLE_MS);
  };

  private setLevel(to: ShedLevel, now: number, reason: string): void {
    const from = this.levelNow;
    this.since = now;
    if (to === from) return;
    this.levelNow = to;
    this.changes++;
    if (this.listener === null) return;
    try {
      this.listener({ from, to, lagMs: this.lag, queueWaitMs: this.queueWait, reason });
    } catch {
      // A listener's failure must not change what the shedder decides.
    }
  }
}

function fmt(ms: number): string {
  return ms >= 10 ? String(Math.round(ms)) : ms.toFixed(1);
}

/**
 * Event-loop lag as a p99 over the last second, exact: a 10 ms interval timer records
 * how late it fires into one `perf_hooks` histogram per 100 ms slot, and `sample` merges
 * the ten slots (`RecordableHistogram.add`).
 *
 * Why not `perf_hooks.monitorEventLoopDelay`, which measures the same thing in C++: its
 * histogram must be reset to get per-slot data, and a reset also forgets the start of
 * the interval being timed, so a blocking task that begins right after a reset is never
 * recorded (on Node 20, a 150 ms block that starts right after a reset reads as 10 ms). Its histograms also cannot be
 * merged (`add` refuses them), so a p99 over a second could only be estimated. The
 * interval timer costs one callback per 10 ms.
 */
export class EventLoopLagMonitor implements LagSource {
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private readonly slots: RecordableHistogram[] = [];
  private readonly merged = createHistogram();
  private slot = 0;

  constructor(private readonly resolutionMs = 10) {
    for (let i = 0; i < SLOTS; i++) this.slots.push(createHistogram());
  }

  start(): void {
    if (this.timer !== null) return;
    this.last = performance.now();
    this.timer = setInterval(this.onInterval, this.resolutionMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    for (const h of this.slots) h.reset();
  }

  sample(): number {
    if (this.timer === null) return 0;
    const merged = this.merged;
    merged.reset();
    for (const h of this.slots) merged.add(h);
    this.slot = (this.slot + 1) % SLOTS;
    this.slots[this.slot]!.reset();
    return merged.count === 0 ? 0 : merged.percentile(99) / 1000;
  }

  private readonly onInterval = (): void => {
    const now = performance.now();
    const lateMs = now - this.last - this.resolutionMs;
    this.last = now;
    // Microseconds; a histogram takes integers of at least 1.
    this.slots[this.slot]!.record(Math.max(1, Math.round(lateMs * 1000)));
  };
}

export interface SheddingMiddlewareOptions {
  /** The route's `priority`; a request's own (`overload.priorityHeader`) wins when allowed. */
  readonly priority: PriorityName;
}

/**
 * The shedder as a route middleware: put it first in every route's pipeline (before auth:
 * an overloaded gateway must not spend a token check on a request it will refuse).
 * Cheaper still, the proxy can call `shedder.check(priority)` itself before the pipeline.
 */
export function createSheddingMiddleware(shedder: LoadShedder, options: SheddingMiddlewareOptions): Middleware {
  const routePriority = priorityOf(options.priority);
  const header = shedder.config.priorityHeader;
  return {
    name: 'shedding',
    handle(ctx: RequestContext) {
      return shedder.check(header === null ? routePriority : requestPriority(ctx.rawHeaders, routePriority, header));
    },
  };
}
