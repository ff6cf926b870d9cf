import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BriskError } from '../core/errors.js';
import type { RouteConfig } from '../config/types.js';
import { compileRouter, normalizeHost } from './index.js';
import { regexLiteralPrefix } from './router.js';
import { hit, route, winner, type Headers } from './testing.js';

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
