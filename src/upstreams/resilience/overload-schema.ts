/**
 * Config fragments for the upstream side of overload protection: an upstream's `limits`
 * and `circuitBreaker`, and the `adaptive` block of a route's `concurrency`. Each has its
 * schema (one source for the JSON Schema, the generated docs and the raw TypeScript type)
 * and a normaliser that turns a schema-valid value into the config the runtime object is
 * built from, or into problems with a path relative to the key (`['maxOpenDuration']`),
 * which the lead prefixes (`['upstreams', name, 'circuitBreaker', …]`).
 *
 * @example
 * ```yaml
 * upstreams:
 *   products:
 *     targets: [{ url: http://127.0.0.1:7001 }]
 *     limits: { maxRequests: 512, maxPendingRequests: 128, maxRetries: 3, retryAfter: 1s }
 *     circuitBreaker: { errorThreshold: 50, minimumRequests: 20, window: 10s, openDuration: 5s, maxOpenDuration: 1m, halfOpenRequests: 3 }
 * ```
 */
import { Type, type Static } from '../../config/type-builder.js';
import type { Normalized } from '../../config/normalize-kit.js';
import type { PathProblem, PathSegment } from '../../config/positions.js';
import { MAX_DURATION_MS, durationMs } from '../../config/units.js';
import { Duration, Strict } from '../../config/schema-kit.js';

/** The normalised `circuitBreaker` of an upstream. */
export interface CircuitBreakerConfig {
  /** Share of failed requests (0–1) in the window that opens the breaker. */
  readonly errorRatio: number;
  /** Requests the window must hold before its error rate counts. */
  readonly minimumRequests: number;
  /** Length of the sliding window. */
  readonly windowMs: number;
  /** How long the first opening lasts. */
  readonly openMs: number;
  /** The longest an opening lasts, however often the breaker reopens. */
  readonly maxOpenMs: number;
  /** Probes let through at once in half-open, and successes needed to close. */
  readonly halfOpenRequests: number;
}

/** The normalised `limits` of an upstream. */
export interface UpstreamLimitsConfig {
  /** Requests in flight to the upstream (all targets together). */
  readonly maxRequests: number;
  /** Requests waiting for a pool connection (all targets together). */
  readonly maxPendingRequests: number;
  /** Retries (and hedges) in flight. */
  readonly maxRetries: number;
  /** The `Retry-After` of a refusal, in whole seconds. */
  readonly retryAfterS: number;
}

/** The normalised adaptive-limit settings. */
export interface AdaptiveLimitConfig {
  readonly minLimit: number;
  readonly maxLimit: number;
  readonly initialLimit: number;
  /** How much slower than `minRtt` a window may be before the limit shrinks (≥ 1). */
  readonly tolerance: number;
  /** Weight of each window's target in the new limit (0–1]. */
  readonly smoothing: number;
  /** Shortest window of latency samples. */
  readonly windowMs: number;
  /** Fewest samples a window needs. */
  readonly minSamples: number;
  /** How often `minRtt` is measured afresh; 0: never. */
  readonly minRttRefreshMs: number;
}

/** The defaults (`maxLimit` comes from the route's `maxConcurrent`). */
export const ADAPTIVE_DEFAULTS = {
  minLimit: 4,
  initialLimit: 20,
  tolerance: 1.1,
  smoothing: 0.2,
  windowMs: 100,
  minSamples: 10,
  minRttRefreshMs: 30_000,
} as const;

// The same union the config schema uses, so that the validator's messages and the docs
// generator recognise it as a duration (both compare the pattern).

export type { Normalized } from '../../config/normalize-kit.js';

// ---------------------------------------------------------------------------------------
// limits

export const UPSTREAM_LIMITS_DEFAULTS = { maxRequests: 1024, maxPendingRequests: 1024, maxRetries: 3, retryAfterMs: 1000 } as const;

/** The schema of an upstream's `limits` key. */
export const UpstreamLimitsSchema = Strict(
  {
    maxRequests: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        default: UPSTREAM_LIMITS_DEFAULTS.maxRequests,
        description: 'Most requests in flight to the upstream (all its targets together); past it requests are refused at once with 503 `BRISK_UPSTREAM_OVERLOADED`.',
      }),
    ),
    maxPendingRequests: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: UPSTREAM_LIMITS_DEFAULTS.maxPendingRequests,
        description:
          'Most requests waiting for a connection (every pooled connection to their target busy); past it requests are refused at once with 503 `BRISK_UPSTREAM_OVERLOADED`. `0`: never wait for a connection.',
      }),
    ),
    maxRetries: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: UPSTREAM_LIMITS_DEFAULTS.maxRetries,
        description: 'Most retries and hedges in flight at once; past it a failed try is not retried (the client gets its answer). Works with `retry.budget`, which bounds retries as a share of requests.',
      }),
    ),
    retryAfter: Type.Optional(Duration('`Retry-After` of the refusals, rounded up to whole seconds.', '1s')),
  },
  'Hard limits on what the upstream may have outstanding (as Envoy\'s circuit-breaking thresholds): past them requests are refused at once instead of queueing.',
);

export type RawUpstreamLimits = Static<typeof UpstreamLimitsSchema>;

/**
 * Normalises a schema-valid `limits` value.
 *
 * @example
 * normalizeUpstreamLimits({ maxRequests: 100 }).config
 * // { maxRequests: 100, maxPendingRequests: 1024, maxRetries: 3, retryAfterS: 1 } (with a warning: pending > requests)
 */
export function normalizeUpstreamLimits(raw: RawUpstreamLimits): Normalized<UpstreamLimitsConfig> {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const maxRequests = raw.maxRequests ?? UPSTREAM_LIMITS_DEFAULTS.maxRequests;
  const maxPendingRequests = raw.maxPendingRequests ?? UPSTREAM_LIMITS_DEFAULTS.maxPendingRequests;
  const maxRetries = raw.maxRetries ?? UPSTREAM_LIMITS_DEFAULTS.maxRetries;
  if (raw.maxPendingRequests !== undefined && maxPendingRequests > maxRequests) {
    warnings.push({ path: ['maxPendingRequests'], message: `has no effect above maxRequests (${maxRequests}): a request waiting for a connection is also in flight` });
  }
  const retryAfterS = retryAfterSeconds(raw.retryAfter, UPSTREAM_LIMITS_DEFAULTS.retryAfterMs, ['retryAfter'], problems);
  if (problems.length > 0) return { problems, warnings };
  return { config: { maxRequests, maxPendingRequests: Math.min(maxPendingRequests, maxRequests), maxRetries, retryAfterS }, problems, warnings };
}

// ---------------------------------------------------------------------------------------
// circuitBreaker

export const CIRCUIT_BREAKER_DEFAULTS = { errorThreshold: 50, minimumRequests: 20, windowMs: 10_000, openMs: 5000, maxOpenMs: 60_000, halfOpenRequests: 3 } as const;

/** The schema of an upstream's `circuitBreaker` key. */
export const CircuitBreakerSchema = Strict(
  {
    errorThreshold: Type.Optional(
      Type.Number({
        minimum: 1,
        maximum: 100,
        default: CIRCUIT_BREAKER_DEFAULTS.errorThreshold,
        description: 'Share of failed requests (5xx answers and gateway failures: connect failures, resets, timeouts) in the window that opens the breaker. A percentage, 1–100.',
      }),
    ),
    minimumRequests: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        default: CIRCUIT_BREAKER_DEFAULTS.minimumRequests,
        description: 'Requests the window must hold before its error rate counts, so that two failures out of three do not open it.',
      }),
    ),
    window: Type.Optional(Duration('The sliding window the error rate is measured over (in ten steps).', '10s')),
    openDuration: Type.Optional(Duration('How long the breaker stays open the first time; each reopening after a failed probe doubles it.', '5s')),
    maxOpenDuration: Type.Optional(Duration('The longest the breaker stays open, however often it reopens.', '1m')),
    halfOpenRequests: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: CIRCUIT_BREAKER_DEFAULTS.halfOpenRequests,
        description: 'Probe requests let through at once when the open time is over; this many must succeed to close the breaker, and one failure reopens it.',
      }),
    ),
  },
  'A circuit breaker on the upstream\'s error rate: while open, requests fail at once with 503 `BRISK_CIRCUIT_OPEN` instead of waiting on a failing upstream.',
);

export type RawCircuitBreaker = Static<typeof CircuitBreakerSchema>;

/**
 * Normalises a schema-valid `circuitBreaker` value.
 *
 * @example
 * normalizeCircuitBreaker({ openDuration: '2s' }).config
 * // { errorRatio: 0.5, minimumRequests: 20, windowMs: 10000, openMs: 2000, maxOpenMs: 60000, halfOpenRequests: 3 }
 */
export function normalizeCircuitBreaker(raw: RawCircuitBreaker): Normalized<CircuitBreakerConfig> {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const d = CIRCUIT_BREAKER_DEFAULTS;
  const windowMs = durationIn(raw.window, d.windowMs, ['window'], 10, 3_600_000, problems, 'between 10ms and 1h');
  const openMs = durationIn(raw.openDuration, d.openMs, ['openDuration'], 1, MAX_DURATION_MS, problems, 'at least 1ms');
  const maxOpenMs = durationIn(raw.maxOpenDuration, Math.max(d.maxOpenMs, raw.openDuration === undefined ? 0 : openMs), ['maxOpenDuration'], 1, MAX_DURATION_MS, problems, 'at least 1ms');
  if (problems.length === 0 && maxOpenMs < openMs) problems.push({ path: ['maxOpenDuration'], message: `must not be shorter than openDuration (${openMs}ms)` });
  if (problems.length > 0) return { problems, warnings };
  return {
    config: {
      errorRatio: (raw.errorThreshold ?? d.errorThreshold) / 100,
      minimumRequests: raw.minimumRequests ?? d.minimumRequests,
      windowMs,
      openMs,
      maxOpenMs,
      halfOpenRequests: raw.halfOpenRequests ?? d.halfOpenRequests,
    },
    problems,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------
// adaptive (inside a route's `concurrency`)

/** The schema of `concurrency.adaptive` when it is an object (`true` takes the defaults). */
export const AdaptiveSchema = Strict(
  {
    minLimit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, default: ADAPTIVE_DEFAULTS.minLimit, description: 'The limit never goes below this, however slow the upstream gets.' }),
    ),
    initialLimit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        default: ADAPTIVE_DEFAULTS.initialLimit,
        description: 'The limit to start from (kept between `minLimit` and `maxConcurrent`); it adapts from there within seconds.',
      }),
    ),
    tolerance: Type.Optional(
      Type.Number({
        minimum: 1,
        maximum: 10,
        default: ADAPTIVE_DEFAULTS.tolerance,
        description: 'How much slower than its fastest the upstream may answer before the limit shrinks: `1.1` means 10% slower. Higher lets more requests queue in the upstream.',
      }),
    ),
    smoothing: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        default: ADAPTIVE_DEFAULTS.smoothing,
        description: 'How far each window moves the limit toward its target (0–1]: lower is steadier, higher reacts faster.',
      }),
    ),
    window: Type.Optional(Duration('Latency is averaged over windows of at least this long (and at least `minSamples` requests).', '100ms')),
    minSamples: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: ADAPTIVE_DEFAULTS.minSamples, description: 'Fewest requests a window needs.' })),
    minRttRefresh: Type.Optional(
      Duration(
        'How often the upstream\'s unloaded latency is measured afresh (the limit is halved for about one window to do it), so that a service that became slower for good is not held to its old speed. `0`: never.',
        '30s',
      ),
    ),
  },
  'An adaptive concurrency limit: grows while the upstream answers as fast as it can, shrinks when its latency rises (requests queue in it), between `minLimit` and `maxConcurrent`.',
);

export type RawAdaptive = Static<typeof AdaptiveSchema>;

/**
 * Normalises `concurrency.adaptive` (`true` or an object) for a route whose
 * `maxConcurrent` is `maxLimit`. Paths are relative to `adaptive`.
 */
export function normalizeAdaptive(raw: RawAdaptive | true, maxLimit: number): Normalized<AdaptiveLimitConfig> {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const r: RawAdaptive = raw === true ? {} : raw;
  const d = ADAPTIVE_DEFAULTS;
  const minLimit = r.minLimit ?? Math.min(d.minLimit, maxLimit);
  if (minLimit > maxLimit) problems.push({ path: ['minLimit'], message: `must not be above maxConcurrent (${maxLimit})` });
  let initialLimit = r.initialLimit ?? d.initialLimit;
  if (initialLimit < minLimit || initialLimit > maxLimit) {
    if (r.initialLimit !== undefined) warnings.push({ path: ['initialLimit'], message: `kept between minLimit (${minLimit}) and maxConcurrent (${maxLimit})` });
    initialLimit = Math.min(maxLimit, Math.max(minLimit, initialLimit));
  }
  const windowMs = durationIn(r.window, d.windowMs, ['window'], 10, 60_000, problems, 'between 10ms and 1m');
  let minRttRefreshMs: number = d.minRttRefreshMs;
  if (r.minRttRefresh !== undefined) {
    const ms = durationMs(r.minRttRefresh);
    if (ms === undefined || (ms !== 0 && ms < 1000) || ms > MAX_DURATION_MS) problems.push({ path: ['minRttRefresh'], message: 'must be 0 (never) or at least 1s' });
    else minRttRefreshMs = ms;
  }
  if (problems.length > 0) return { problems, warnings };
  return {
    config: {
      minLimit,
      maxLimit,
      initialLimit,
      tolerance: r.tolerance ?? d.tolerance,
      smoothing: r.smoothing ?? d.smoothing,
      windowMs,
      minSamples: r.minSamples ?? d.minSamples,
      minRttRefreshMs,
    },
    problems,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------
// helpers shared with the shedding fragments

/** A duration in milliseconds within bounds, or the default; a problem when out of bounds. */
export function durationIn(
  value: string | number | undefined,
  def: number,
  path: readonly PathSegment[],
  min: number,
  max: number,
  problems: PathProblem[],
  bounds: string,
): number {
  if (value === undefined) return def;
  const ms = durationMs(value);
  if (ms === undefined || ms < min || ms > max) {
    problems.push({ path, message: `must be ${bounds}` });
    return def;
  }
  return ms;
}

/** A `retryAfter` duration as whole seconds for the header (rounded up; at most 1h). */
export function retryAfterSeconds(value: string | number | undefined, defMs: number, path: readonly PathSegment[], problems: PathProblem[]): number {
  return Math.ceil(durationIn(value, defMs, path, 0, 3_600_000, problems, 'at most 1h') / 1000);
}
