/**
 * The clock and timers the overload code runs on, injectable so that unit tests can
 * move time by hand instead of sleeping. Times are milliseconds of a monotonic clock.
 */
export interface Scheduler {
  now(): number;
  /** Calls `fn` once after `ms`; the handle is only ever passed back to `clearTimer`. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/**
 * `performance.now()` and node timers. Timers are unref'd: a queue waiting for a slot
 * must not keep a process alive that is otherwise done (tests, shutdown).
 */
export const realScheduler: Scheduler = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * A scheduler for tests: time stands still until `advance` moves it, firing the timers
 * that fall due, in order.
 *
 * @example
 * const s = new ManualScheduler();
 * s.setTimer(() => console.log('fired'), 10);
 * s.advance(10); // fired
 */
export class ManualScheduler implements Scheduler {
  private t = 0;
  private seq = 0;
  private timers: { id: number; at: number; fn: () => void }[] = [];

  constructor(start = 1000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in time order (each at its own time). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: { id: number; at: number; fn: () => void } | null = null;
      for (const x of this.timers) if (x.at <= end && (next === null || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      if (next === null) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}
