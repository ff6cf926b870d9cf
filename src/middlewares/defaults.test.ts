import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalise } from '../config/normalize.js';
import type { RawConfig } from '../config/schema.js';
import type { Config } from '../config/types.js';
import { formatProblem, parseConfigText } from '../config/load.js';
import { hashSecret } from './auth/index.js';
import { testLogger } from './auth/testing.js';
import { buildPipeline, loadMiddlewares, MiddlewareCache } from './pipeline.js';

const { logger } = testLogger();
const KEY = hashSecret('key-0123456789abcdef', 'sha256');

function config(defaults: Record<string, unknown>, routes: Array<Record<string, unknown>>): Config {
  const raw = {
    listen: [{ address: '127.0.0.1:0' }],
    upstreams: { app: { targets: [{ url: 'http://127.0.0.1:7001' }] } },
    routes: routes.map((r, i) => ({ name: `r${i}`, upstream: 'app', ...r })),
    defaults,
  } as RawConfig;
  const result = normalise(raw, { source: '', baseDir: '/' });
  assert.deepEqual(result.problems, []);
  return result.config!;
}

describe('gateway-wide defaults', () => {
  it('a route without the key takes the default object itself; its own value replaces it; off opts out', () => {
    const c = config({ rateLimit: { limits: [{ rate: 5, per: '1s' }] }, auth: { apiKeys: { keys: [{ name: 'k', hash: KEY }] } } }, [
      {},
      { rateLimit: { limits: [{ rate: 50, per: '1s' }] } },
      { auth: 'off', rateLimit: false },
    ]);
    const [inherits, own, out] = c.routes;
    assert.equal(inherits!.rateLimit, c.defaults!.rateLimit, 'the same (frozen) object: one middleware for every route that takes it');
    assert.deepEqual(inherits!.fromDefaults, ['auth', 'rateLimit']);
    assert.equal(own!.rateLimit!.limits[0]!.rate, 50);
    assert.deepEqual(own!.fromDefaults, ['auth']);
    assert.equal(out!.auth, undefined);
    assert.equal(out!.rateLimit, undefined);
    assert.equal(out!.fromDefaults, undefined);
  });

  it('header edits add up: the defaults under the route\'s own, which win on the same name; off drops them', () => {
    const c = config(
      { responseHeaders: { set: { 'Strict-Transport-Security': 'max-age=63072000', 'X-Frame-Options': 'DENY' }, add: { 'X-Served-By': 'brisk' }, remove: ['server'] } },
      [{}, { responseHeaders: { set: { 'x-frame-options': 'SAMEORIGIN' }, remove: ['x-served-by'] } }, { responseHeaders: 'off' }],
    );
    assert.deepEqual(c.routes[0]!.responseHeaders, { set: { 'strict-transport-security': 'max-age=63072000', 'x-frame-options': 'DENY' }, add: { 'x-served-by': 'brisk' }, remove: ['server'] });
    assert.deepEqual(c.routes[1]!.responseHeaders, { set: { 'strict-transport-security': 'max-age=63072000', 'x-frame-options': 'SAMEORIGIN' }, add: {}, remove: ['server', 'x-served-by'] });
    assert.equal(c.routes[2]!.responseHeaders, undefined);
  });

  it('problems in defaults are placed under defaults.<key>; a default header template may only use ${requestId}', () => {
    const text = `listen: [{ address: "127.0.0.1:0" }]
upstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [{ name: r, upstream: app, auth: off }]
defaults:
  requestHeaders: { set: { x-id: "\${id}", x-req: "\${requestId}" } }
  ipFilter: { deny: ["10.0.0.0/33"] }
`;
    const result = parseConfigText(text, 'd.yaml');
    assert.equal(result.ok, false);
    const lines = result.ok ? [] : result.problems.map(formatProblem);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, /^d\.yaml:5:\d+ {2}defaults\.requestHeaders\.set\.x-id {2}uses "\$\{id\}", but a default applies to every route/);
    assert.match(lines[1]!, /^d\.yaml:6:\d+ {2}defaults\.ipFilter\.deny\.0 {2}/);
  });

  it('off on a route with no default to turn off is a warning', () => {
    const result = parseConfigText(`listen: [{ address: "127.0.0.1:0" }]\nupstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [{ name: r, upstream: app, auth: off }]\n`, 'w.yaml');
    assert.ok(result.ok);
    assert.deepEqual(result.warnings.map(formatProblem), ['w.yaml:3:36  routes.0.auth  `auth: off` has no effect: `defaults` has no auth']);
  });

  it('a gateway-scoped default is one middleware for every route; a route-scoped one (cache) is each route\'s own', async () => {
    const c = config({ rateLimit: { limits: [{ rate: 5, per: '1s' }] }, cache: {} }, [{}, {}, { rateLimit: { limits: [{ rate: 5, per: '1s' }] } }]);
    await loadMiddlewares(c);
    const cache = new MiddlewareCache();
    cache.beginGeneration();
    const [a, b, own] = c.routes.map((r) => buildPipeline(r, { logger }, cache)!);
    const named = (p: readonly { name: string }[], name: string) => p.find((m) => m.name === name);
    assert.equal(named(a!, 'rate-limit'), named(b!, 'rate-limit'), 'one rate limiter, so one bucket per client across routes');
    assert.notEqual(named(own!, 'rate-limit'), named(a!, 'rate-limit'), 'the same limit written on a route is that route\'s own');
    assert.notEqual(named(a!, 'cache'), named(b!, 'cache'), 'each route keeps its own cache store');
    // A reload with the same defaults keeps the shared limiter (and its counters).
    cache.beginGeneration();
    assert.equal(named(buildPipeline(c.routes[1]!, { logger }, cache)!, 'rate-limit'), named(a!, 'rate-limit'));
    cache.closeAll();
  });

  it('rate limits keyed by ip run before auth, the others after it', async () => {
    const c = config({}, [
      {
        auth: { apiKeys: { keys: [{ name: 'k', hash: KEY }] } },
        rateLimit: {
          limits: [
            { name: 'per-ip', rate: 5, per: '1s' },
            { name: 'per-key', rate: 50, per: '1s', key: 'identity' },
            { name: 'route-ip-after', rate: 50, per: '1s', beforeAuth: false },
          ],
        },
        cors: { origins: ['https://a.example'] },
      },
    ]);
    assert.deepEqual(
      c.routes[0]!.rateLimit!.limits.map((l) => [l.name, l.beforeAuth]),
      [
        ['per-ip', true],
        ['per-key', false],
        ['route-ip-after', false],
      ],
    );
    await loadMiddlewares(c);
    const cache = new MiddlewareCache();
    cache.beginGeneration();
    assert.deepEqual(
      buildPipeline(c.routes[0]!, { logger }, cache)!.map((m) => m.name),
      ['cors', 'rate-limit', 'auth', 'rate-limit'],
    );
    cache.closeAll();
  });

  it('beforeAuth cannot count by what auth decides', () => {
    const result = parseConfigText(
      `listen: [{ address: "127.0.0.1:0" }]\nupstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [{ name: r, upstream: app, rateLimit: { limits: [{ rate: 1, per: 1s, key: identity, beforeAuth: true }] } }]\n`,
      'b.yaml',
    );
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(formatProblem(result.problems[0]!), /routes\.0\.rateLimit\.limits\.0\.beforeAuth {2}a limit keyed by identity counts who auth says the client is, so it runs after auth/);
  });
});
