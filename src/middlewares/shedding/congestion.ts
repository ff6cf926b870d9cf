/**
 * Standing-queue control (CoDel) of one route's concurrency queue: when the queue counts
 * as congested, how long a waiter may then wait, and how many may wait. The limiter
 * (concurrency.ts) owns the slots and the waiters; this owns the evidence of a standing
 * queue and what it implies. See concurrency.ts for the behaviour as a whole.
 */

/** CoDel's two settings, in milliseconds. */
export interface CodelSettings {
  readonly targetMs: number;
  readonly intervalMs: number;
}

export class Congestion {
  /**
   * The last moment a slot was free with nobody waiting. The queue counts as congested
   * once that is `interval` ago: demand has exceeded the limit the whole time. (The queue
   * emptying because its waiters timed out does not count: nobody was served.)
   */
  private lastIdleAt: number;
  /** The last refusal (shed, evicted or timed out): evidence of overload. */
  private lastRefusalAt = -Infinity;
  /** Slots released in the current and the previous `interval`: the queue's drain rate. */
  private releaseWindowStart: number;
  private releasesNow = 0;
  private releasesBefore = 0;

  constructor(
    private readonly codel: CodelSettings,
    now: number,
  ) {
    this.lastIdleAt = now;
    this.releaseWindowStart = now;
  }

  /** A slot is free with nobody waiting. */
  idle(now: number): void {
    this.lastIdleAt = now;
  }

  /** A request was refused (shed, evicted or timed out). */
  refused(now: number): void {
    this.lastRefusalAt = now;
  }

  /** A slot was released: counts toward the drain rate. */
  released(now: number): void {
    this.rollReleaseWindow(now);
    this.releasesNow++;
  }

  /**
   * From when the queue counts as congested: now, if it refused anyone within the last
   * interval; else one interval after the last moment a slot was free with nobody waiting.
   */
  congestedFrom(now: number): number {
    if (now - this.lastRefusalAt < this.codel.intervalMs) return -Infinity;
    return this.lastIdleAt + this.codel.intervalMs;
  }

  /**
   * The latest a waiter that arrived at `enqueuedAt` may be answered: its queue timeout,
   * or `target` after it arrived if the queue is congested by then (`congestedFrom`).
   */
  deadline(enqueuedAt: number, timeout: number, congestedFrom: number): number {
    return Math.min(timeout, Math.max(enqueuedAt + this.codel.targetMs, congestedFrom));
  }

  /**
   * How many may wait now: `maxQueue`, or, while the queue is congested, what the route
   * serves within half of `target` at the rate slots were released over the last
   * interval: releases come in bursts, and the half leaves room for them, so that few
   * waiters reach the target (and are refused only after waiting it).
   */
  queueCap(now: number, maxQueue: number): number {
    if (this.congestedFrom(now) > now) return maxQueue;
    this.rollReleaseWindow(now);
    const servable = Math.floor((this.releasesBefore * this.codel.targetMs) / (2 * this.codel.intervalMs));
    return Math.min(maxQueue, Math.max(1, servable));
  }

  private rollReleaseWindow(now: number): void {
    const intervalMs = this.codel.intervalMs;
    const passed = now - this.releaseWindowStart;
    if (passed < intervalMs) return;
    this.releasesBefore = passed < 2 * intervalMs ? this.releasesNow : 0;
    this.releasesNow = 0;
    this.releaseWindowStart = now - (passed % intervalMs);
  }
}
