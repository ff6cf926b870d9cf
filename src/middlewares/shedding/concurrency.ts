/**
 * A route's concurrency limit with a bounded, priority-aware queue (route key
 * `concurrency`).
 *
 * - Up to `maxConcurrent` requests of the route are in flight at once (with
 *   `adaptive`, up to the adaptive limit, which never exceeds `maxConcurrent`).
 * - Past that, a request waits in a queue of at most `maxQueue` requests: `critical`
 *   ones are served first, then `normal`, then `low`, each in arrival order (FIFO).
 * - A full queue refuses at once with 503 `BRISK_SHED`, except that a request of higher
 *   priority takes the place of the youngest waiter of the lowest priority below its
 *   own (which gets the `BRISK_SHED`).
 * - A waiter that gets no slot within `queueTimeout` is answered 503
 *   `BRISK_QUEUE_TIMEOUT`; it was never sent upstream.
 * - CoDel (after Nichols & Jacobson, as Facebook applies it to RPC queues): a queue is
 *   for bursts, not for a standing overload, where it only adds its full wait to every
 *   request. The queue counts as congested while it has refused a request (full, or a
 *   wait timed out) within the last `codel.interval`, or once no slot has been free with
 *   nobody waiting for that long. Then waits are cut to `codel.target`: waiters are
 *   either served within the target or
 *   refused after it; and the queue is cut to what the route serves within half the
 *   target (slots released over the last `interval`, scaled; at least one), so the
 *   excess is refused at once instead of after waiting. The shed count is about the same
 *   (the upstream serves what it can either way); what changes is that admitted requests
 *   no longer wait out the whole queue, and refused ones hardly wait. Routes whose
 *   requests take much longer than `interval` (long polls, big downloads) free slots
 *   rarely: give them a larger `target`, or `codel: false`.
 *   The evidence of congestion and what it implies are kept in congestion.ts.
 *
 * A slot is released when the request ends, through `RequestContext.onFinish` (called
 * once by the exchange with the client's status, 499 when the client left). The ticket
 * guards against a second call: a slot is released exactly once. A request that ends
 * while still waiting (its finish hook runs) leaves the queue.
 *
 * Refusals are answered synchronously with a prebuilt answer: they wait for nothing and
 * allocate nothing. An admitted request with a free slot costs one small ticket and no
 * promise; only a request that has to wait gets a promise (and no timer of its own: one
 * timer per route is armed for the earliest deadline).
 *
 * @example
 * const mw = createConcurrencyMiddleware(
 *   { maxConcurrent: 20, maxQueue: 20, queueTimeoutMs: 50, codel: { targetMs: 5, intervalMs: 100 }, adaptive: null },
 *   { route: 'checkout', priority: 'normal', priorityHeader: null },
 * );
 * // in the route pipeline: mw.handle(ctx) → null (go on), an Answer (refused), or a promise of either
 */
import type { Answer, Middleware, RequestContext } from '../../core/middleware.js';
import { AdaptiveLimit, type AdaptiveLimitStats } from '../../upstreams/resilience/adaptive.js';
import { Priority, priorityOf, requestPriority } from './priority.js';
import { Congestion } from './congestion.js';
import { realScheduler, type Scheduler } from './scheduler.js';
import type { ConcurrencyConfig, PriorityName } from './schema.js';

export interface ConcurrencyOptions {
  /** The route's name, for messages. */
  readonly route: string;
  readonly scheduler?: Scheduler;
  /** Told every queue wait (granted or timed out), e.g. for the gateway's load shedder. */
  readonly onQueueWait?: (ms: number) => void;
  /** `Retry-After` of refusals, in seconds (default 1). */
  readonly retryAfterS?: number;
}

export interface ConcurrencyStats {
  readonly limit: number;
  readonly inFlight: number;
  readonly queued: number;
  /** Since the limiter was made. */
  readonly admitted: number;
  readonly admittedAfterWait: number;
  readonly shed: number;
  /** Waiters that gave their place to a request of higher priority. */
  readonly evicted: number;
  readonly timedOut: number;
  /** Requests that ended while waiting. */
  readonly cancelled: number;
  readonly maxQueueWaitMs: number;
  readonly meanQueueWaitMs: number;
  /** Slots released by a second finish call (ignored). */
  readonly doubleFinishes: number;
  readonly adaptive: AdaptiveLimitStats | null;
}

/**
 * Waiting → Granted → Done (finish releases the slot); Waiting → Refused → Done (timed
 * out or evicted: the exchange still runs the finish hook once, which does nothing);
 * Waiting → Done (finished while waiting: leaves the queue). A finish on Done is a
 * second call, counted and ignored.
 */
const enum TicketState {
  Waiting = 0,
  Granted = 1,
  Refused = 2,
  Done = 3,
}

/** Deadlines within this of now count as due: timers fire on whole milliseconds. */
const SLACK_MS = 1;

/** One request's place: a queue node while it waits, then its slot. */
class Ticket {
  state: TicketState = TicketState.Waiting;
  enqueuedAt = 0;
  grantedAt = 0;
  prev: Ticket | null = null;
  next: Ticket | null = null;
  resolve: ((answer: Answer | null) => void) | null = null;
  /** The finish hook given to the request context; safe to call any number of times. */
  readonly finish = (status: number): void => this.limiter.finish(this, status);
  constructor(
    private readonly limiter: ConcurrencyLimiter,
    readonly priority: Priority,
  ) {}
}

/** A FIFO of waiters of one priority: a doubly linked list, so a waiter leaves from anywhere in O(1). */
class WaitList {
  head: Ticket | null = null;
  tail: Ticket | null = null;
  push(t: Ticket): void {
    t.prev = this.tail;
    t.next = null;
    if (this.tail === null) this.head = t;
    else this.tail.next = t;
    this.tail = t;
  }
  remove(t: Ticket): void {
    if (t.prev === null) this.head = t.next;
    else t.prev.next = t.next;
    if (t.next === null) this.tail = t.prev;
    else t.next.prev = t.prev;
    t.prev = null;
    t.next = null;
  }
}

export class ConcurrencyLimiter {
  readonly config: ConcurrencyConfig;
  readonly adaptive: AdaptiveLimit | null;
  private readonly scheduler: Scheduler;
  private readonly onQueueWait: ((ms: number) => void) | null;
  /** Indexed by priority. */
  private readonly lists: readonly [WaitList, WaitList, WaitList] = [new WaitList(), new WaitList(), new WaitList()];
  private inflight = 0;
  private queued = 0;
  /** Standing-queue control; null when `codel` is off. */
  private readonly congestion: Congestion | null;
  private timer: unknown = null;
  private timerAt = Infinity;
  private readonly shedAnswer: Answer;
  private readonly timeoutAnswer: Answer;
  private readonly codelAnswer: Answer;
  // Counters.
  private admittedCount = 0;
  private admittedAfterWaitCount = 0;
  private shedCount = 0;
  private evictedCount = 0;
  private timedOutCount = 0;
  private cancelledCount = 0;
  private doubleFinishCount = 0;
  private maxWait = 0;
  private sumWait = 0;
  private waits = 0;

  constructor(config: ConcurrencyConfig, options: ConcurrencyOptions) {
    this.config = config;
    this.scheduler = options.scheduler ?? realScheduler;
    this.onQueueWait = options.onQueueWait ?? null;
    this.congestion = config.codel === null ? null : new Congestion(config.codel, this.scheduler.now());
    this.adaptive = config.adaptive === null ? null : new AdaptiveLimit({ ...config.adaptive, maxLimit: Math.min(config.adaptive.maxLimit, config.maxConcurrent) }, () => this.scheduler.now());
    const headers = Object.freeze(['retry-after', String(options.retryAfterS ?? 1)]);
    const route = options.route;
    const limitText = config.adaptive === null ? `${config.maxConcurrent}` : `its adaptive limit (at most ${config.maxConcurrent})`;
    this.shedAnswer = Object.freeze({
      status: 503,
      code: 'BRISK_SHED',
      message: `route "${route}" is at ${limitText} requests in flight and its queue is full (concurrency.maxQueue ${config.maxQueue}, less while congested); try again later`,
      headers,
    });
    this.timeoutAnswer = Object.freeze({
      status: 503,
      code: 'BRISK_QUEUE_TIMEOUT',
      message: `route "${route}": no slot became free within ${config.queueTimeoutMs}ms (concurrency.queueTimeout); try again later`,
      headers,
    });
    this.codelAnswer = Object.freeze({
      status: 503,
      code: 'BRISK_QUEUE_TIMEOUT',
      message: `route "${route}": its queue is congested and no slot became free within ${config.codel?.targetMs ?? 0}ms (concurrency.codel.target); try again later`,
      headers,
    });
  }

  /** The limit in force: `maxConcurrent`, or the adaptive limit. */
  get limit(): number {
    return this.adaptive === null ? this.config.maxConcurrent : this.adaptive.limit;
  }

  /**
   * Admits the request (null, synchronously), refuses it (an answer, synchronously), or
   * queues it (a promise of null once it has a slot, or of a refusal). The request's
   * slot is released by the finish hook registered on `ctx`.
   */
  admit(ctx: Pick<RequestContext, 'onFinish'>, priority: Priority): Answer | null | Promise<Answer | null> {
    const now = this.scheduler.now();
    if (this.queued > 0) this.expire(now);
    if (this.queued === 0 && this.take()) {
      this.congestion?.idle(now);
      const t = new Ticket(this, priority);
      t.state = TicketState.Granted;
      t.grantedAt = now;
      this.admittedCount++;
      ctx.onFinish(t.finish);
      return null;
    }
    if (this.queued >= this.queueCap(now) && !this.evictFor(priority, now)) {
      this.shedCount++;
      this.onRefusal(now);
      return this.shedAnswer;
    }
    const t = new Ticket(this, priority);
    t.enqueuedAt = now;
    this.lists[priority].push(t);
    this.queued++;
    ctx.onFinish(t.finish);
    const promise = new Promise<Answer | null>((resolve) => {
      t.resolve = resolve;
    });
    this.arm(now);
    return promise;
  }

  /** The finish hook of a ticket: releases its slot, or takes it out of the queue. */
  finish(t: Ticket, status: number): void {
    switch (t.state) {
      case TicketState.Granted: {
        t.state = TicketState.Done;
        const now = this.scheduler.now();
        this.inflight--;
        this.congestion?.released(now);
        const a = this.adaptive;
        if (a !== null) {
          if (status === 499) a.abandon();
          else a.release(now - t.grantedAt, status === 503 || status === 504);
        }
        this.drain(now);
        if (this.queued === 0 && this.hasFreeSlot()) this.congestion?.idle(now);
        return;
      }
      case TicketState.Waiting: {
        t.state = TicketState.Done;
        this.unqueue(t);
        this.cancelledCount++;
        this.settle(t, this.shedAnswer);
        return;
      }
      case TicketState.Refused:
        t.state = TicketState.Done;
        return;
      default:
        this.doubleFinishCount++;
    }
  }

  stats(): ConcurrencyStats {
    return {
      limit: this.limit,
      inFlight: this.inflight,
      queued: this.queued,
      admitted: this.admittedCount,
      admittedAfterWait: this.admittedAfterWaitCount,
      shed: this.shedCount,
      evicted: this.evictedCount,
      timedOut: this.timedOutCount,
      cancelled: this.cancelledCount,
      maxQueueWaitMs: this.maxWait,
      meanQueueWaitMs: this.waits === 0 ? 0 : this.sumWait / this.waits,
      doubleFinishes: this.doubleFinishCount,
      adaptive: this.adaptive === null ? null : this.adaptive.stats(),
    };
  }

  /**
   * The config version is being replaced. Nothing to stop: requests still in flight
   * release their slots here, waiters are served or time out as before, and the timer
   * (unref'd) is only armed while someone waits.
   */
  close(): void {}

  /** Takes a slot if one is free. */
  private take(): boolean {
    if (!this.hasFreeSlot()) return false;
    if (this.adaptive !== null) this.adaptive.acquire();
    this.inflight++;
    return true;
  }

  /** Gives free slots to waiters, most important first, then refuses those past their deadline. */
  private drain(now: number): void {
    while (this.queued > 0) {
      const t = this.lists[2].head ?? this.lists[1].head ?? this.lists[0].head!;
      if (!this.take()) break;
      this.unqueue(t);
      t.state = TicketState.Granted;
      t.grantedAt = now;
      this.admittedCount++;
      this.admittedAfterWaitCount++;
      this.noteWait(now - t.enqueuedAt);
      this.settle(t, null);
    }
    if (this.queued > 0) this.expire(now);
  }

  /** Refuses the waiters whose deadline has come. Heads are the oldest of each list, so only heads are checked. */
  private expire(now: number): void {
    for (let p = 2; p >= 0; p--) {
      const list = this.lists[p as Priority];
      for (let t = list.head; t !== null; t = list.head) {
        const deadline = this.deadlineOf(t, this.congestedFrom(now));
        if (deadline - now >= SLACK_MS) break;
        t.state = TicketState.Refused;
        this.unqueue(t);
        this.timedOutCount++;
        this.noteWait(now - t.enqueuedAt);
        this.settle(t, deadline === t.enqueuedAt + this.config.queueTimeoutMs ? this.timeoutAnswer : this.codelAnswer);
        // At once, so that the rest of this pass already sees a congested queue.
        this.congestion?.refused(now);
      }
    }
  }

  /** A refusal makes the queue congested now: waiters' deadlines may have come closer. */
  private onRefusal(now: number): void {
    const congestion = this.congestion;
    if (congestion === null) return;
    const wasCongested = congestion.congestedFrom(now) <= now;
    congestion.refused(now);
    if (!wasCongested && this.queued > 0) {
      this.expire(now);
      this.arm(now);
    }
  }

  /** From when the queue counts as congested (see `Congestion`); Infinity without CoDel. */
  private congestedFrom(now: number): number {
    return this.congestion === null ? Infinity : this.congestion.congestedFrom(now);
  }

  /** The latest a waiter may be answered: its queue timeout, or sooner while the queue is congested. */
  private deadlineOf(t: Ticket, congestedFrom: number): number {
    const timeout = t.enqueuedAt + this.config.queueTimeoutMs;
    return this.congestion === null ? timeout : this.congestion.deadline(t.enqueuedAt, timeout, congestedFrom);
  }

  /** How many may wait now: `maxQueue`, or less while the queue is congested. */
  private queueCap(now: number): number {
    return this.congestion === null ? this.config.maxQueue : this.congestion.queueCap(now, this.config.maxQueue);
  }

  /** A full queue: makes room for `priority` by evicting the youngest waiter of the lowest priority below it. */
  private evictFor(priority: Priority, now: number): boolean {
    if (this.config.maxQueue === 0) return false;
    for (let p = 0; p < priority; p++) {
      const victim = this.lists[p as Priority].tail;
      if (victim === null) continue;
      victim.state = TicketState.Refused;
      this.unqueue(victim);
      this.evictedCount++;
      this.noteWait(now - victim.enqueuedAt);
      this.settle(victim, this.shedAnswer);
      this.onRefusal(now);
      return true;
    }
    return false;
  }

  private unqueue(t: Ticket): void {
    this.lists[t.priority].remove(t);
    this.queued--;
  }

  private hasFreeSlot(): boolean {
    const a = this.adaptive;
    return a === null ? this.inflight < this.config.maxConcurrent : a.inFlight < a.limit;
  }

  private settle(t: Ticket, answer: Answer | null): void {
    const resolve = t.resolve;
    t.resolve = null;
    if (resolve !== null) resolve(answer);
  }

  private noteWait(ms: number): void {
    if (ms > this.maxWait) this.maxWait = ms;
    this.sumWait += ms;
    this.waits++;
    if (this.onQueueWait !== null) this.onQueueWait(ms);
  }

  /** Makes sure the timer fires by the earliest deadline in the queue. */
  private arm(now: number): void {
    let next = Infinity;
    const from = this.congestedFrom(now);
    for (let p = 0; p < 3; p++) {
      const head = this.lists[p as Priority].head;
      if (head !== null) next = Math.min(next, this.deadlineOf(head, from));
    }
    if (next === Infinity || next >= this.timerAt) return;
    if (this.timer !== null) this.scheduler.clearTimer(this.timer);
    this.timerAt = next;
    this.timer = this.scheduler.setTimer(this.onTimer, Math.max(0, Math.ceil(next - now)));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.scheduler.now();
    this.expire(now);
    this.arm(now);
  };
}

export interface ConcurrencyMiddlewareOptions extends ConcurrencyOptions {
  /** The route's `priority`. */
  readonly priority: PriorityName;
  /** `overload.priorityHeader`, lower-case, or null when requests may not set their priority. */
  readonly priorityHeader: string | null;
}

/** The route middleware; `limiter` is exposed for stats (admin API, metrics). */
export interface ConcurrencyMiddleware extends Middleware {
  readonly limiter: ConcurrencyLimiter;
}

/**
 * The `concurrency` middleware of a route. Put it last in the pipeline (after auth and
 * rate limits), so that a slot is held only by requests that will be forwarded.
 */
export function createConcurrencyMiddleware(config: ConcurrencyConfig, options: ConcurrencyMiddlewareOptions): ConcurrencyMiddleware {
  const limiter = new ConcurrencyLimiter(config, options);
  const routePriority = priorityOf(options.priority);
  const header = options.priorityHeader === null ? null : options.priorityHeader.toLowerCase();
  return {
    name: 'concurrency',
    limiter,
    handle(ctx: RequestContext) {
      return limiter.admit(ctx, header === null ? routePriority : requestPriority(ctx.rawHeaders, routePriority, header));
    },
    close() {
      limiter.close();
    },
  };
}
