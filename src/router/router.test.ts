import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteConfig, RouteMatch } from '../config/types.js';
import { BriskError } from '../core/errors.js';
import { candidateOrder, compileRouter, normalizeHost, type RouteMatchResult, type Router } from './index.js';
import { regexLiteralPrefix } from './router.js';

type Headers = Record<string, string | string[] | undefined>;

let nextIndex = 0;
function route(name: string, match: Partial<RouteMatch> = {}, extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name,
    index: nextIndex++,
    upstream: 'u',
    maxBodySize: 0,
    match: { hosts: [], methods: [], headers: {}, query: {}, ...match },
    ...extra,
  };
}

interface Req {
  method?: string;
  host?: string;
  path: string;
  query?: string;
  headers?: Headers;
}

function hit(router: Router, req: Req): RouteMatchResult | null {
  return router.match(req.method ?? 'GET', req.host, req.path, req.query ?? '', req.headers ?? {});
}

function winner(router: Router, req: Req): string | null {
  return hit(router, req)?.route.name ?? null;
}

describe('path matchers', () => {
  it('exact path matches only that path', () => {
    const r = compileRouter([route('exact', { path: '/health' })]);
    assert.equal(winner(r, { path: '/health' }), 'exact');
    assert.equal(winner(r, { path: '/health/' }), null);
    assert.equal(winner(r, { path: '/healthz' }), null);
    assert.equal(winner(r, { path: '/Health' }), null, 'paths are case-sensitive');
    assert.equal(hit(r, { path: '/health' })?.params, null);
  });

  it('param pattern captures whole non-empty segments', () => {
    const r = compileRouter([route('user', { path: '/users/:id/orders/:orderId' })]);
    assert.deepEqual(hit(r, { path: '/users/42/orders/7' })?.params, { id: '42', orderId: '7' });
    assert.equal(winner(r, { path: '/users/42/orders' }), null);
    assert.equal(winner(r, { path: '/users//orders/7' }), null, 'empty segment is not a param');
    assert.equal(winner(r, { path: '/users/42/orders/7/x' }), null);
    assert.equal(winner(r, { path: '/users/42/ordersx/7' }), null);
  });

  it('trailing * captures the rest, possibly empty', () => {
    const r = compileRouter([route('files', { path: '/files/:bucket/*' })]);
    assert.deepEqual(hit(r, { path: '/files/b/a/b/c.txt' })?.params, { bucket: 'b', '*': 'a/b/c.txt' });
    assert.deepEqual(hit(r, { path: '/files/b/' })?.params, { bucket: 'b', '*': '' });
    assert.deepEqual(hit(r, { path: '/files/b' })?.params, { bucket: 'b', '*': '' });
    assert.equal(winner(r, { path: '/files/bx' }), 'files', 'bx is the bucket');
    assert.equal(winner(r, { path: '/filesx/b' }), null);
  });

  it('params are percent-decoded; malformed encoding stays raw; never throws', () => {
    const r = compileRouter([route('p', { path: '/u/:name/*' })]);
    assert.deepEqual(hit(r, { path: '/u/J%C3%BCrgen/a%2Fb' })?.params, { name: 'Jürgen', '*': 'a/b' });
    assert.deepEqual(hit(r, { path: '/u/%E0%A4%A/x' })?.params, { name: '%E0%A4%A', '*': 'x' });
    assert.deepEqual(hit(r, { path: '/u/100%/x' })?.params, { name: '100%', '*': 'x' });
    assert.deepEqual(hit(r, { path: '/u/a+b/x' })?.params, { name: 'a+b', '*': 'x' }, '+ is not a space in a path');
  });

  it('matches on the path as received: an encoded slash is inside one segment', () => {
    const r = compileRouter([route('one', { path: '/a/:x' }), route('exact', { path: '/a/b%2Fc' })]);
    assert.equal(winner(r, { path: '/a/b%2Fc' }), 'exact');
    assert.deepEqual(hit(r, { path: '/a/d%2Fe' })?.params, { x: 'd/e' });
  });

  it('pathPrefix works on segment boundaries', () => {
    const r = compileRouter([route('api', { pathPrefix: '/api' })]);
    for (const p of ['/api', '/api/', '/api/x', '/api/x/y']) assert.equal(winner(r, { path: p }), 'api', p);
    for (const p of ['/apix', '/ap', '/', '/v1/api']) assert.equal(winner(r, { path: p }), null, p);
  });

  it('pathPrefix with a trailing slash needs the slash', () => {
    const r = compileRouter([route('api', { pathPrefix: '/api/' })]);
    assert.equal(winner(r, { path: '/api/' }), 'api');
    assert.equal(winner(r, { path: '/api/x' }), 'api');
    assert.equal(winner(r, { path: '/api' }), null);
    assert.equal(winner(r, { path: '/apix' }), null);
  });

  it('pathPrefix / matches everything', () => {
    const r = compileRouter([route('root', { pathPrefix: '/' })]);
    for (const p of ['/', '/a', '/a/b/c', '//x']) assert.equal(winner(r, { path: p }), 'root', p);
  });

  it('pathRegex: named groups become decoded params, unmatched optional groups are left out', () => {
    const r = compileRouter([route('re', { pathRegex: '^/v(?<version>[0-9]+)/items(?:/(?<item>[^/]+))?$' })]);
    assert.deepEqual(hit(r, { path: '/v2/items/a%20b' })?.params, { version: '2', item: 'a b' });
    assert.deepEqual(hit(r, { path: '/v2/items' })?.params, { version: '2' });
    assert.equal(winner(r, { path: '/vx/items' }), null);
  });

  it('pathRegex without named groups has null params', () => {
    const r = compileRouter([route('re', { pathRegex: '\\.(png|jpg)$' })]);
    const m = hit(r, { path: '/img/a.png' });
    assert.equal(m?.route.name, 're');
    assert.equal(m?.params, null);
  });

  it('a route with no path condition takes any path', () => {
    const r = compileRouter([route('any')]);
    assert.equal(winner(r, { path: '/whatever/x' }), 'any');
  });

  it('a route giving several path conditions needs all of them', () => {
    const r = compileRouter([route('both', { path: '/api/:x', pathRegex: '^/api/[0-9]+$' })]);
    assert.deepEqual(hit(r, { path: '/api/12' })?.params, { x: '12' });
    assert.equal(winner(r, { path: '/api/ab' }), null);
  });
});

describe('hosts', () => {
  it('exact host ignores port, case and a trailing dot', () => {
    const r = compileRouter([route('api', { hosts: ['api.example.com'] })]);
    for (const h of ['api.example.com', 'API.Example.COM', 'api.example.com:8443', 'Api.Example.Com:80', 'api.example.com.']) {
      assert.equal(winner(r, { host: h, path: '/' }), 'api', h);
    }
    assert.equal(winner(r, { host: 'www.example.com', path: '/' }), null);
    assert.equal(winner(r, { host: undefined, path: '/' }), null);
    assert.equal(winner(r, { host: '', path: '/' }), null);
  });

  it('IPv6 hosts keep their brackets and lose the port', () => {
    const r = compileRouter([route('v6', { hosts: ['[::1]'] })]);
    assert.equal(winner(r, { host: '[::1]:8080', path: '/' }), 'v6');
    assert.equal(winner(r, { host: '[::1]', path: '/' }), 'v6');
  });

  it('wildcard takes one or more labels, not the bare domain', () => {
    const r = compileRouter([route('wild', { hosts: ['*.example.com'] })]);
    assert.equal(winner(r, { host: 'a.example.com', path: '/' }), 'wild');
    assert.equal(winner(r, { host: 'a.b.example.com:443', path: '/' }), 'wild');
    assert.equal(winner(r, { host: 'A.EXAMPLE.COM', path: '/' }), 'wild');
    assert.equal(winner(r, { host: 'example.com', path: '/' }), null);
    assert.equal(winner(r, { host: 'badexample.com', path: '/' }), null);
    assert.equal(winner(r, { host: '.example.com', path: '/' }), null);
  });

  it('host "*" is the same as no host condition', () => {
    const r = compileRouter([route('star', { hosts: ['*'] })]);
    assert.equal(winner(r, { host: 'anything.test', path: '/' }), 'star');
    assert.equal(winner(r, { host: undefined, path: '/' }), 'star');
  });

  it('a route may list several hosts, exact and wildcard', () => {
    const r = compileRouter([route('multi', { hosts: ['example.com', '*.example.com'] })]);
    assert.equal(winner(r, { host: 'example.com', path: '/' }), 'multi');
    assert.equal(winner(r, { host: 'x.example.com', path: '/' }), 'multi');
    assert.equal(winner(r, { host: 'example.org', path: '/' }), null);
  });

  it('falls back to a less specific host when the specific one has no route for the request', () => {
    const r = compileRouter([
      route('exact-host', { hosts: ['api.example.com'], path: '/only' }),
      route('wild-host', { hosts: ['*.example.com'], pathPrefix: '/w' }),
      route('any-host', { pathPrefix: '/' }),
    ]);
    assert.equal(winner(r, { host: 'api.example.com', path: '/only' }), 'exact-host');
    assert.equal(winner(r, { host: 'api.example.com', path: '/w/x' }), 'wild-host');
    assert.equal(winner(r, { host: 'api.example.com', path: '/other' }), 'any-host');
  });
});

describe('host normalisation', () => {
  it('cuts the port, a trailing dot and lower-cases', () => {
    assert.equal(normalizeHost('API.Example.com:8443'), 'api.example.com');
    assert.equal(normalizeHost('example.com.'), 'example.com');
    assert.equal(normalizeHost('[::1]:80'), '[::1]');
    assert.equal(normalizeHost('[::1'), '[::1');
    assert.equal(normalizeHost(''), '');
  });

  it('gives the same answer from its cache on repeated and many distinct hosts', () => {
    const r = compileRouter([route('api', { hosts: ['api.example.com'] }), route('other')]);
    for (let i = 0; i < 3; i++) assert.equal(winner(r, { host: 'API.example.com:8443', path: '/' }), 'api');
    // More distinct hosts than the cache holds: it starts over, answers stay right.
    for (let i = 0; i < 1200; i++) assert.equal(winner(r, { host: `h${i}.EXAMPLE.com:1`, path: '/' }), 'other');
    assert.equal(winner(r, { host: 'Api.Example.Com:1', path: '/' }), 'api');
    assert.equal(winner(r, { host: 'x'.repeat(1000) + ':1', path: '/' }), 'other');
  });
});

describe('methods', () => {
  it('only listed methods match; any when none listed', () => {
    const r = compileRouter([route('post', { path: '/x', methods: ['POST', 'PUT'] }), route('any', { path: '/y' })]);
    assert.equal(winner(r, { method: 'POST', path: '/x' }), 'post');
    assert.equal(winner(r, { method: 'PUT', path: '/x' }), 'post');
    assert.equal(winner(r, { method: 'GET', path: '/x' }), null);
    assert.equal(winner(r, { method: 'DELETE', path: '/y' }), 'any');
  });

  it('GET implies HEAD; HEAD does not imply GET', () => {
    const r = compileRouter([route('get', { path: '/g', methods: ['GET'] }), route('head', { path: '/h', methods: ['HEAD'] })]);
    assert.equal(winner(r, { method: 'HEAD', path: '/g' }), 'get');
    assert.equal(winner(r, { method: 'GET', path: '/h' }), null);
    assert.equal(winner(r, { method: 'HEAD', path: '/h' }), 'head');
  });
});

describe('header and query conditions', () => {
  it('header exact, prefix, regex and present', () => {
    const r = compileRouter([
      route('exact', { path: '/e', headers: { 'x-env': { exact: 'canary' } } }),
      route('prefix', { path: '/p', headers: { authorization: { prefix: 'Bearer ' } } }),
      route('regex', { path: '/r', headers: { 'user-agent': { regex: 'Mobile' } } }),
      route('present', { path: '/t', headers: { 'x-debug': { present: true } } }),
      route('absent', { path: '/a', headers: { 'x-debug': { present: false } } }),
      route('empty', { path: '/m', headers: { 'x-any': {} } }),
    ]);
    assert.equal(winner(r, { path: '/e', headers: { 'x-env': 'canary' } }), 'exact');
    assert.equal(winner(r, { path: '/e', headers: { 'x-env': 'canary2' } }), null);
    assert.equal(winner(r, { path: '/e' }), null);
    assert.equal(winner(r, { path: '/p', headers: { authorization: 'Bearer abc' } }), 'prefix');
    assert.equal(winner(r, { path: '/p', headers: { authorization: 'Basic abc' } }), null);
    assert.equal(winner(r, { path: '/r', headers: { 'user-agent': 'X (Mobile; Y)' } }), 'regex');
    assert.equal(winner(r, { path: '/r', headers: { 'user-agent': 'Desktop' } }), null);
    assert.equal(winner(r, { path: '/t', headers: { 'x-debug': '' } }), 'present');
    assert.equal(winner(r, { path: '/t' }), null);
    assert.equal(winner(r, { path: '/a' }), 'absent');
    assert.equal(winner(r, { path: '/a', headers: { 'x-debug': '1' } }), null);
    assert.equal(winner(r, { path: '/m', headers: { 'x-any': 'v' } }), 'empty');
    assert.equal(winner(r, { path: '/m' }), null);
  });

  it('repeated headers (arrays) match when any value does; present:false fails on any', () => {
    const r = compileRouter([
      route('cookie', { path: '/c', headers: { 'set-cookie': { prefix: 'b=' } } }),
      route('absent', { path: '/a', headers: { 'x-y': { present: false } } }),
    ]);
    assert.equal(winner(r, { path: '/c', headers: { 'set-cookie': ['a=1', 'b=2'] } }), 'cookie');
    assert.equal(winner(r, { path: '/c', headers: { 'set-cookie': ['a=1'] } }), null);
    assert.equal(winner(r, { path: '/a', headers: { 'x-y': [] } }), null);
  });

  it('header condition names are case-insensitive', () => {
    const r = compileRouter([route('h', { path: '/', headers: { 'X-Env': { exact: 'a' } } })]);
    assert.equal(winner(r, { path: '/', headers: { 'x-env': 'a' } }), 'h');
  });

  it('query exact, prefix, regex, present; values and names decoded', () => {
    const r = compileRouter([
      route('exact', { path: '/e', query: { q: { exact: 'a b/c' } } }),
      route('prefix', { path: '/p', query: { v: { prefix: '2.' } } }),
      route('regex', { path: '/r', query: { id: { regex: '^[0-9]+$' } } }),
      route('present', { path: '/t', query: { debug: { present: true } } }),
      route('absent', { path: '/a', query: { debug: { present: false } } }),
      route('name', { path: '/n', query: { 'a[b]': { exact: 'x' } } }),
    ]);
    assert.equal(winner(r, { path: '/e', query: 'x=1&q=a%20b%2Fc' }), 'exact');
    assert.equal(winner(r, { path: '/e', query: 'q=a+b/c' }), 'exact', '+ is a space in a query');
    assert.equal(winner(r, { path: '/e', query: 'q=ab' }), null);
    assert.equal(winner(r, { path: '/e', query: 'qq=a%20b%2Fc' }), null);
    assert.equal(winner(r, { path: '/p', query: 'v=2.1' }), 'prefix');
    assert.equal(winner(r, { path: '/p', query: 'v=1.9' }), null);
    assert.equal(winner(r, { path: '/r', query: 'id=123' }), 'regex');
    assert.equal(winner(r, { path: '/r', query: 'id=12a' }), null);
    assert.equal(winner(r, { path: '/t', query: 'debug' }), 'present', 'a key without = is present');
    assert.equal(winner(r, { path: '/t', query: 'a=1&&debug=&b' }), 'present');
    assert.equal(winner(r, { path: '/t', query: '' }), null);
    assert.equal(winner(r, { path: '/t', query: 'debugx=1' }), null);
    assert.equal(winner(r, { path: '/a', query: '' }), 'absent');
    assert.equal(winner(r, { path: '/a', query: 'x=1' }), 'absent');
    assert.equal(winner(r, { path: '/a', query: 'x=1&debug=0' }), null);
    assert.equal(winner(r, { path: '/n', query: 'a%5Bb%5D=x' }), 'name');
  });

  it('a repeated query parameter matches when any value does; malformed escapes compare raw', () => {
    const r = compileRouter([
      route('rep', { path: '/r', query: { tag: { exact: 'b' } } }),
      route('bad', { path: '/b', query: { v: { exact: '%E0%A4%A' } } }),
    ]);
    assert.equal(winner(r, { path: '/r', query: 'tag=a&tag=b' }), 'rep');
    assert.equal(winner(r, { path: '/r', query: 'tag=a&tag=c' }), null);
    assert.equal(winner(r, { path: '/b', query: 'v=%E0%A4%A' }), 'bad');
  });
});

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

describe('results and robustness', () => {
  it('reads no header and no query when no candidate has such conditions', () => {
    const r = compileRouter([route('a', { pathPrefix: '/a' }), route('h', { path: '/h', headers: { 'x-a': { present: true } } })]);
    const trap = new Proxy({} as Headers, {
      get() {
        throw new Error('headers were read');
      },
    });
    assert.equal(winner(r, { path: '/a/x', headers: trap }), 'a');
    assert.throws(() => winner(r, { path: '/h', headers: trap }), /headers were read/, 'the trap works');
  });

  it('returns null when nothing matches', () => {
    const r = compileRouter([route('a', { path: '/a' })]);
    assert.equal(hit(r, { path: '/b' }), null);
    assert.equal(compileRouter([]).match('GET', 'x', '/', '', {}), null);
  });

  it('reuses one frozen result for a route without params (no per-request allocation)', () => {
    const r = compileRouter([route('a', { path: '/a' }), route('p', { pathPrefix: '/p' })]);
    const first = hit(r, { path: '/a' });
    assert.equal(hit(r, { path: '/a' }), first);
    assert.ok(Object.isFrozen(first));
    assert.equal(hit(r, { path: '/p/1' }), hit(r, { path: '/p/2' }));
  });

  it('lists routes in file order with their config', () => {
    const a = route('a', { path: '/a' });
    const b = route('b', { path: '/b' });
    const r = compileRouter([b, a]);
    assert.deepEqual(
      r.routes.map((x) => x.name),
      ['a', 'b'],
    );
    assert.equal(r.routes[0]!.config, a);
    assert.equal(r.routes[0]!.rewritePath, null);
    assert.equal(r.routes[0]!.requestHeaderEdits, null);
  });

  it('never throws on odd input', () => {
    const r = compileRouter([
      route('host', { hosts: ['a.example', '*.b.example'], path: '/h/:x' }),
      route('p', { path: '/u/:name/*', headers: { 'x-a': { regex: '^a' } }, query: { q: { prefix: 'x' } } }),
      route('re', { pathRegex: '^/r/(?<x>.*)$' }),
      route('pre', { pathPrefix: '/pre' }),
    ]);
    const paths = ['', '*', 'no-slash', '/', '//', '/u/', '/u/%', '/u/%%/%ZZ', '/r/%E0%A4%A', '/u/\u0000/\uD800', '/h/%', 'x'.repeat(100_000), '/' + '/a'.repeat(10_000)];
    const hosts = [undefined, '', ':', '[', '[::1', ']:80', '.', 'A.EXAMPLE.', 'x.b.example:99999', '\u0130.b.example'];
    const queries = ['', '&', '=', '&&==&', 'q', 'q=%', 'q=%E0%A4%A', '%=%', '+=+&q=x%', 'q'.repeat(10_000)];
    const headerSets: Headers[] = [{}, { 'x-a': 'a' }, { 'x-a': ['b', 'a'] }, { 'x-a': undefined }, { 'x-a': [] }];
    for (const path of paths) {
      for (const host of hosts) {
        for (const query of queries) {
          for (const headers of headerSets) {
            r.match('GET', host, path, query, headers);
            r.match('', host, path, query, headers);
          }
        }
      }
    }
    // Wrong types from an untyped caller.
    const loose = r as unknown as { match(...args: unknown[]): unknown };
    assert.doesNotThrow(() => loose.match(undefined, 42, '/pre', undefined, null));
    assert.doesNotThrow(() => loose.match('GET', 'a.example', undefined, 7, { 'x-a': 5 }));
    assert.equal(winner(r, { host: 'a.example', path: '/h/%' }), 'host');
  });
});

describe('regex literal prefix (a pre-check before running the regex)', () => {
  const rows: [string, string][] = [
    ['^/api/v[0-9]+', '/api/v'],
    ['^\\/api\\/x', '/api/x'],
    ['^/a/b?', '/a/'],
    ['^/a\\.?', '/a'],
    ['^/a/(?<x>.*)$', '/a/'],
    ['^/a|^/b', ''],
    ['/api', ''],
    ['^\\d+', ''],
    ['^/a{2}', '/'],
    ['^', ''],
  ];
  for (const [source, want] of rows) {
    it(`${source} -> ${JSON.stringify(want)}`, () => {
      assert.equal(regexLiteralPrefix(source), want);
      // The prefix must be a real requirement: every path the regex accepts starts with it.
      const re = new RegExp(source);
      for (const p of ['/api/v1', '/api/x', '/a/', '/a', '/a.', '/aa', '/b', '12', '/a/b']) {
        if (re.test(p)) assert.ok(p.startsWith(want), `${p} matches ${source} but lacks ${want}`);
      }
    });
  }

  it('skipping by prefix does not change which route wins', () => {
    const r = compileRouter([route('re', { pathRegex: '^/api/v(?<v>[0-9]+)' }), route('other', { pathPrefix: '/' })]);
    assert.deepEqual(hit(r, { path: '/api/v3/x' })?.params, { v: '3' });
    assert.equal(winner(r, { path: '/api/x' }), 'other');
  });
});

describe('compile errors', () => {
  const cases: { title: string; route: RouteConfig; message: RegExp }[] = [
    { title: 'wildcard inside a label', route: route('bad-host', { hosts: ['*example.com'] }), message: /route "bad-host": match\.host "\*example\.com"/ },
    { title: 'wildcard not first', route: route('bad-host2', { hosts: ['api.*.com'] }), message: /route "bad-host2": match\.host/ },
    { title: 'invalid pathRegex', route: route('bad-re', { pathRegex: '(' }), message: /route "bad-re": match\.pathRegex/ },
    { title: 'invalid header regex', route: route('bad-h', { headers: { 'x-a': { regex: '[' } } }), message: /route "bad-h": match\.headers\.x-a\.regex/ },
    { title: 'star not last', route: route('star', { path: '/a/*/b' }), message: /route "star": .*"\*" may only be the last/ },
    { title: 'partial param segment', route: route('partial', { path: '/a/:id.json' }), message: /route "partial": .*whole segment/ },
    { title: 'duplicate param', route: route('dup', { path: '/a/:x/:x' }), message: /route "dup": .*twice/ },
    { title: 'unknown rewrite param', route: route('rw', { path: '/a/:x' }, { rewrite: { path: '/b/:y' } }), message: /route "rw": rewrite\.path .*"y"/ },
    {
      title: 'unknown header template param',
      route: route('hd', { pathPrefix: '/a' }, { requestHeaders: { set: { 'x-u': '${user}' }, add: {}, remove: [] } }),
      message: /route "hd": requestHeaders\.set "x-u" uses "\$\{user\}"/,
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      assert.throws(
        () => compileRouter([c.route]),
        (err: unknown) => err instanceof BriskError && err.code === 'BRISK_CONFIG_INVALID' && c.message.test(err.message),
      );
    });
  }
});
