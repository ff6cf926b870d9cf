import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import {
  AdaptiveSchema,
  CircuitBreakerSchema,
  normalizeAdaptive,
  normalizeCircuitBreaker,
  normalizeUpstreamLimits,
  UpstreamLimitsSchema,
} from './overload-schema.js';

/** The config validator's settings: strict, so that a fragment with a bad keyword fails here first. */
const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });

describe('upstream overload config fragments', () => {
  it('compile as strict JSON Schema and accept the documented examples', () => {
    const limits = ajv.compile(UpstreamLimitsSchema);
    const breaker = ajv.compile(CircuitBreakerSchema);
    const adaptive = ajv.compile(AdaptiveSchema);
    assert.equal(limits({ maxRequests: 512, maxPendingRequests: 128, maxRetries: 3, retryAfter: '1s' }), true);
    assert.equal(breaker({ errorThreshold: 50, minimumRequests: 20, window: '10s', openDuration: '5s', maxOpenDuration: '1m', halfOpenRequests: 3 }), true);
    assert.equal(adaptive({ minLimit: 2, tolerance: 1.5, smoothing: 0.5, window: '200ms', minRttRefresh: 0 }), true);
    assert.equal(limits({ maxRequest: 1 }), false, 'unknown keys are refused');
    assert.equal(breaker({ errorThreshold: 0 }), false);
    assert.equal(adaptive({ smoothing: 0 }), false);
    assert.equal(adaptive({ tolerance: 0.9 }), false);
  });

  it('limits: defaults, and maxPendingRequests above maxRequests is capped with a warning', () => {
    assert.deepEqual(normalizeUpstreamLimits({}).config, { maxRequests: 1024, maxPendingRequests: 1024, maxRetries: 3, retryAfterS: 1 });
    const r = normalizeUpstreamLimits({ maxRequests: 100, maxPendingRequests: 500, retryAfter: '1500ms' });
    assert.deepEqual(r.config, { maxRequests: 100, maxPendingRequests: 100, maxRetries: 3, retryAfterS: 2 });
    assert.deepEqual(r.warnings.map((w) => w.path), [['maxPendingRequests']]);
    const bad = normalizeUpstreamLimits({ retryAfter: '2h' });
    assert.equal(bad.config, undefined);
    assert.deepEqual(bad.problems, [{ path: ['retryAfter'], message: 'must be at most 1h' }]);
  });

  it('circuitBreaker: defaults, percent to ratio, and maxOpenDuration not below openDuration', () => {
    assert.deepEqual(normalizeCircuitBreaker({}).config, { errorRatio: 0.5, minimumRequests: 20, windowMs: 10_000, openMs: 5000, maxOpenMs: 60_000, halfOpenRequests: 3 });
    assert.equal(normalizeCircuitBreaker({ errorThreshold: 25 }).config!.errorRatio, 0.25);
    // A long first opening raises the default cap with it.
    assert.equal(normalizeCircuitBreaker({ openDuration: '2m' }).config!.maxOpenMs, 120_000);
    const bad = normalizeCircuitBreaker({ openDuration: '10s', maxOpenDuration: '5s' });
    assert.deepEqual(bad.problems, [{ path: ['maxOpenDuration'], message: 'must not be shorter than openDuration (10000ms)' }]);
    assert.deepEqual(normalizeCircuitBreaker({ window: '5ms' }).problems.map((p) => p.path), [['window']]);
  });

  it('adaptive: `true` takes the defaults under maxConcurrent; limits out of range are reported', () => {
    assert.deepEqual(normalizeAdaptive(true, 100).config, {
      minLimit: 4,
      maxLimit: 100,
      initialLimit: 20,
      tolerance: 1.1,
      smoothing: 0.2,
      windowMs: 100,
      minSamples: 10,
      minRttRefreshMs: 30_000,
    });
    // A small maxConcurrent pulls the defaults down with it.
    const small = normalizeAdaptive(true, 3).config!;
    assert.deepEqual([small.minLimit, small.initialLimit, small.maxLimit], [3, 3, 3]);
    assert.deepEqual(normalizeAdaptive({ minLimit: 50 }, 10).problems, [{ path: ['minLimit'], message: 'must not be above maxConcurrent (10)' }]);
    const w = normalizeAdaptive({ initialLimit: 500 }, 100);
    assert.equal(w.config!.initialLimit, 100);
    assert.deepEqual(w.warnings.map((x) => x.path), [['initialLimit']]);
    assert.deepEqual(normalizeAdaptive({ minRttRefresh: '10ms' }, 10).problems.map((p) => p.path), [['minRttRefresh']]);
    assert.equal(normalizeAdaptive({ minRttRefresh: 0 }, 10).config!.minRttRefreshMs, 0);
  });
});
