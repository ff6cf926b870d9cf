/**
 * Config fragments for shedding: a route's `concurrency` and `priority`, and the
 * gateway's top-level `overload`. Schemas are one source for the JSON Schema, the
 * generated docs and the raw types; normalisers turn schema-valid values into the
 * configs the middlewares are built from, or into problems with paths relative to the
 * key, which the lead prefixes (`['routes', i, 'concurrency', …]`, `['overload', …]`).
 *
 * @example
 * ```yaml
 * overload:                      # gateway-wide shedding; off when the key is absent
 *   eventLoopLag: 50ms
 *   criticalEventLoopLag: 500ms
 *   priorityHeader: x-brisk-priority
 * routes:
 *   - name: checkout
 *     upstream: shop
 *     priority: critical
 *     concurrency: { maxConcurrent: 20, maxQueue: 20, queueTimeout: 50ms }
 *   - name: search
 *     upstream: shop
 *     priority: low
 *     concurrency: { maxConcurrent: 100, adaptive: true }
 * ```
 */
import { Type, type Static } from '../../config/type-builder.js';
import type { PathProblem } from '../../config/positions.js';
import { AdaptiveSchema, durationIn, normalizeAdaptive, retryAfterSeconds, type Normalized } from '../../upstreams/resilience/overload-schema.js';
import { Duration, Strict } from '../../config/schema-kit.js';
import type { AdaptiveLimitConfig } from '../../upstreams/resilience/overload-schema.js';

// ---------------------------------------------------------------------------------------
// priority

/** The schema of a route's `priority` key. */
export const PrioritySchema = Type.Union([Type.Literal('critical'), Type.Literal('normal'), Type.Literal('low')], {
  default: 'normal',
  description:
    'How important the route\'s requests are when the gateway or the route is overloaded: `low` ones are shed first, then `normal`; `critical` ones only past `overload.criticalEventLoopLag`, and they go first in the route\'s `concurrency` queue. With `overload.priorityHeader`, a request can set its own.',
});

export type RawPriority = Static<typeof PrioritySchema>;

/** The route's priority, `normal` when not set. */
export function normalizePriority(raw: RawPriority | undefined): PriorityName {
  return raw ?? 'normal';
}

// ---------------------------------------------------------------------------------------
// concurrency

export const CONCURRENCY_DEFAULTS = { queueTimeoutMs: 500, codelTargetMs: 5, codelIntervalMs: 100 } as const;

const Codel = Strict(
  {
    target: Type.Optional(Duration('The longest wait while the queue is congested.', '5ms')),
    interval: Type.Optional(Duration('The queue counts as congested once it has not been empty for this long.', '100ms')),
  },
  'Standing-queue control (CoDel): a queue absorbs bursts, but under a steady overload it only adds its whole wait to every request. Once the queue has not been empty for `interval`, waiting requests are served within `target` or refused (503 `BRISK_QUEUE_TIMEOUT`).',
);

/** The schema of a route's `concurrency` key. */
export const ConcurrencySchema = Strict(
  {
    maxConcurrent: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      description: 'Most requests of the route in flight at once (with `adaptive`, the most the adaptive limit may reach).',
    }),
    maxQueue: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        description:
          'Most requests waiting for a slot (`critical` first, then `normal`, then `low`, each in arrival order); past it a request is refused at once with 503 `BRISK_SHED`, unless it outranks a waiter, which then gives up its place. `0`: no queue. Defaults to `maxConcurrent`.',
      }),
    ),
    queueTimeout: Type.Optional(Duration('Longest wait for a slot; past it the request is refused with 503 `BRISK_QUEUE_TIMEOUT` (it was never sent upstream).', '500ms')),
    codel: Type.Optional(
      Type.Union([Type.Literal(false), Codel], {
        description: 'Standing-queue control, on by default (`target: 5ms`, `interval: 100ms`); `false` turns it off.',
      }),
    ),
    adaptive: Type.Optional(
      Type.Union([Type.Boolean(), AdaptiveSchema], {
        default: false,
        description: '`true` (or settings) makes the limit adaptive: it follows the upstream\'s latency, up to `maxConcurrent`.',
      }),
    ),
  },
  'A concurrency limit for the route, with a bounded queue: past it requests wait briefly or are refused at once, instead of piling up on a saturated upstream.',
);

export type RawConcurrency = Static<typeof ConcurrencySchema>;

/** The normalised `concurrency` of a route. */
export interface ConcurrencyConfig {
  /** Requests in flight at once; with `adaptive`, the ceiling of the adaptive limit. */
  readonly maxConcurrent: number;
  /** Requests waiting at once; 0: no queue, refuse at once. */
  readonly maxQueue: number;
  /** Longest wait in the queue. */
  readonly queueTimeoutMs: number;
  /** Standing-queue control; null: off. */
  readonly codel: { readonly targetMs: number; readonly intervalMs: number } | null;
  /** Adaptive limit; null: the limit is `maxConcurrent`. */
  readonly adaptive: AdaptiveLimitConfig | null;
}

/**
 * Normalises a schema-valid `concurrency` value.
 *
 * @example
 * normalizeConcurrency({ maxConcurrent: 20, maxQueue: 20, queueTimeout: '50ms' }).config
 * // { maxConcurrent: 20, maxQueue: 20, queueTimeoutMs: 50, codel: { targetMs: 5, intervalMs: 100 }, adaptive: null }
 */
export function normalizeConcurrency(raw: RawConcurrency): Normalized<ConcurrencyConfig> {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const d = CONCURRENCY_DEFAULTS;
  const maxConcurrent = raw.maxConcurrent;
  const maxQueue = raw.maxQueue ?? maxConcurrent;
  const queueTimeoutMs = durationIn(raw.queueTimeout, d.queueTimeoutMs, ['queueTimeout'], 1, 600_000, problems, 'between 1ms and 10m (use `maxQueue: 0` for no waiting)');
  if (maxQueue === 0 && raw.queueTimeout !== undefined) warnings.push({ path: ['queueTimeout'], message: 'ignored: `maxQueue` is 0, requests never wait', at: 'key' });

  let codel: ConcurrencyConfig['codel'] = null;
  if (raw.codel !== false) {
    const c = raw.codel ?? {};
    const targetMs = durationIn(c.target, d.codelTargetMs, ['codel', 'target'], 1, 600_000, problems, 'between 1ms and 10m');
    const intervalMs = durationIn(c.interval, d.codelIntervalMs, ['codel', 'interval'], 1, 600_000, problems, 'between 1ms and 10m');
    if (targetMs >= queueTimeoutMs) {
      if (raw.codel !== undefined) warnings.push({ path: ['codel', 'target'], message: `has no effect: it is not below queueTimeout (${queueTimeoutMs}ms)` });
    } else codel = { targetMs, intervalMs };
  }

  let adaptive: ConcurrencyConfig['adaptive'] = null;
  if (raw.adaptive !== undefined && raw.adaptive !== false) {
    const a = normalizeAdaptive(raw.adaptive, maxConcurrent);
    for (const p of a.problems) problems.push({ ...p, path: ['adaptive', ...p.path] });
    for (const w of a.warnings) warnings.push({ ...w, path: ['adaptive', ...w.path] });
    adaptive = a.config ?? null;
  }
  if (problems.length > 0) return { problems, warnings };
  return { config: { maxConcurrent, maxQueue, queueTimeoutMs, codel, adaptive }, problems, warnings };
}

// ---------------------------------------------------------------------------------------
// overload (top level)

export const OVERLOAD_DEFAULTS = { eventLoopLagMs: 50, criticalEventLoopLagMs: 500, queueWaitMs: 0, holdMs: 1000, retryAfterMs: 1000 } as const;

/** RFC 9110 token: a header name. */
const TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/** The schema of the top-level `overload` key. */
export const OverloadSchema = Strict(
  {
    eventLoopLag: Type.Optional(
      Duration('Event-loop lag (p99 over the last second) at which the gateway starts shedding: `low`-priority requests first, then `normal` ones if that was not enough after `hold`. `0` turns lag-based shedding off.', '50ms'),
    ),
    criticalEventLoopLag: Type.Optional(Duration('Event-loop lag past which `critical` requests are shed too. `0`: never shed them.', '500ms')),
    queueWait: Type.Optional(
      Duration('Mean wait in the routes\' `concurrency` queues over the last second at which the gateway starts shedding (like `eventLoopLag`). `0`: off.', '0'),
    ),
    hold: Type.Optional(Duration('Shortest time at one shedding level before the next step up or down, so that shedding does not flap.', '1s')),
    priorityHeader: Type.Optional(
      Type.Union([Type.String({ pattern: TOKEN }), Type.Literal(false)], {
        default: false,
        description:
          'A request header (such as `x-brisk-priority`) by which a request sets its own priority (`critical`, `normal`, `low`), overriding its route\'s. Only set it when the header comes from something you trust: any client could call itself critical. `false`: routes decide.',
      }),
    ),
    retryAfter: Type.Optional(Duration('`Retry-After` of shed requests, rounded up to whole seconds.', '1s')),
  },
  'Gateway-wide load shedding: when the gateway itself is overloaded, requests are refused at once by priority (503 `BRISK_SHED`) so that the rest are served promptly. Off when the key is absent.',
);

export type RawOverload = Static<typeof OverloadSchema>;

/** The normalised top-level `overload`. */
export interface OverloadConfig {
  /** p99 event-loop lag over the last second that starts shedding; 0: off. */
  readonly eventLoopLagMs: number;
  /** p99 lag past which even `critical` requests are shed; 0: never. */
  readonly criticalEventLoopLagMs: number;
  /** Mean route queue wait over the last second that starts shedding; 0: off. */
  readonly queueWaitMs: number;
  /** Shortest time at one level before the next step. */
  readonly holdMs: number;
  /** Header a request may set its priority with (lower-case), or null. */
  readonly priorityHeader: string | null;
  /** `Retry-After` of refusals, in seconds. */
  readonly retryAfterS: number;
}

/** Normalises a schema-valid `overload` value. */
export function normalizeOverload(raw: RawOverload): Normalized<OverloadConfig> {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const d = OVERLOAD_DEFAULTS;
  const eventLoopLagMs = durationIn(raw.eventLoopLag, d.eventLoopLagMs, ['eventLoopLag'], 0, 60_000, problems, 'at most 1m');
  const criticalEventLoopLagMs = durationIn(raw.criticalEventLoopLag, d.criticalEventLoopLagMs, ['criticalEventLoopLag'], 0, 60_000, problems, 'at most 1m');
  const queueWaitMs = durationIn(raw.queueWait, d.queueWaitMs, ['queueWait'], 0, 600_000, problems, 'at most 10m');
  const holdMs = durationIn(raw.hold, d.holdMs, ['hold'], 100, 600_000, problems, 'between 100ms and 10m');
  const retryAfterS = retryAfterSeconds(raw.retryAfter, d.retryAfterMs, ['retryAfter'], problems);
  if (eventLoopLagMs > 0 && criticalEventLoopLagMs > 0 && criticalEventLoopLagMs <= eventLoopLagMs) {
    problems.push({ path: ['criticalEventLoopLag'], message: `must be above eventLoopLag (${eventLoopLagMs}ms), or 0 to never shed critical requests` });
  }
  if (eventLoopLagMs === 0 && queueWaitMs === 0 && criticalEventLoopLagMs === 0) {
    warnings.push({ path: [], message: 'every signal is off (eventLoopLag, criticalEventLoopLag and queueWait are 0): nothing will be shed' });
  }
  if (problems.length > 0) return { problems, warnings };
  const header = raw.priorityHeader;
  return {
    config: {
      eventLoopLagMs,
      criticalEventLoopLagMs,
      queueWaitMs,
      holdMs,
      priorityHeader: header === undefined || header === false ? null : header.toLowerCase(),
      retryAfterS,
    },
    problems,
    warnings,
  };
}

/** How priorities are written in the config and the header. */
export type PriorityName = 'low' | 'normal' | 'critical';

export const PRIORITY_NAMES: readonly PriorityName[] = ['low', 'normal', 'critical'];
