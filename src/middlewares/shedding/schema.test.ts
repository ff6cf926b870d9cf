import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parsePriority, Priority, requestPriority } from './priority.js';
import { ConcurrencySchema, normalizeConcurrency, normalizeOverload, normalizePriority, OverloadSchema, PrioritySchema } from './schema.js';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });

describe('shedding config fragments', () => {
  it('compile as strict JSON Schema and accept the documented examples', () => {
    const concurrency = ajv.compile(ConcurrencySchema);
    const overload = ajv.compile(OverloadSchema);
    const priority = ajv.compile(PrioritySchema);
    assert.equal(concurrency({ maxConcurrent: 20, maxQueue: 20, queueTimeout: '50ms' }), true);
    assert.equal(concurrency({ maxConcurrent: 100, adaptive: true, codel: false }), true);
    assert.equal(concurrency({ maxConcurrent: 100, adaptive: { minLimit: 5 }, codel: { target: '10ms' } }), true);
    assert.equal(concurrency({ maxQueue: 20 }), false, 'maxConcurrent is required');
    assert.equal(concurrency({ maxConcurrent: 0 }), false);
    assert.equal(overload({ eventLoopLag: '50ms', criticalEventLoopLag: '500ms', priorityHeader: 'x-brisk-priority' }), true);
    assert.equal(overload({ priorityHeader: 'not a header' }), false);
    assert.equal(priority('critical'), true);
    assert.equal(priority('urgent'), false);
  });

  it('concurrency: maxQueue defaults to maxConcurrent, CoDel is on by default', () => {
    assert.deepEqual(normalizeConcurrency({ maxConcurrent: 20, maxQueue: 20, queueTimeout: '50ms' }).config, {
      maxConcurrent: 20,
      maxQueue: 20,
      queueTimeoutMs: 50,
      codel: { targetMs: 5, intervalMs: 100 },
      adaptive: null,
    });
    const d = normalizeConcurrency({ maxConcurrent: 8 }).config!;
    assert.deepEqual([d.maxQueue, d.queueTimeoutMs], [8, 500]);
    assert.equal(normalizeConcurrency({ maxConcurrent: 8, codel: false }).config!.codel, null);
  });

  it('concurrency: CoDel with a target not below queueTimeout is off, with a warning when set explicitly', () => {
    assert.equal(normalizeConcurrency({ maxConcurrent: 8, queueTimeout: '3ms' }).config!.codel, null);
    assert.deepEqual(normalizeConcurrency({ maxConcurrent: 8, queueTimeout: '3ms' }).warnings, []);
    const r = normalizeConcurrency({ maxConcurrent: 8, queueTimeout: '10ms', codel: { target: '20ms' } });
    assert.equal(r.config!.codel, null);
    assert.deepEqual(r.warnings.map((w) => w.path), [['codel', 'target']]);
  });

  it('concurrency: adaptive problems carry their path under adaptive', () => {
    const r = normalizeConcurrency({ maxConcurrent: 8, adaptive: { minLimit: 20 } });
    assert.equal(r.config, undefined);
    assert.deepEqual(r.problems.map((p) => p.path), [['adaptive', 'minLimit']]);
    assert.equal(normalizeConcurrency({ maxConcurrent: 8, adaptive: true }).config!.adaptive!.maxLimit, 8);
    assert.equal(normalizeConcurrency({ maxConcurrent: 8, adaptive: false }).config!.adaptive, null);
  });

  it('concurrency: queueTimeout 0 is refused, and ignored when nothing waits', () => {
    assert.deepEqual(normalizeConcurrency({ maxConcurrent: 8, queueTimeout: 0 }).problems.map((p) => p.path), [['queueTimeout']]);
    assert.deepEqual(normalizeConcurrency({ maxConcurrent: 8, maxQueue: 0, queueTimeout: '1s' }).warnings.map((p) => p.path), [['queueTimeout']]);
  });

  it('overload: defaults, lower-cased header, critical threshold above the first', () => {
    assert.deepEqual(normalizeOverload({}).config, { eventLoopLagMs: 50, criticalEventLoopLagMs: 500, queueWaitMs: 0, holdMs: 1000, priorityHeader: null, retryAfterS: 1 });
    assert.equal(normalizeOverload({ priorityHeader: 'X-Brisk-Priority' }).config!.priorityHeader, 'x-brisk-priority');
    assert.equal(normalizeOverload({ priorityHeader: false }).config!.priorityHeader, null);
    assert.deepEqual(normalizeOverload({ eventLoopLag: '100ms', criticalEventLoopLag: '80ms' }).problems.map((p) => p.path), [['criticalEventLoopLag']]);
    assert.equal(normalizeOverload({ eventLoopLag: '100ms', criticalEventLoopLag: 0 }).config!.criticalEventLoopLagMs, 0);
    assert.equal(normalizeOverload({ eventLoopLag: 0, criticalEventLoopLag: 0 }).warnings.length, 1);
    assert.deepEqual(normalizeOverload({ hold: '10ms' }).problems.map((p) => p.path), [['hold']]);
  });

  it('priority: normal by default', () => {
    assert.equal(normalizePriority(undefined), 'normal');
    assert.equal(normalizePriority('low'), 'low');
  });
});

describe('priorities', () => {
  it('parse case-insensitively and ignore unknown values', () => {
    assert.equal(parsePriority('CRITICAL'), Priority.Critical);
    assert.equal(parsePriority(' low '), Priority.Low);
    assert.equal(parsePriority('normal'), Priority.Normal);
    assert.equal(parsePriority('urgent'), null);
    assert.ok(Priority.Low < Priority.Normal && Priority.Normal < Priority.Critical);
  });

  it('come from the header only when a header name is given, else from the route', () => {
    const h = ['Host', 'x', 'X-Brisk-Priority', 'critical'];
    assert.equal(requestPriority(h, Priority.Low, 'x-brisk-priority'), Priority.Critical);
    assert.equal(requestPriority(h, Priority.Low, null), Priority.Low);
    assert.equal(requestPriority(['x-brisk-priority', 'bogus'], Priority.Normal, 'x-brisk-priority'), Priority.Normal);
    assert.equal(requestPriority([], Priority.Normal, 'x-brisk-priority'), Priority.Normal);
  });
});
