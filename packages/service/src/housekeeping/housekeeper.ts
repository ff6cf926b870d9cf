/**
 * Housekeeping: what a service stores for a while and must forget — idempotency keys past
 * their retention, finished sagas, published outbox events and old applied step keys,
 * expired cache entries, old log files — removed on a schedule, each removal logged with
 * what and how many and counted in metrics. See docs/housekeeping.md.
 *
 * A job is an object with a name and `run(signal)` returning how many it removed. Jobs
 * run one after the other (never two at once in one process, so a slow run is not piled
 * on), every `intervalMs` with ±10% jitter so the instances of a service spread their
 * runs; the first run comes after one interval, not at start, when a service is busiest.
 * Deletes are idempotent, so several instances running the same job is harmless: each
 * counts only the rows its own statements deleted.
 */
import { counter, defaultLogger, gauge, histogram, Registry, type Logger } from '../observability.js';

/** What one run of a job removed. */
export interface JobResult {
  removed: number;
  /** Extra fields for the log line (per table, per file…). */
  detail?: Record<string, unknown>;
}

/** One kind of clean-up. */
export interface HousekeepingJob {
  /** Label value in metrics and logs (`idempotency-keys`, `sagas`, `logs:/var/log/x`). */
  name: string;
  run(signal: AbortSignal): Promise<JobResult>;
}

export interface HousekeeperOptions {
  jobs: HousekeepingJob[];
  /** Time between runs (default 10 minutes). */
  intervalMs?: number;
  /** Time one job may take before it is aborted (default 60 s). */
  jobTimeoutMs?: number;
  logger?: Logger;
  registry?: Registry;
}

/** Runs housekeeping jobs on a schedule and reports what they removed. */
export class Housekeeper {
  readonly #jobs: HousekeepingJob[];
  readonly #intervalMs: number;
  readonly #jobTimeoutMs: number;
  readonly #log: Logger;
  readonly #removed;
  readonly #runs;
  readonly #lastRun;
  readonly #duration;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<Record<string, number>> | undefined;
  #stopping = new AbortController();

  constructor(options: HousekeeperOptions) {
    const names = new Set<string>();
    for (const job of options.jobs) {
      if (names.has(job.name)) throw new Error(`housekeeping: two jobs are named "${job.name}"; give each its own name`);
      names.add(job.name);
    }
    this.#jobs = [...options.jobs];
    this.#intervalMs = options.intervalMs ?? 10 * 60_000;
    this.#jobTimeoutMs = options.jobTimeoutMs ?? 60_000;
    this.#log = options.logger ?? defaultLogger('housekeeping');
    const registry = options.registry ?? new Registry();
    this.#removed = counter(registry, { name: 'brisk_svc_housekeeping_removed_total', help: 'Items removed by housekeeping, by job', labelNames: ['job'] });
    this.#runs = counter(registry, { name: 'brisk_svc_housekeeping_runs_total', help: 'Housekeeping job runs, by job and result (ok, failed)', labelNames: ['job', 'result'] });
    this.#lastRun = gauge(registry, { name: 'brisk_svc_housekeeping_last_success_timestamp_seconds', help: 'When each housekeeping job last succeeded', labelNames: ['job'] });
    this.#duration = histogram(registry, { name: 'brisk_svc_housekeeping_duration_seconds', help: 'Time one housekeeping job run took', labelNames: ['job'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120] });
    // The counters exist from the start, so a dashboard shows 0 rather than nothing.
    for (const job of this.#jobs) this.#removed.inc({ job: job.name }, 0);
  }

  /**
   * Adds a job (a service that learns what it stores step by step: the frame adds the
   * cache, the orders service its sagas and keys). Names must stay unique.
   */
  add(job: HousekeepingJob): this {
    if (this.#jobs.some((j) => j.name === job.name)) throw new Error(`housekeeping: two jobs are named "${job.name}"; give each its own name`);
    this.#jobs.push(job);
    this.#removed.inc({ job: job.name }, 0);
    return this;
  }

  /** The jobs' names, in the order they run. */
  get jobs(): string[] {
    return this.#jobs.map((j) => j.name);
  }

  /** Starts the schedule (idempotent). */
  start(): this {
    if (this.#timer !== undefined) return this;
    this.#stopping = new AbortController();
    const next = () => {
      const delay = this.#intervalMs * (0.9 + Math.random() * 0.2);
      this.#timer = setTimeout(() => {
        void this.runOnce().finally(() => {
          if (this.#timer !== undefined) next();
        });
      }, delay);
      this.#timer.unref();
    };
    next();
    return this;
  }

  /** Stops the schedule and aborts a run under way; resolves when it has ended. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopping.abort();
    await this.#running?.catch(() => undefined);
  }

  /** Runs every job once now (waits for a run under way instead of starting a second); returns removed counts by job. */
  runOnce(): Promise<Record<string, number>> {
    this.#running ??= this.#runAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #runAll(): Promise<Record<string, number>> {
    const removed: Record<string, number> = {};
    for (const job of this.#jobs) {
      if (this.#stopping.signal.aborted) break;
      const started = performance.now();
      const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(this.#jobTimeoutMs)]);
      try {
        const result = await job.run(signal);
        removed[job.name] = result.removed;
        this.#removed.inc({ job: job.name }, result.removed);
        this.#runs.inc({ job: job.name, result: 'ok' });
        this.#lastRun.set({ job: job.name }, Date.now() / 1000);
        const ms = Math.round(performance.now() - started);
        // A run that removed nothing is routine: debug, so the log shows only real work.
        if (result.removed > 0) this.#log.info({ job: job.name, removed: result.removed, ms, ...result.detail }, 'housekeeping: removed old items');
        else this.#log.debug({ job: job.name, ms }, 'housekeeping: nothing to remove');
      } catch (error) {
        removed[job.name] = 0;
        this.#runs.inc({ job: job.name, result: 'failed' });
        this.#log.warn({ job: job.name, err: error instanceof Error ? error.message : String(error) }, 'housekeeping: a job failed; it runs again next time');
      } finally {
        this.#duration.observe({ job: job.name }, (performance.now() - started) / 1000);
      }
    }
    return removed;
  }
}
