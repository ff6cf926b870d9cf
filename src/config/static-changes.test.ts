import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staticChanges } from './static-changes.js';
import { expectValid, MINIMAL_CONFIG } from './testing.js';

const load = (extra: string, base = MINIMAL_CONFIG) => expectValid(base + extra).config;

test('staticChanges: none for live sections, each static key by its path in the file', () => {
  const started = load('');
  assert.deepEqual(staticChanges(started, started), []);
  // Live: routes, upstreams, proxy, log level, access log, tracing, limits.maxBodySize.
  const live = load('    maxBodySize: 1mb\nproxy: { via: false }\nlogging: { level: debug, accessLog: true }\nlimits: { maxBodySize: 2mb }\n', MINIMAL_CONFIG.replace('7001', '7002'));
  assert.deepEqual(staticChanges(started, live), []);
  assert.deepEqual(staticChanges(started, load('', MINIMAL_CONFIG.replace('127.0.0.1:0', '127.0.0.1:8080'))), ['listen']);
  assert.deepEqual(staticChanges(started, load('admin: { address: "127.0.0.1:9901" }\n')), ['admin']);
  assert.deepEqual(
    staticChanges(started, load('limits: { maxHeaderSize: 8kb, maxHeaderCount: 50, headersTimeout: 1s, requestTimeout: 5s, keepAliveTimeout: 1s }\nlogging: { format: json }\nmetrics: { enabled: false }\n')),
    ['limits.maxHeaderSize', 'limits.maxHeaderCount', 'limits.headersTimeout', 'limits.requestTimeout', 'limits.keepAliveTimeout', 'logging.format', 'metrics.enabled'],
  );
  // Writing a default out is no change.
  assert.deepEqual(staticChanges(started, load('limits: { maxHeaderSize: 16kb }\nmetrics: { enabled: true }\n')), []);
});
