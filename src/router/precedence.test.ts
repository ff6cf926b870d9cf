import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { candidateOrder, compileRouter } from './index.js';
import type { RouteConfig } from '../config/types.js';
import { hit, route, winner, type Req } from './testing.js';

describe('precedence', () => {
  // Each row: the routes (in file order), the request, the expected winner. Rows check one
  // rule each, the routes written so that file order alone would pick the wrong one.
  const rows: { title: string; routes: RouteConfig[]; req: Req; want: string }[] = [
    {
      title: 'exact host beats wildcard beats any host',
      routes: [route('any', { path: '/x' }), route('wild', { hosts: ['*.example.com'], path: '/x' }), route('exact', { hosts: ['api.example.com'], path: '/x' })],
      req: { host: 'api.example.com', path: '/x' },
      want: 'exact',
    },
    {
      title: 'wildcard host beats any host even with a more specific path',
      routes: [route('any', { path: '/x' }), route('wild', { hosts: ['*.example.com'], pathPrefix: '/' })],
      req: { host: 'a.example.com', path: '/x' },
      want: 'wild',
    },
    {
      title: 'longer wildcard suffix first',
      routes: [route('short', { hosts: ['*.example.com'] }), route('long', { hosts: ['*.eu.example.com'] })],
      req: { host: 'a.eu.example.com', path: '/' },
      want: 'long',
    },
    {
      title: 'exact path beats param pattern',
      routes: [route('param', { path: '/users/:id' }), route('exact', { path: '/users/me' })],
      req: { path: '/users/me' },
      want: 'exact',
    },
    {
      title: 'more static segments first',
      routes: [route('one', { path: '/a/:x/:y' }), route('two', { path: '/a/:x/c' })],
      req: { path: '/a/b/c' },
      want: 'two',
    },
    {
      title: 'then more segments',
      routes: [route('rest', { path: '/a/*' }), route('fixed', { path: '/a/:x/:y' })],
      req: { path: '/a/b/c' },
      want: 'fixed',
    },
    {
      title: 'a param beats * for the same segments',
      routes: [route('rest', { path: '/a/:x/*' }), route('fixed', { path: '/a/:x' })],
      req: { path: '/a/b' },
      want: 'fixed',
    },
    {
      title: 'equal counts: the literal further left wins',
      routes: [route('right', { path: '/:x/b' }), route('left', { path: '/a/:y' })],
      req: { path: '/a/b' },
      want: 'left',
    },
    {
      title: 'param pattern beats regex',
      routes: [route('regex', { pathRegex: '^/users/[0-9]+$' }), route('param', { path: '/users/:id' })],
      req: { path: '/users/42' },
      want: 'param',
    },
    {
      title: 'regex beats prefix',
      routes: [route('prefix', { pathPrefix: '/users' }), route('regex', { pathRegex: '^/users/' })],
      req: { path: '/users/42' },
      want: 'regex',
    },
    {
      title: 'longer prefix first',
      routes: [route('short', { pathPrefix: '/api' }), route('long', { pathPrefix: '/api/v2' })],
      req: { path: '/api/v2/x' },
      want: 'long',
    },
    {
      title: 'prefix beats no path condition',
      routes: [route('none'), route('root', { pathPrefix: '/' })],
      req: { path: '/x' },
      want: 'root',
    },
    {
      title: 'more conditions first',
      routes: [route('plain', { path: '/x' }), route('method', { path: '/x', methods: ['GET'] }), route('method+header', { path: '/x', methods: ['GET'], headers: { 'x-a': { present: true } } })],
      req: { path: '/x', headers: { 'x-a': '1' } },
      want: 'method+header',
    },
    {
      title: 'a more specific route whose conditions fail falls through to the next',
      routes: [route('plain', { path: '/x' }), route('method+header', { path: '/x', methods: ['GET'], headers: { 'x-a': { present: true } } })],
      req: { path: '/x' },
      want: 'plain',
    },
    {
      title: 'first-segment index: a generic pattern still outranks an indexed one',
      routes: [route('indexed', { path: '/x/:b/:c' }), route('generic', { path: '/:a/b/c' })],
      req: { path: '/x/b/c' },
      want: 'generic',
    },
    {
      title: 'first-segment index: an unindexed regex (^/re, no slash) beats an indexed prefix',
      routes: [route('prefix', { pathPrefix: '/rex' }), route('regex', { pathRegex: '^/re' })],
      req: { path: '/rex/1' },
      want: 'regex',
    },
    {
      title: 'first-segment index: indexed prefix /api beats generic prefix /',
      routes: [route('root', { pathPrefix: '/' }), route('api', { pathPrefix: '/api' })],
      req: { path: '/api' },
      want: 'api',
    },
    {
      title: 'first-segment index: indexed regex ^/re/ beats indexed prefix of the same segment',
      routes: [route('prefix', { pathPrefix: '/re/x' }), route('regex', { pathRegex: '^/re/x' })],
      req: { path: '/re/x/y' },
      want: 'regex',
    },
    {
      title: 'tie on everything: first in the file (exact path)',
      routes: [route('first', { path: '/x' }), route('second', { path: '/x' })],
      req: { path: '/x' },
      want: 'first',
    },
    {
      title: 'tie on everything: first in the file (prefix of equal length)',
      routes: [route('first', { pathPrefix: '/ab' }), route('second', { pathPrefix: '/ab' })],
      req: { path: '/ab/c' },
      want: 'first',
    },
    {
      title: 'tie on everything: first in the file (same conditions count)',
      routes: [route('first', { path: '/x', query: { a: {} } }), route('second', { path: '/x', headers: { b: {} } })],
      req: { path: '/x', query: 'a=1', headers: { b: '1' } },
      want: 'first',
    },
  ];
  for (const row of rows) {
    it(row.title, () => {
      assert.equal(winner(compileRouter(row.routes), row.req), row.want);
      // Same routes, file order reversed but `index` kept: the ranking must not depend on array order.
      assert.equal(winner(compileRouter([...row.routes].reverse()), row.req), row.want);
    });
  }

  it('is deterministic: shuffled route order, same winner', () => {
    const routes = [
      route('exact-host', { hosts: ['api.example.com'], pathPrefix: '/' }),
      route('wild-deep', { hosts: ['*.eu.example.com'], pathPrefix: '/' }),
      route('wild', { hosts: ['*.example.com'], pathPrefix: '/' }),
      route('exact', { path: '/a/b/c' }),
      route('exact-cond', { path: '/a/b/c', methods: ['POST'] }),
      route('p3', { path: '/a/b/:c' }),
      route('p2', { path: '/a/:b/:c' }),
      route('p1', { path: '/:a/:b/:c' }),
      route('rest', { path: '/a/*' }),
      route('regex', { pathRegex: '^/a/' }),
      route('prefix-long', { pathPrefix: '/a/b' }),
      route('prefix', { pathPrefix: '/a' }),
      route('root', { pathPrefix: '/' }),
      route('none'),
    ];
    const requests: Req[] = [
      { host: 'api.example.com', path: '/a/b/c' },
      { host: 'x.eu.example.com', path: '/zz' },
      { host: 'x.example.com', path: '/zz' },
      { path: '/a/b/c' },
      { method: 'POST', path: '/a/b/c' },
      { path: '/a/b/x' },
      { path: '/a/x/x' },
      { path: '/x/x/x' },
      { path: '/a/x' },
      { path: '/a/x/y/z' },
      { path: '/a/bz' },
      { path: '/b' },
    ];
    const expected = requests.map((q) => winner(compileRouter(routes), q));
    assert.deepEqual(expected, ['exact-host', 'wild-deep', 'wild', 'exact', 'exact-cond', 'p3', 'p2', 'p1', 'rest', 'rest', 'rest', 'root']);
    let seed = 12345;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 25; round++) {
      const shuffled = [...routes];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const r = compileRouter(shuffled);
      assert.deepEqual(
        requests.map((q) => winner(r, q)),
        expected,
        `round ${round}`,
      );
    }
  });

  it('many services: each request only meets its own first segment, winners unchanged', () => {
    const routes: RouteConfig[] = [];
    for (let i = 0; i < 200; i++) {
      routes.push(route(`p${i}`, { path: `/svc${i}/items/:id` }));
      routes.push(route(`x${i}`, { pathPrefix: `/svc${i}` }));
    }
    routes.push(route('root', { pathPrefix: '/' }));
    const r = compileRouter(routes);
    for (const i of [0, 7, 199]) {
      assert.deepEqual(hit(r, { path: `/svc${i}/items/9` }), { route: r.routes.find((x) => x.name === `p${i}`), params: { id: '9' } });
      assert.equal(winner(r, { path: `/svc${i}/other` }), `x${i}`);
      assert.equal(winner(r, { path: `/svc${i}` }), `x${i}`);
    }
    assert.equal(winner(r, { path: '/svc1x' }), 'root');
    assert.equal(winner(r, { path: 'no-slash' }), null, 'prefix / needs a leading slash');
  });

  it('candidateOrder lists routes in the order match() tries them', () => {
    const r = compileRouter([
      route('root', { pathPrefix: '/' }),
      route('exact', { path: '/x' }),
      route('host', { hosts: ['h.example'], path: '/x' }),
    ]);
    assert.deepEqual(candidateOrder(r, 'H.example:1'), ['host', 'exact', 'root']);
    assert.deepEqual(candidateOrder(r), ['exact', 'root']);
  });
});
