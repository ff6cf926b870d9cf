import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { expectProblems, expectValid, MINIMAL_CONFIG } from './testing.js';

const BASE = MINIMAL_CONFIG;
const ok = (text: string) => expectValid(text, 'conf/test.yaml');
const problemPaths = (text: string): string[] => expectProblems(text).map((p) => p.path);

describe('logging.accessLog', () => {
  test('true and false keep working, with stdout defaults', () => {
    for (const v of [true, false]) {
      const { config } = ok(`${BASE}logging:\n  accessLog: ${v}\n`);
      assert.equal(config.logging.accessLog, v);
      assert.deepEqual(config.logging.access, { file: null, maxSize: 100 * 1024 * 1024, maxFiles: 10, daily: false, sampleSuccesses: 1 });
    }
  });

  test('an object: a file relative to the config file, rotation and sampling', () => {
    const { config } = ok(`${BASE}logging:\n  accessLog:\n    file: logs/access.log\n    rotate: { maxSize: 10mb, maxFiles: 3, daily: true }\n    sample: { successes: 0.25 }\n`);
    assert.equal(config.logging.accessLog, true);
    assert.deepEqual(config.logging.access, { file: resolve(dirname(resolve('conf/test.yaml')), 'logs/access.log'), maxSize: 10 * 1024 * 1024, maxFiles: 3, daily: true, sampleSuccesses: 0.25 });
  });

  test('bad values are reported at their key', () => {
    assert.deepEqual(problemPaths(`${BASE}logging:\n  accessLog:\n    sample: { successes: 2 }\n`), ['logging.accessLog.sample.successes']);
    assert.ok(problemPaths(`${BASE}logging:\n  accessLog:\n    rotate: { maxFiles: 0 }\n`).some((p) => p.startsWith('logging.accessLog')));
  });
});

describe('tracing', () => {
  test('defaults: propagate, sample everything, no export', () => {
    assert.deepEqual(ok(BASE).config.tracing, { propagate: true, sampleRatio: 1, serviceName: 'brisk', otlp: null });
  });

  test('otlp: a bare origin gets /v1/traces, a full URL is kept; durations normalised', () => {
    const { config } = ok(`${BASE}tracing:\n  sampleRatio: 0.5\n  otlp:\n    endpoint: http://collector:4318\n    headers: { x-api-key: k }\n    timeout: 2s\n`);
    assert.deepEqual(config.tracing, {
      propagate: true,
      sampleRatio: 0.5,
      serviceName: 'brisk',
      otlp: { url: 'http://collector:4318/v1/traces', headers: { 'x-api-key': 'k' }, timeoutMs: 2000, batchSize: 512, intervalMs: 2000, maxQueue: 4096 },
    });
    assert.equal(ok(`${BASE}tracing:\n  otlp:\n    endpoint: https://otlp.example.com/api/traces\n`).config.tracing.otlp?.url, 'https://otlp.example.com/api/traces');
  });

  test('export without propagation is warned about; bad values are refused', () => {
    const { warnings } = ok(`${BASE}tracing:\n  propagate: false\n  otlp:\n    endpoint: http://collector:4318\n`);
    assert.deepEqual(warnings.map((w) => w.path), ['tracing.otlp']);
    assert.deepEqual(problemPaths(`${BASE}tracing:\n  sampleRatio: 1.5\n`), ['tracing.sampleRatio']);
    assert.ok(problemPaths(`${BASE}tracing:\n  otlp:\n    endpoint: collector:4318\n`).includes('tracing.otlp.endpoint'));
  });
});
