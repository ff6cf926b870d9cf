import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblem } from '../../config/load.js';
import { expectProblem, expectProblems, expectValid, where } from '../../config/testing.js';

const HEAD = `listen:
  - address: 127.0.0.1:0
upstreams:
  products:
    healthCheck: { path: /healthz, interval: 1s }
routes:
  - name: products
    upstream: products
`;

describe('services config', () => {
  it('normalises a service: argv or shell string, cwd from the config file, instances, restart and scale defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'brisk-svc-'));
    const file = join(dir, 'brisk.yaml');
    const text = `${HEAD}services:
  products:
    command: node server.mjs --port "$PORT"
    cwd: .
    env: { LOG_LEVEL: info }
    instances: { min: 2, max: 6 }
    upstream: products
    restart:
      unhealthyFor: 5s
      slow: { p99: 800ms, for: 30s }
      maxMemory: 512mb
    scale:
      targetInFlight: 8
      scaleDownAfter: 60s
`;
    writeFileSync(file, text);
    const { config } = expectValid(text, file);
    const s = config.services!['products']!;
    assert.deepEqual(s.command, { argv: ['/bin/sh', '-c', 'node server.mjs --port "$PORT"'], shell: true });
    assert.equal(s.cwd, dir);
    assert.deepEqual([s.min, s.max, s.upstream], [2, 6, 'products']);
    assert.deepEqual(s.env, { LOG_LEVEL: 'info' });
    assert.equal(s.restart.unhealthyForMs, 5000);
    assert.deepEqual(s.restart.slow, { p99Ms: 800, windowS: 30, minRequests: 5 });
    assert.equal(s.restart.maxMemoryBytes, 512 * 1024 * 1024);
    assert.deepEqual(s.restart.budget, { restarts: 5, windowMs: 60_000 });
    assert.equal(s.readyTimeoutMs, 30_000);
    assert.equal(s.stopTimeoutMs, 10_000);
    assert.equal(s.drainTimeoutMs, null, "the upstream's drainTimeout");
    assert.deepEqual({ ...s.scale!, command: null }, { targetInFlight: 8, targetP95Ms: null, targetCpuPercent: null, tolerance: 0.1, windowMs: 10_000, upAfterMs: 0, downAfterMs: 60_000, command: null, commandTimeoutMs: 60_000 });
    assert.equal(config.upstreams['products']!.targets.length, 0, 'the upstream may leave targets out: the service provides them');
  });

  it('takes an argv and a fixed count', () => {
    const { config } = expectValid(`${HEAD}services:\n  products: { command: [node, server.mjs], instances: 3, upstream: products }\n`);
    const s = config.services!['products']!;
    assert.deepEqual(s.command, { argv: ['node', 'server.mjs'], shell: false });
    assert.deepEqual([s.min, s.max, s.scale], [3, 3, null]);
  });

  it('reports each mistake at its place, with the fix', () => {
    const text = `listen:
  - address: 127.0.0.1:0
upstreams:
  products:
    healthCheck: { path: /healthz }
  plain:
    targets: [{ url: http://127.0.0.1:7001 }]
  ready:
    healthCheck: { path: /healthz, initiallyHealthy: true }
  empty:
    retry: { attempts: 1 }
routes:
  - { name: a, upstream: products }
  - { name: b, upstream: plain }
  - { name: c, upstream: ready }
  - { name: d, upstream: empty }
services:
  nothing: { upstream: products }
  twice: { command: [node, x.mjs], upstream: products }
  unchecked: { command: [node, x.mjs], upstream: plain }
  eager: { command: [node, x.mjs], upstream: ready }
  typo: { command: [node, x.mjs], upstream: prodcts, instances: { min: 3, max: 2 } }
  lost: { command: [node, x.mjs], upstream: products, cwd: ./no/such/dir, scale: { scaleDownAfter: 1m } }
alerts:
  rules:
    - { name: r, expr: "host_cpu > 90%", actions: [{ restart: nope }, { scale: twice }] }
`;
    const list = expectProblems(text);
    expectProblem(list, 'services.nothing', /has no `command`: say what to run/, where(text, 'nothing'));
    expectProblem(list, 'services.unchecked.upstream', /upstream "plain" has no healthCheck; a supervised service needs one/, where(text, 'plain }', 2));
    expectProblem(list, 'services.eager.upstream', /initiallyHealthy: true, which would send traffic to an instance before it is ready/, where(text, 'ready }', 2));
    expectProblem(list, 'services.typo.upstream', 'unknown upstream "prodcts"; declare it under upstreams (with a healthCheck); did you mean "products"?', where(text, 'prodcts'));
    expectProblem(list, 'services.typo.instances.max', 'max (2) is below min (3)', where(text, '2 }'));
    expectProblem(list, 'services.lost.cwd', /^cwd not found: .*no\/such\/dir \(relative paths start at the config file's directory\)$/, where(text, './no/such/dir'));
    expectProblem(list, 'services.lost.scale', /autoscaling needs a target: targetInFlight/, where(text, 'scale:', 1));
    expectProblem(list, 'services.lost.upstream', /already bound to service "nothing"/, where(text, 'products, cwd'));
    expectProblem(list, 'upstreams.empty', /has no targets: list them under targets, find them with discovery, or bind a service Brisk runs to it/, where(text, 'empty:'));
    expectProblem(list, 'alerts.rules.0.actions.0.restart', /unknown service "nope", not declared under services/, where(text, 'nope'));
    expectProblem(list, 'alerts.rules.0.actions.1', /a `scale` action has exactly one of `by`/, where(text, '{ scale: twice }'));
    assert.ok(list.some((p) => p.path === 'services.twice.upstream' && /already bound/.test(p.message)), list.map(formatProblem).join('\n'));
  });

  it('warns about a tcp health check, which cannot see a hang', () => {
    const text = HEAD.replace('healthCheck: { path: /healthz, interval: 1s }', 'healthCheck: { type: tcp }');
    const { warnings } = expectValid(`${text}services:\n  products: { command: [node, x.mjs], upstream: products }\n`);
    assert.ok(warnings.some((w) => w.path === 'services.products.upstream' && /tcp health check: it sees an instance start, not hang/.test(w.message)));
  });

  it('warns when the program cannot be found, but loads', () => {
    const { warnings } = expectValid(`${HEAD}services:\n  products: { command: [no-such-program-brisk], upstream: products }\n`);
    assert.ok(warnings.some((w) => w.path === 'services.products.command' && /program "no-such-program-brisk" is not found on PATH/.test(w.message)));
  });
  it('register.redis: a redis:// URL, or the connection keys of every Redis (Sentinel too)', () => {
    const svc = (redis: string) => `${HEAD}services:\n  products:\n    command: [node, server.mjs]\n    upstream: products\n    register: { redis: ${redis} }\n`;
    assert.deepEqual(expectValid(svc('"redis://127.0.0.1:6379/1"')).config.services!['products']!.register!.redis, { kind: 'url', url: 'redis://127.0.0.1:6379/1' });
    assert.deepEqual(expectValid(svc('{ url: "redis://127.0.0.1:6379" }')).config.services!['products']!.register!.redis, { kind: 'url', url: 'redis://127.0.0.1:6379' });
    const sentinel = expectValid(svc('{ sentinels: ["127.0.0.1:26379"], name: brisk }')).config.services!['products']!.register!.redis;
    assert.equal(sentinel.kind, 'sentinel');
    assert.deepEqual(sentinel.kind === 'sentinel' && [sentinel.name, sentinel.sentinels], ['brisk', [{ host: '127.0.0.1', port: 26379 }]]);
    const noName = expectProblems(svc('{ sentinels: ["127.0.0.1:26379"] }'));
    assert.ok(noName.some((p) => p.path === 'services.products.register.redis.sentinels' && /needs `name`/.test(p.message)), noName.map(formatProblem).join('\n'));
    const badPath = expectProblems(svc('"redis://127.0.0.1:6379/x"'));
    assert.ok(badPath.some((p) => p.path === 'services.products.register.redis' && /database number/.test(p.message)), badPath.map(formatProblem).join('\n'));
  });
});
