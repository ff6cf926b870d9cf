import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expectProblem, expectProblems as problems, expectValid as ok, MINIMAL_CONFIG as BASE, where } from '../../config/testing.js';

// Routes through the whole loader, so that problems are checked with their file positions.

describe('route configuration', () => {
  test('names are normalised: hosts and headers lower-case, methods upper-case and deduplicated', () => {
    const { config } = ok(`${BASE}    match:
      host: [API.Example.COM, "*.Example.org", api.example.com]
      methods: [get, GET, Post]
      headers: { X-Tenant: acme, Accept: { prefix: application/ } }
      query: { Debug: { present: true } }
    requestHeaders: { set: { X-From: brisk }, add: { Via-Extra: "1" }, remove: [X-Secret, x-secret] }
    responseHeaders: { remove: [Server] }
proxy:
  requestIdHeader: X-Correlation-ID
  trustedProxies: [10.0.0.0/8, "FD00::/8"]
  via: false
`);
    const route = config.routes[0];
    assert.ok(route);
    assert.deepEqual(route.match.hosts, ['api.example.com', '*.example.org']);
    assert.deepEqual(route.match.methods, ['GET', 'POST']);
    assert.deepEqual(route.match.headers, { 'x-tenant': { exact: 'acme' }, accept: { prefix: 'application/' } });
    // Query names are case-sensitive in URLs, so they are kept as written.
    assert.deepEqual(route.match.query, { Debug: { present: true } });
    assert.deepEqual(route.requestHeaders, { set: { 'x-from': 'brisk' }, add: { 'via-extra': '1' }, remove: ['x-secret'] });
    assert.deepEqual(route.responseHeaders, { set: {}, add: {}, remove: ['server'] });
    assert.equal(config.proxy.requestIdHeader, 'x-correlation-id');
    assert.deepEqual(config.proxy.trustedProxies, ['10.0.0.0/8', 'fd00::/8']);
    assert.equal(config.proxy.via, false);
  });


  test('unknown upstream with a suggestion', () => {
    const text = BASE.replace('    upstream: products', '    upstream: prodcts');
    const list = problems(text);
    assert.equal(list.length, 1);
    expectProblem(list, 'routes.0.upstream', 'unknown upstream "prodcts"; did you mean "products"?', where(text, 'prodcts'));
  });


  test('unknown upstream without a close name, and names of Object.prototype are not upstreams', () => {
    const text = `${BASE}  - name: other\n    upstream: constructor\n`;
    expectProblem(problems(text), 'routes.1.upstream', 'unknown upstream "constructor"', where(text, 'constructor'));
  });


  test('duplicate route names', () => {
    const text = `${BASE}  - name: products\n    upstream: products\n`;
    expectProblem(problems(text), 'routes.1.name', 'route name "products" is already used by routes.0', where(text, 'products', 4));
  });


  test('invalid regular expressions report the RegExp error', () => {
    const text = `${BASE}    match: { pathRegex: "^/(a", headers: { x: { regex: "[" } } }\n`;
    const list = problems(text);
    expectProblem(list, 'routes.0.match.pathRegex', /^Invalid regular expression: .*Unterminated group/, where(text, '"^/(a"'));
    expectProblem(list, 'routes.0.match.headers.x.regex', /^Invalid regular expression: .*Unterminated character class/, where(text, '"["'));
  });


  test('only one path condition per match', () => {
    const text = `${BASE}    match: { path: /a, pathPrefix: /b }\n`;
    expectProblem(problems(text), 'routes.0.match.pathPrefix', 'a route matches on one path condition only, but has path and pathPrefix; keep one', where(text, 'pathPrefix'));
  });


  test('a matcher takes exactly one condition', () => {
    const text = `${BASE}    match: { headers: { a: { exact: x, prefix: y }, b: {} } }\n`;
    const list = problems(text);
    expectProblem(list, 'routes.0.match.headers.a', 'a matcher takes one of exact, prefix, regex or present, not exact and prefix', where(text, '{ exact'));
    expectProblem(list, 'routes.0.match.headers.b', 'a matcher needs one of exact, prefix, regex or present', where(text, '{} }'));
  });


  test('header names and values that could not be sent', () => {
    const text = `${BASE}    match: { headers: { "bad name": x, X-A: a, x-a: b } }\n    requestHeaders: { set: { ok: "a\\r\\nInjected: 1" } }\n`;
    const list = problems(text);
    expectProblem(list, 'routes.0.match.headers.bad name', 'invalid header name "bad name"', where(text, '"bad name"'));
    expectProblem(list, 'routes.0.match.headers.x-a', 'header "x-a" is already matched as "X-A" (names are case-insensitive)', where(text, 'x-a'));
    expectProblem(list, 'routes.0.requestHeaders.set.ok', 'a header value may not contain line breaks or NUL characters', where(text, '"a\\r'));
  });


  test('invalid host patterns', () => {
    const text = `${BASE}    match: { host: "api.*.example.com" }\n`;
    expectProblem(
      problems(text),
      'routes.0.match.host',
      'invalid host pattern "api.*.example.com": only a leading "*." wildcard is allowed, such as "*.example.com"',
      where(text, '"api.*'),
    );
  });


  test('durations past what a timer can wait', () => {
    const text = `${BASE}    timeouts: { total: 1000h }\n`;
    expectProblem(problems(text), 'routes.0.timeouts.total', 'duration "1000h" is too long; the longest is 24 days ("576h")', where(text, '1000h'));
  });
});

describe('route fallback', () => {
  test('a fallback is another upstream or a static answer, and names an upstream that exists', () => {
    const text = `${BASE}    fallback: { upstream: standby, body: "{}" }\n`;
    const list = problems(text);
    expectProblem(list, 'routes.0.fallback.body', 'a fallback is either another upstream or a static answer, not both', where(text, 'body'));
    expectProblem(list, 'routes.0.fallback.upstream', 'unknown upstream "standby"', where(text, 'standby'));
  });

  test('a fallback without a circuit breaker is a warning; a static one gets its defaults', () => {
    const { config, warnings } = ok(`${BASE}    fallback: { body: '{"items":[]}' }\n`);
    assert.deepEqual(
      warnings.map((w) => [w.path, w.message]),
      [['routes.0.fallback', 'upstream "products" has no circuitBreaker, so this fallback is never used']],
    );
    assert.deepEqual(config.routes[0]?.fallback, { kind: 'static', status: 200, body: '{"items":[]}', contentType: 'application/json' });
  });
});
