import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigCheck } from '../../config/normalize-kit.js';
import { expectProblem, expectProblems as problems, expectValid as ok, MINIMAL_CONFIG as BASE, where } from '../../config/testing.js';
import { UPSTREAM_DEFAULTS } from './defaults.js';
import { normalizeRetry, normalizeUpstream } from './normalize.js';

// Upstreams through the whole loader, so that problems are checked with their file positions.

describe('upstream configuration', () => {
  test('target URLs that do not parse or carry a query or credentials', () => {
    const text = BASE.replace(
      '      - url: http://127.0.0.1:7001\n',
      '      - url: "http://"\n      - url: http://127.0.0.1:7001/?a=1\n      - url: http://u:p@127.0.0.1:7001\n',
    );
    const list = problems(text);
    expectProblem(list, 'upstreams.products.targets.0.url', 'invalid URL "http://"', where(text, '"http://"'));
    expectProblem(list, 'upstreams.products.targets.1.url', 'a target URL may not have a query string or fragment', where(text, 'http://127.0.0.1:7001/?a=1'));
    expectProblem(list, 'upstreams.products.targets.2.url', /^credentials in a target URL are not supported/, where(text, 'http://u:p@'));
  });

  test('the consistent-hash balancer needs a hash key, and a header or cookie source needs a name', () => {
    const missing = BASE.replace('    targets:', '    balancer: consistent-hash\n    targets:');
    expectProblem(problems(missing), 'upstreams.products.balancer', /^the consistent-hash balancer needs a `hash` key/, where(missing, 'consistent-hash'));
    const nameless = BASE.replace('    targets:', '    balancer: consistent-hash\n    hash: { source: cookie }\n    targets:');
    expectProblem(problems(nameless), 'upstreams.products.hash.source', 'hash.source cookie needs hash.name (the cookie to hash on)', where(nameless, 'cookie }'));
  });

  test('a hash key on another balancer is a warning; a header name is lower-cased', () => {
    const text = BASE.replace('    targets:', '    hash: { source: header, name: X-User }\n    targets:');
    const { config, warnings } = ok(text);
    assert.deepEqual(
      warnings.map((w) => [w.path, w.message]),
      [['upstreams.products.hash', 'hash is only used by the consistent-hash balancer; this upstream uses p2c-ewma']],
    );
    assert.deepEqual(config.upstreams['products']?.hash, { source: 'header', name: 'x-user', algorithm: 'ring', boundedLoad: 1.25 });
  });

  test('pool.transport: lean or undici, kept only when set; anything else is refused with the choices', () => {
    const lean = BASE.replace('    targets:', '    pool: { transport: lean }\n    targets:');
    assert.equal(ok(lean).config.upstreams['products']?.pool.transport, 'lean');
    assert.equal(ok(BASE).config.upstreams['products']?.pool.transport, undefined);
    const typo = BASE.replace('    targets:', '    pool: { transport: leen }\n    targets:');
    expectProblem(problems(typo), 'upstreams.products.pool.transport', /expected one of "undici", "lean".*did you mean "lean"/, where(typo, 'leen'));
  });

  test('health checks: probe interval, status ranges and a body to search', () => {
    const text = BASE.replace('    targets:', '    healthCheck: { interval: 10ms, expectedStatus: "200, 300-200", method: HEAD, bodyContains: ok }\n    targets:');
    const list = problems(text);
    expectProblem(list, 'upstreams.products.healthCheck.interval', 'a health check interval under 50ms would flood the targets', where(text, '10ms'));
    expectProblem(list, 'upstreams.products.healthCheck.expectedStatus', 'invalid status range 300-200; statuses are 100-599, low before high', where(text, '"200, 300-200"'));
    expectProblem(list, 'upstreams.products.healthCheck.bodyContains', /^a HEAD probe gets no body to search/, where(text, 'bodyContains'));
  });

  test('outlier detection: the longest ejection is not shorter than the first', () => {
    const text = BASE.replace('    targets:', '    outlierDetection: { baseEjectionTime: 10s, maxEjectionTime: 5s }\n    targets:');
    expectProblem(problems(text), 'upstreams.products.outlierDetection.maxEjectionTime', 'maxEjectionTime must not be shorter than baseEjectionTime', where(text, '5s'));
  });

  test('defaults come from the schema, percentages become ratios', () => {
    const check = new ConfigCheck({ source: '', baseDir: '/' });
    const upstream = normalizeUpstream(check, 'api', { targets: [{ url: 'http://127.0.0.1:1/' }], panicThreshold: 25, healthCheck: { jitter: 5 } });
    assert.deepEqual(check.problems, []);
    assert.equal(upstream.panicThreshold, 0.25);
    assert.equal(upstream.healthCheck?.jitter, 0.05);
    assert.equal(upstream.healthCheck?.intervalMs, 2000);
    assert.deepEqual(upstream.healthCheck?.expectedStatus, [[200, 399]]);
    assert.deepEqual(upstream.timeouts, { connectMs: 5000, responseMs: 30_000, idleMs: 60_000, totalMs: 0 });
    assert.deepEqual(upstream.retry, UPSTREAM_DEFAULTS.retry);
    assert.deepEqual(upstream.outlierDetection, { consecutive5xx: 5, consecutiveGatewayFailures: 3, failureRate: null, baseEjectionMs: 5000, maxEjectionMs: 300_000, maxEjectionRatio: 0.5 });
  });

  test('a retry block overrides its base key by key; problems carry the path given', () => {
    const check = new ConfigCheck({ source: '', baseDir: '/' });
    const base = { ...UPSTREAM_DEFAULTS.retry, attempts: 4 };
    const retry = normalizeRetry(check, ['routes', 0, 'retry'], { statuses: [503, 503, 502], budget: { ratio: 10 }, perTryTimeout: '1000h' }, base);
    assert.equal(retry.attempts, 4, 'kept from the base');
    assert.deepEqual(retry.statuses, [503, 502]);
    assert.equal(retry.budgetRatio, 0.1);
    assert.deepEqual(check.problems, [{ path: ['routes', 0, 'retry', 'perTryTimeout'], message: 'duration "1000h" is too long; the longest is 24 days ("576h")', at: 'value' }]);
  });

  test('HTTP/2 and gRPC keys: h2c:// targets, http2, grpc health checks, retried gRPC statuses', () => {
    const text = `listen:
  - address: 127.0.0.1:0
    h2c: true
upstreams:
  grpc:
    targets:
      - url: h2c://10.0.0.7:50051
      - url: h2c://[::1]:50052/base/
    http2: on
    healthCheck: { type: grpc, service: helloworld.Greeter }
    retry: { grpcStatuses: [UNAVAILABLE, RESOURCE_EXHAUSTED, UNAVAILABLE] }
  plain:
    targets: [{ url: "http://10.0.0.8:80" }]
    http2: on
routes:
  - { name: g, match: { grpc: helloworld.Greeter/SayHello }, upstream: grpc, idempotent: true }
  - { name: s, match: { grpc: helloworld.Greeter }, upstream: grpc }
  - { name: p, upstream: plain }
`;
    const { config, warnings } = ok(text);
    const up = config.upstreams['grpc']!;
    assert.deepEqual(up.targets.map((t) => [t.origin, t.basePath]), [['h2c://10.0.0.7:50051', ''], ['h2c://[::1]:50052', '/base']]);
    assert.equal(up.http2, 'on');
    assert.equal(up.healthCheck?.type, 'grpc');
    assert.equal(up.healthCheck?.service, 'helloworld.Greeter');
    assert.deepEqual(up.retry.grpcStatuses, [14, 8]);
    assert.deepEqual(UPSTREAM_DEFAULTS.retry.grpcStatuses, [14], 'UNAVAILABLE by default');
    assert.equal(config.listen[0]!.h2c, true);
    const [g, s] = config.routes;
    assert.deepEqual({ path: g!.match.path, methods: g!.match.methods, idempotent: g!.idempotent }, { path: '/helloworld.Greeter/SayHello', methods: ['POST'], idempotent: true });
    assert.equal(s!.match.pathPrefix, '/helloworld.Greeter');
    assert.ok(s!.match.headers['content-type']?.regex !== undefined, 'a gRPC content type is required');
    assert.deepEqual(
      warnings.map((w) => w.path),
      ['upstreams.plain.http2'],
      'http2: on with an http:// target is almost surely meant as h2c://',
    );
  });

  test('HTTP/2 and gRPC mistakes are placed at their key', () => {
    const schema = `listen:
  - address: 127.0.0.1:0
upstreams:
  b:
    targets: [{ url: "ftp://x" }]
routes:
  - { name: b, match: { grpc: "pkg.S/M/extra" }, upstream: b }
`;
    const early = problems(schema);
    expectProblem(early, 'upstreams.b.targets.0.url', 'must start with http://, https:// or h2c:// (HTTP/2 without TLS); got "ftp://x"', where(schema, '"ftp://x"'));
    expectProblem(early, 'routes.0.match.grpc', 'must be a gRPC service (`package.Service`) or method (`package.Service/Method`); got "pkg.S/M/extra"', where(schema, '"pkg.S/M/extra"'));
    const text = `listen:
  - address: 127.0.0.1:0
upstreams:
  a:
    targets: [{ url: "h2c://" }]
    healthCheck: { type: grpc, path: /healthz }
  b:
    targets: [{ url: "h2c://10.0.0.1:5" }]
    healthCheck: { service: x }
routes:
  - { name: a, match: { grpc: pkg.S, pathPrefix: /x }, upstream: a }
  - { name: b, upstream: b }
`;
    const list = problems(text);
    expectProblem(list, 'upstreams.a.targets.0.url', 'an h2c:// target URL needs a host: h2c://10.0.0.7:50051', where(text, '"h2c://"'));
    expectProblem(list, 'upstreams.a.healthCheck.path', 'a grpc health check asks grpc.health.v1.Health/Check and expects SERVING; path does not apply', where(text, 'path'));
    expectProblem(list, 'upstreams.b.healthCheck.service', 'service names the gRPC service a type: grpc check asks about; set type: grpc or drop it', where(text, 'service'));
    expectProblem(list, 'routes.0.match.pathPrefix', 'match.grpc names the path (/pkg.S/…); drop pathPrefix', where(text, 'pathPrefix'));
  });
});
