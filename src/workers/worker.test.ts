import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../config/load.js';
import { workerConfig } from './worker.js';

const TEXT = `
listen: [{ address: 127.0.0.1:0 }]
logging: { accessLog: { file: /var/log/brisk/access.log } }
upstreams:
  app:
    targets: [{ url: "http://127.0.0.1:9" }]
    healthCheck: { path: /health }
    limits: { maxRequests: 101, maxPendingRequests: 10, maxRetries: 3 }
    retry: { budget: { minPerSecond: 10 } }
routes:
  - { name: all, match: { pathPrefix: / }, upstream: app, concurrency: { maxConcurrent: 9, maxQueue: 0 } }
`;

test('workerConfig: no health checks, its own access log file, limits partitioned over the workers', () => {
  const parsed = parseConfigText(TEXT, '');
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const c = workerConfig(parsed.config, 2, 2);
  const app = c.upstreams['app']!;
  assert.equal(app.healthCheck, null);
  assert.equal(c.logging.access.file, '/var/log/brisk/access-w2.log');
  assert.deepEqual([app.limits?.maxRequests, app.limits?.maxPendingRequests, app.limits?.maxRetries], [51, 5, 2]);
  assert.equal(app.retry.budgetMinPerSecond, 5);
  assert.deepEqual([c.routes[0]!.concurrency?.maxConcurrent, c.routes[0]!.concurrency?.maxQueue], [5, 0]);
  // One worker: the limits as written.
  const one = workerConfig(parsed.config, 1, 1);
  assert.equal(one.upstreams['app']!.limits?.maxRequests, 101);
  assert.equal(one.routes[0]!.concurrency?.maxConcurrent, 9);
});
