import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import type { Answer } from '../../core/middleware.js';
import { fakeContext, testLogger, valuesOf } from '../auth/testing.js';
import { CorsSchema, createCors, normalizeCors, type RawCors } from './index.js';

const { logger } = testLogger();

function cors(raw: RawCors) {
  assert.ok(Value.Check(CorsSchema, raw), 'schema-valid');
  const { config, problems } = normalizeCors(raw);
  assert.deepEqual(problems, []);
  return createCors(config!, { logger });
}

function run(mw: ReturnType<typeof cors>, headers: Array<[string, string]>, method = 'GET') {
  const ctx = fakeContext({ method, headers });
  const answer = mw.handle(ctx) as Answer | null;
  return { answer, ctx, out: answer === null ? ctx.responseHeaders : (answer.headers as string[] | undefined) };
}

const preflight = (origin: string, method = 'PUT', headers?: string): Array<[string, string]> => [
  ['Origin', origin],
  ['Access-Control-Request-Method', method],
  ...(headers === undefined ? [] : [['Access-Control-Request-Headers', headers] as [string, string]]),
];

describe('cors: preflight', () => {
  const mw = cors({ origins: ['https://app.example.com', 'https://*.example.org'], headers: ['content-type', 'authorization'], credentials: true, maxAge: '1h' });

  it('an allowed preflight gets 204 with the allow headers, the origin echoed (credentials)', () => {
    const { answer, out } = run(mw, preflight('https://app.example.com', 'PUT', 'Content-Type, Authorization'), 'OPTIONS');
    assert.equal(answer?.status, 204);
    assert.equal(answer?.code, undefined);
    assert.deepEqual(valuesOf(out, 'access-control-allow-origin'), ['https://app.example.com']);
    assert.deepEqual(valuesOf(out, 'access-control-allow-credentials'), ['true']);
    assert.deepEqual(valuesOf(out, 'access-control-allow-methods'), ['GET, HEAD, POST, PUT, PATCH, DELETE']);
    assert.deepEqual(valuesOf(out, 'access-control-allow-headers'), ['content-type, authorization']);
    assert.deepEqual(valuesOf(out, 'access-control-max-age'), ['3600']);
    assert.match(valuesOf(out, 'vary')[0]!, /Origin, Access-Control-Request-Method, Access-Control-Request-Headers/);
  });

  it('subdomain wildcards match subdomains only, not the apex or look-alikes', () => {
    assert.equal(run(mw, preflight('https://a.b.example.org'), 'OPTIONS').answer?.status, 204);
    for (const origin of ['https://example.org', 'http://a.example.org', 'https://a.example.org.evil.com', 'https://evilexample.org', 'https://a.example.org:8443', 'https://x@a.example.org']) {
      assert.equal(run(mw, preflight(origin), 'OPTIONS').answer?.status, 403, origin);
    }
  });

  it('a disallowed origin, method or header gets 403 BRISK_FORBIDDEN and no CORS headers', () => {
    const cases: Array<[Array<[string, string]>, RegExp]> = [
      [preflight('https://evil.com'), /origin "https:\/\/evil.com" is not allowed/],
      [preflight('https://app.example.com', 'TRACE'), /method TRACE is not allowed/],
      [preflight('https://app.example.com', 'PUT', 'x-admin'), /header x-admin is not allowed/],
      [preflight('https://app.example.com', 'P UT'), /not a method/],
      [[['Origin', 'https://app.example.com'], ['Origin', 'https://evil.com'], ['Access-Control-Request-Method', 'PUT']], /not allowed/],
    ];
    for (const [headers, message] of cases) {
      const { answer } = run(mw, headers, 'OPTIONS');
      assert.equal(answer?.status, 403);
      assert.equal(answer?.code, 'BRISK_FORBIDDEN');
      assert.match(answer?.message ?? '', message);
      assert.deepEqual(valuesOf(answer?.headers as string[], 'access-control-allow-origin'), []);
    }
  });

  it('an OPTIONS without Access-Control-Request-Method is not a preflight: it goes on', () => {
    const { answer, ctx } = run(mw, [['Origin', 'https://app.example.com']], 'OPTIONS');
    assert.equal(answer, null);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-allow-origin'), ['https://app.example.com']);
  });
});

describe('cors: actual requests', () => {
  it('an allowed origin gets Allow-Origin (echoed with credentials), Expose-Headers and Vary: Origin', () => {
    const mw = cors({ origins: ['https://app.example.com'], credentials: true, exposeHeaders: ['X-Request-Id', 'ETag'] });
    const { answer, ctx } = run(mw, [['origin', 'https://app.example.com']]);
    assert.equal(answer, null);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-allow-origin'), ['https://app.example.com']);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-allow-credentials'), ['true']);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-expose-headers'), ['x-request-id, etag']);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'vary'), ['Origin']);
  });

  it('a disallowed origin goes on without CORS headers but with Vary: Origin', () => {
    const mw = cors({ origins: ['https://app.example.com'] });
    const { answer, ctx } = run(mw, [['origin', 'https://evil.com']]);
    assert.equal(answer, null);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-allow-origin'), []);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'vary'), ['Origin']);
  });

  it('"*" without credentials answers "*", never the reflected origin', () => {
    const mw = cors({ origins: ['*'] });
    const { ctx } = run(mw, [['origin', 'https://anything.test']]);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-allow-origin'), ['*']);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-allow-credentials'), []);
    const pre = run(mw, preflight('https://anything.test', 'PATCH', 'x-custom'), 'OPTIONS');
    assert.equal(pre.answer?.status, 204);
    assert.deepEqual(valuesOf(pre.out, 'access-control-allow-origin'), ['*']);
    assert.deepEqual(valuesOf(pre.out, 'access-control-allow-headers'), ['x-custom'], 'headers omitted: the asked ones are allowed');
  });

  it('methods "*" reflects the asked method', () => {
    const mw = cors({ origins: ['https://a.test'], methods: ['*'] });
    const { answer } = run(mw, preflight('https://a.test', 'PURGE'), 'OPTIONS');
    assert.deepEqual(valuesOf(answer?.headers as string[], 'access-control-allow-methods'), ['PURGE']);
  });

  it('keeps response headers other middlewares set', () => {
    const mw = cors({ origins: ['https://a.test'] });
    const ctx = fakeContext({ headers: [['origin', 'https://a.test']] });
    ctx.responseHeaders = ['x-ratelimit-remaining', '9'];
    mw.handle(ctx);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'x-ratelimit-remaining'), ['9']);
    assert.deepEqual(valuesOf(ctx.responseHeaders, 'access-control-allow-origin'), ['https://a.test']);
  });
});

describe('cors: normaliser', () => {
  it('refuses "*" with credentials, "null", paths and misplaced wildcards', () => {
    const problems = normalizeCors({ origins: ['*', 'null', 'https://a.test/', 'https://a.*.test', 'app.example.com'], credentials: true }).problems.map((p) => p.message);
    assert.equal(problems.length, 5);
    assert.match(problems[0]!, /with `credentials: true`/);
    assert.match(problems[1]!, /"null"/);
    assert.match(problems[2]!, /no path/);
    assert.match(problems[3]!, /leading "\*\."/);
    assert.match(problems[4]!, /not an origin/);
  });

  it('lower-cases origins and drops default ports so they match what browsers send', () => {
    const { config } = normalizeCors({ origins: ['HTTPS://App.Example.com:443', 'http://localhost:3000', 'https://*.Example.org:443'], methods: ['get', 'post'] });
    assert.deepEqual(config?.origins, ['https://app.example.com', 'http://localhost:3000']);
    assert.deepEqual(config?.wildcards, [{ scheme: 'https', suffix: '.example.org' }]);
    assert.deepEqual(config?.methods, ['GET', 'POST']);
    assert.equal(config?.maxAgeSeconds, 600);
  });
});
