/**
 * The route cache through a real gateway and a real backend: RFC 9111 directives, Age,
 * Vary, revalidation, conditional requests, invalidation, targeted fields, collapsing,
 * stale modes and purging. Each test uses its own path, so tests do not share entries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { httpGet, type Got } from './helpers/http-get.js';
import { PathRoutes, type PathHandler } from './helpers/path-routes.js';
import { CacheMiddleware } from '../src/middlewares/cache/index.js';
import { hashSecret } from '../src/middlewares/auth/index.js';

type Handler = PathHandler;

const routes = new PathRoutes();
const { handlers, hits, seen } = routes;
const on = (path: string, handler: Handler): string => routes.on(path, handler);

/** A handler answering `body` with the given headers. */
function reply(headers: Record<string, string | string[]>, body: string | ((n: number) => string) = (n) => `v${n}`, status = 200): Handler {
  return (_req, res, n) => {
    res.writeHead(status, headers);
    res.end(typeof body === 'string' ? body : body(n));
  };
}

const agent = new Agent({ connections: 2000, pipelining: 1 });

const get = (base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> => httpGet(base + path, { headers, method, dispatcher: agent });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const xcache = (g: Got) => g.headers['x-cache'];

describe('route cache (RFC 9111) through the gateway', () => {
  let backend: Backend;
  let gw: TestGateway;
  let base: string;

  before(async () => {
    backend = await startBackend(routes.handle);
    gw = await startGateway({
      logging: { accessLog: false, level: 'warn' },
      upstreams: { app: { targets: [{ url: backend.url }], retry: { attempts: 0 } } },
      routes: [
        { name: 'default-ttl', match: { pathPrefix: '/dflt/' }, upstream: 'app', cache: { defaultTtl: '60s' } },
        { name: 'targeted', match: { pathPrefix: '/tgt/' }, upstream: 'app', cache: { targets: ['Brisk-Cache-Control', 'CDN-Cache-Control'] } },
        { name: 'small', match: { pathPrefix: '/small/' }, upstream: 'app', cache: { maxObjectSize: '1kb' } },
        { name: 'stale', match: { pathPrefix: '/stale/' }, upstream: 'app', cache: { staleIfError: '1h' } },
        { name: 'cookies', match: { pathPrefix: '/cookie-ok/' }, upstream: 'app', cache: { allowSetCookie: true } },
        {
          name: 'protected',
          match: { pathPrefix: '/protected/' },
          upstream: 'app',
          auth: { apiKeys: { keys: [{ name: 'alice', hash: hashSecret('alice-key-0123456789abcdef', 'sha256') }, { name: 'bob', hash: hashSecret('bob-key-0123456789abcdef0', 'sha256') }] }, hideCredentials: false },
          cache: {},
        },
        { name: 'main', match: { pathPrefix: '/' }, upstream: 'app', cache: { collapseTimeout: '30s' } },
      ],
    });
    base = gw.url;
  });
  after(async () => {
    await gw?.stop();
    await backend?.close();
    await agent.close();
  });

  describe('freshness', () => {
    it('max-age: a miss, then hits with Age and no backend request', async () => {
      const p = on('/fresh/max-age', reply({ 'cache-control': 'max-age=60', 'content-type': 'text/plain' }));
      const a = await get(base, p);
      assert.equal(a.body, 'v1');
      assert.equal(xcache(a), 'MISS');
      assert.match(String(a.headers['cache-status']), /^Brisk; fwd=uri-miss; stored$/);
      const b = await get(base, p);
      assert.equal(b.body, 'v1');
      assert.equal(xcache(b), 'HIT');
      assert.ok(['0', '1'].includes(String(b.headers['age'])), 'Age counts the apparent age (Date has whole seconds)');
      assert.equal(b.headers['content-type'], 'text/plain');
      assert.equal(b.headers['content-length'], '2');
      assert.match(String(b.headers['cache-status']), /^Brisk; hit; ttl=(5\d|60)$/);
      assert.equal(hits.get(p), 1);
    });

    it('s-maxage wins over max-age for a shared cache', async () => {
      const p = on('/fresh/s-maxage', reply({ 'cache-control': 'max-age=0, s-maxage=60' }));
      await get(base, p);
      assert.equal(xcache(await get(base, p)), 'HIT');
      assert.equal(hits.get(p), 1);
    });

    it('Expires in the future is fresh; an invalid Expires is already stale', async () => {
      const p = on('/fresh/expires', reply({ expires: new Date(Date.now() + 60_000).toUTCString(), date: new Date().toUTCString() }));
      await get(base, p);
      assert.equal(xcache(await get(base, p)), 'HIT');
      const q = on('/fresh/expires-bad', reply({ expires: '0', 'last-modified': new Date(Date.now() - 86400_000).toUTCString() }));
      await get(base, q);
      await get(base, q);
      assert.equal(hits.get(q), 2, 'an invalid Expires must not fall back to heuristic freshness');
    });

    it('a repeated max-age with different values is stale; an invalid max-age is stale', async () => {
      const p = on('/fresh/dup', reply({ 'cache-control': ['max-age=60', 'max-age=30'] }));
      await get(base, p);
      await get(base, p);
      assert.equal(hits.get(p), 2);
      const q = on('/fresh/invalid', reply({ 'cache-control': 'max-age=abc' }));
      await get(base, q);
      await get(base, q);
      assert.equal(hits.get(q), 2);
    });

    it('heuristic freshness from Last-Modified, only for heuristically cacheable statuses', async () => {
      const lm = new Date(Date.now() - 10 * 86400_000).toUTCString();
      const p = on('/fresh/heuristic', reply({ 'last-modified': lm, date: new Date().toUTCString() }));
      await get(base, p);
      const b = await get(base, p);
      assert.equal(xcache(b), 'HIT');
      assert.equal(hits.get(p), 1);
      const q = on('/fresh/heuristic-302', reply({ 'last-modified': lm, location: '/x' }, '', 302));
      await get(base, q);
      await get(base, q);
      assert.equal(hits.get(q), 2, '302 is not heuristically cacheable');
    });

    it('without freshness information nothing is reused, unless the route has a defaultTtl', async () => {
      const p = on('/fresh/none', reply({}));
      await get(base, p);
      await get(base, p);
      assert.equal(hits.get(p), 2);
      const q = on('/dflt/none', reply({}));
      await get(base, q);
      assert.equal(xcache(await get(base, q)), 'HIT');
      assert.equal(hits.get(q), 1);
      const r = on('/dflt/explicit', reply({ 'cache-control': 'max-age=0' }));
      await get(base, r);
      await get(base, r);
      assert.equal(hits.get(r), 2, 'the default never overrides what the backend said');
    });

    it('Age from upstream and the apparent age count (RFC 9111 §4.2.3)', async () => {
      const p = on('/age/upstream', reply({ 'cache-control': 'max-age=600', age: '100' }));
      await get(base, p);
      const b = await get(base, p);
      assert.equal(xcache(b), 'HIT');
      assert.ok(Number(b.headers['age']) >= 100 && Number(b.headers['age']) <= 102, `age ${b.headers['age']}`);
      const q = on('/age/date', reply({ 'cache-control': 'max-age=600', date: new Date(Date.now() - 50_000).toUTCString() }));
      await get(base, q);
      const c = await get(base, q);
      assert.ok(Number(c.headers['age']) >= 49 && Number(c.headers['age']) <= 52, `age ${c.headers['age']}`);
      const r = on('/age/too-old', reply({ 'cache-control': 'max-age=60', age: '61' }));
      await get(base, r);
      await get(base, r);
      assert.equal(hits.get(r), 2, 'an Age past max-age is stale on arrival');
    });
  });

  describe('response directives', () => {
    it('no-store, private and Set-Cookie responses are not stored; Vary: * is never reused', async () => {
      for (const [path, headers] of [
        ['/resp/no-store', { 'cache-control': 'max-age=60, no-store' }],
        ['/resp/private', { 'cache-control': 'max-age=60, private' }],
        ['/resp/cookie', { 'cache-control': 'max-age=60', 'set-cookie': 'a=b' }],
        ['/resp/vary-star', { 'cache-control': 'max-age=60', vary: '*' }],
      ] as const) {
        const p = on(path, reply(headers));
        await get(base, p);
        await get(base, p);
        assert.equal(hits.get(p), 2, path);
      }
      const ok = on('/cookie-ok/x', reply({ 'cache-control': 'max-age=60', 'set-cookie': 'a=b' }));
      await get(base, ok);
      assert.equal(xcache(await get(base, ok)), 'HIT', 'allowSetCookie: true stores it');
    });

    it('private="field" stores the response without that field', async () => {
      const p = on('/resp/private-field', reply({ 'cache-control': 'max-age=60, private="x-secret"', 'x-secret': 's', 'x-public': 'p' }));
      await get(base, p);
      const b = await get(base, p);
      assert.equal(xcache(b), 'HIT');
      assert.equal(b.headers['x-secret'], undefined);
      assert.equal(b.headers['x-public'], 'p');
    });

    it('must-understand with an understood status overrides no-store', async () => {
      const p = on('/resp/must-understand', reply({ 'cache-control': 'max-age=60, no-store, must-understand' }));
      await get(base, p);
      assert.equal(xcache(await get(base, p)), 'HIT');
    });

    it('no-cache: stored, but revalidated with If-None-Match every time; a 304 serves the stored body', async () => {
      const p = on('/resp/no-cache', (req, res, n) => {
        if (req.headers['if-none-match'] === '"e1"') {
          res.writeHead(304, { etag: '"e1"', 'cache-control': 'no-cache', 'x-n': String(n) });
          res.end();
          return;
        }
        res.writeHead(200, { etag: '"e1"', 'cache-control': 'no-cache', 'x-n': String(n) });
        res.end('body');
      });
      await get(base, p);
      const b = await get(base, p);
      assert.equal(b.status, 200);
      assert.equal(b.body, 'body');
      assert.equal(xcache(b), 'REVALIDATED');
      assert.equal(b.headers['x-n'], '2', 'headers are updated from the 304 (RFC 9111 §3.2)');
      assert.equal(seen.get(p)![1]!['if-none-match'], '"e1"');
      assert.equal(hits.get(p), 2);
    });

    it('no-cache="field": reused without revalidation, minus that field', async () => {
      const p = on('/resp/no-cache-field', reply({ 'cache-control': 'max-age=60, no-cache="x-token"', 'x-token': 't' }));
      const a = await get(base, p);
      assert.equal(a.headers['x-token'], 't');
      const b = await get(base, p);
      assert.equal(xcache(b), 'HIT');
      assert.equal(b.headers['x-token'], undefined);
    });

    it('revalidation with Last-Modified sends If-Modified-Since', async () => {
      const lm = new Date(Date.now() - 3600_000).toUTCString();
      const p = on('/resp/lm', (req, res) => {
        if (req.headers['if-modified-since'] === lm) {
          res.writeHead(304, { 'cache-control': 'max-age=60' });
          res.end();
          return;
        }
        res.writeHead(200, { 'last-modified': lm, 'cache-control': 'max-age=0' });
        res.end('lm');
      });
      await get(base, p);
      const b = await get(base, p);
      assert.equal(b.body, 'lm');
      assert.equal(xcache(b), 'REVALIDATED');
      const c = await get(base, p);
      assert.equal(xcache(c), 'HIT', 'the 304 gave the entry a fresh max-age');
      assert.equal(hits.get(p), 2);
    });

    it('hop-by-hop fields and those named in Connection are never stored', async () => {
      const p = on('/resp/hop', (_req, res) => {
        res.setHeader('cache-control', 'max-age=60');
        res.setHeader('connection', 'x-hop');
        res.setHeader('x-hop', '1');
        res.setHeader('keep-alive', 'timeout=5');
        res.end('h');
      });
      await get(base, p);
      const b = await get(base, p);
      assert.equal(xcache(b), 'HIT');
      assert.equal(b.headers['x-hop'], undefined);
    });

    it('uncacheable statuses and methods are not stored', async () => {
      const p = on('/resp/206', reply({ 'cache-control': 'max-age=60', 'content-range': 'bytes 0-1/10' }, 'ab', 206));
      await get(base, p);
      await get(base, p);
      assert.equal(hits.get(p), 2);
      const q = on('/resp/post', reply({ 'cache-control': 'max-age=60' }));
      await get(base, q, {}, 'POST');
      const b = await get(base, q);
      assert.equal(xcache(b), 'MISS');
    });
  });

  describe('request directives', () => {
    it('no-cache and Pragma: no-cache go to the backend; max-age=0 revalidates', async () => {
      const p = on('/req/no-cache', reply({ 'cache-control': 'max-age=60', etag: '"x"' }));
      await get(base, p);
      await get(base, p, { 'cache-control': 'no-cache' });
      assert.equal(hits.get(p), 2);
      await get(base, p, { pragma: 'no-cache' });
      assert.equal(hits.get(p), 3);
      await get(base, p, { pragma: 'no-cache', 'cache-control': 'max-stale' });
      assert.equal(hits.get(p), 3, 'Pragma is ignored when Cache-Control is present');
      await get(base, p, { 'cache-control': 'max-age=0' });
      assert.equal(hits.get(p), 4);
      assert.equal(seen.get(p)![3]!['if-none-match'], '"x"');
    });

    it('min-fresh and max-age limit what is reused', async () => {
      const p = on('/req/min-fresh', reply({ 'cache-control': 'max-age=60', age: '30' }));
      await get(base, p);
      assert.equal(xcache(await get(base, p, { 'cache-control': 'min-fresh=10' })), 'HIT');
      await get(base, p, { 'cache-control': 'min-fresh=40' });
      assert.equal(hits.get(p), 2);
      const q = on('/req/max-age', reply({ 'cache-control': 'max-age=60', age: '30' }));
      await get(base, q);
      await get(base, q, { 'cache-control': 'max-age=10' });
      assert.equal(hits.get(q), 2);
    });

    it('max-stale serves a stale response, unless must-revalidate or s-maxage forbid it', async () => {
      const p = on('/req/max-stale', reply({ 'cache-control': 'max-age=10', age: '20' }));
      await get(base, p);
      const b = await get(base, p, { 'cache-control': 'max-stale=30' });
      assert.equal(xcache(b), 'STALE');
      assert.equal(hits.get(p), 1);
      await get(base, p, { 'cache-control': 'max-stale=5' });
      assert.equal(hits.get(p), 2);
      const q = on('/req/max-stale-mr', reply({ 'cache-control': 'max-age=10, must-revalidate', age: '20' }));
      await get(base, q);
      await get(base, q, { 'cache-control': 'max-stale' });
      assert.equal(hits.get(q), 2);
      const r = on('/req/max-stale-smaxage', reply({ 'cache-control': 's-maxage=10', age: '20' }));
      await get(base, r);
      await get(base, r, { 'cache-control': 'max-stale' });
      assert.equal(hits.get(r), 2);
    });

    it('only-if-cached: 504 when nothing is stored, the stored response otherwise', async () => {
      const p = on('/req/oic', reply({ 'cache-control': 'max-age=60' }));
      const a = await get(base, p, { 'cache-control': 'only-if-cached' });
      assert.equal(a.status, 504);
      assert.equal(JSON.parse(a.body).error.code, 'BRISK_CACHE_ONLY_IF_CACHED');
      assert.equal(hits.get(p), 0);
      await get(base, p);
      const b = await get(base, p, { 'cache-control': 'only-if-cached' });
      assert.equal(b.status, 200);
      assert.equal(xcache(b), 'HIT');
    });

    it('no-store in the request: the response is not stored', async () => {
      const p = on('/req/no-store', reply({ 'cache-control': 'max-age=60' }));
      await get(base, p, { 'cache-control': 'no-store' });
      await get(base, p);
      assert.equal(hits.get(p), 2);
    });

    it('Authorization: stored only when the response allows it (public, s-maxage, must-revalidate)', async () => {
      const p = on('/req/auth', reply({ 'cache-control': 'max-age=60' }));
      await get(base, p, { authorization: 'Bearer a' });
      await get(base, p, { authorization: 'Bearer a' });
      assert.equal(hits.get(p), 2);
      const q = on('/req/auth-public', reply({ 'cache-control': 'public, max-age=60' }));
      await get(base, q, { authorization: 'Bearer a' });
      assert.equal(xcache(await get(base, q, { authorization: 'Bearer b' })), 'HIT');
      assert.equal(hits.get(q), 1);
    });
  });

  describe('protected routes', () => {
    it('auth runs first; an authenticated response is shared only when it says public', async () => {
      const p = on('/protected/me', (req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' });
        res.end(`for ${String(req.headers['x-api-key']).slice(0, 5)}`);
      });
      assert.equal((await get(base, p)).status, 401, 'no key: refused before the cache');
      assert.equal((await get(base, p, { 'x-api-key': 'alice-key-0123456789abcdef' })).body, 'for alice');
      assert.equal((await get(base, p, { 'x-api-key': 'bob-key-0123456789abcdef0' })).body, 'for bob-k', "bob never gets alice's answer");
      assert.equal((await get(base, p)).status, 401, 'a stored response is never served to an unauthenticated client');
      const q = on('/protected/catalogue', reply({ 'cache-control': 'public, max-age=60' }));
      await get(base, q, { 'x-api-key': 'alice-key-0123456789abcdef' });
      assert.equal(xcache(await get(base, q, { 'x-api-key': 'bob-key-0123456789abcdef0' })), 'HIT');
      assert.equal(hits.get(q), 1);
    });
  });

  describe('Vary, conditionals, HEAD and invalidation', () => {
    it('Vary selects by the normalised request header values', async () => {
      const p = on('/vary/lang', (req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' });
        res.end(`lang:${req.headers['accept-language'] ?? '-'}`);
      });
      assert.equal((await get(base, p, { 'accept-language': 'en' })).body, 'lang:en');
      assert.equal((await get(base, p, { 'accept-language': 'de' })).body, 'lang:de');
      const en = await get(base, p, { 'accept-language': 'EN' });
      assert.equal(en.body, 'lang:en');
      assert.equal(xcache(en), 'HIT');
      assert.equal((await get(base, p)).body, 'lang:-');
      assert.equal(hits.get(p), 3);
      const q = on('/vary/enc', reply({ 'cache-control': 'max-age=60', vary: 'accept-encoding' }));
      await get(base, q, { 'accept-encoding': 'gzip,  br' });
      assert.equal(xcache(await get(base, q, { 'accept-encoding': 'gzip, br' })), 'HIT');
    });

    it("answers the client's own conditional request from the cache", async () => {
      const lm = new Date(Date.now() - 86400_000).toUTCString();
      const p = on('/cond/etag', reply({ 'cache-control': 'max-age=60', etag: 'W/"v1"', 'last-modified': lm, 'content-type': 'text/plain' }));
      await get(base, p);
      const a = await get(base, p, { 'if-none-match': '"v1"' });
      assert.equal(a.status, 304);
      assert.equal(a.body, '');
      assert.equal(a.headers['etag'], 'W/"v1"');
      assert.equal(a.headers['content-type'], undefined);
      assert.equal((await get(base, p, { 'if-none-match': '"other"' })).status, 200);
      assert.equal((await get(base, p, { 'if-modified-since': new Date().toUTCString() })).status, 304);
      assert.equal((await get(base, p, { 'if-modified-since': new Date(Date.now() - 2 * 86400_000).toUTCString() })).status, 200);
      assert.equal(hits.get(p), 1);
    });

    it('HEAD is answered from a stored GET', async () => {
      const p = on('/head/x', reply({ 'cache-control': 'max-age=60' }, 'hello'));
      await get(base, p);
      const h = await get(base, p, {}, 'HEAD');
      assert.equal(h.status, 200);
      assert.equal(h.body, '');
      assert.equal(h.headers['content-length'], '5');
      assert.equal(xcache(h), 'HIT');
      assert.equal(hits.get(p), 1);
    });

    it('a HEAD response freshens the stored GET, or drops it when it describes another representation (§4.3.5)', async () => {
      const p = on('/head/update', (req, res, n) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"h1"', 'x-n': String(n), 'content-length': '5' });
        res.end(req.method === 'HEAD' ? undefined : 'hello');
      });
      await get(base, p);
      await get(base, p, { 'cache-control': 'no-cache' }, 'HEAD');
      const b = await get(base, p);
      assert.equal(xcache(b), 'HIT');
      assert.equal(b.headers['x-n'], '2', 'stored headers updated from the HEAD response');
      assert.equal(b.body, 'hello');
      handlers.set(p, (req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"h2"', 'content-length': '6' });
        res.end(req.method === 'HEAD' ? undefined : 'hello!');
      });
      await get(base, p, { 'cache-control': 'no-cache' }, 'HEAD');
      assert.equal(xcache(await get(base, p)), 'MISS', 'another ETag: the stored GET is dropped');
    });

    it('an unsafe request with a non-error response invalidates the URL and same-host Location/Content-Location', async () => {
      const p = on('/inv/item', (req, res, n) => {
        if (req.method === 'POST') {
          res.writeHead(201, { location: '/inv/other', 'content-location': 'http://elsewhere.example/inv/third' });
          res.end();
          return;
        }
        res.writeHead(200, { 'cache-control': 'max-age=60' });
        res.end(`v${n}`);
      });
      const o = on('/inv/other', reply({ 'cache-control': 'max-age=60' }));
      await get(base, p);
      await get(base, o);
      assert.equal(xcache(await get(base, p)), 'HIT');
      await get(base, p, {}, 'POST');
      assert.equal(xcache(await get(base, p)), 'MISS');
      assert.equal(xcache(await get(base, o)), 'MISS', 'Location on the same host is invalidated');
      const e = on('/inv/error', (req, res) => {
        res.writeHead(req.method === 'GET' ? 200 : 500, { 'cache-control': 'max-age=60' });
        res.end();
      });
      await get(base, e);
      await get(base, e, {}, 'DELETE');
      assert.equal(xcache(await get(base, e)), 'HIT', 'an error response does not invalidate');
    });
  });

  describe('targeted fields (RFC 9213)', () => {
    it('CDN-Cache-Control takes precedence over Cache-Control', async () => {
      const p = on('/tgt/cdn', reply({ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }));
      await get(base, p);
      assert.equal(xcache(await get(base, p)), 'HIT');
      const q = on('/tgt/cdn-no', reply({ 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store' }));
      await get(base, q);
      await get(base, q);
      assert.equal(hits.get(q), 2);
    });

    it('the configured target list is in order: Brisk-Cache-Control first', async () => {
      const p = on('/tgt/brisk', reply({ 'brisk-cache-control': 'max-age=60', 'cdn-cache-control': 'no-store', 'cache-control': 'no-store' }));
      await get(base, p);
      assert.equal(xcache(await get(base, p)), 'HIT');
    });
  });

  describe('storage limits', () => {
    it('a response over maxObjectSize streams through whole and is not stored', async () => {
      const big = 'x'.repeat(5000);
      const p = on('/small/big', (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' });
        // Chunked (no Content-Length): the cache only learns the size while streaming.
        res.write(big.slice(0, 500));
        setTimeout(() => res.end(big.slice(500)), 10);
      });
      const a = await get(base, p);
      assert.equal(a.body.length, 5000);
      const b = await get(base, p);
      assert.equal(b.body.length, 5000);
      assert.equal(hits.get(p), 2);
      const q = on('/small/ok', reply({ 'cache-control': 'max-age=60' }, 'y'.repeat(500)));
      await get(base, q);
      assert.equal(xcache(await get(base, q)), 'HIT');
    });
  });

  describe('request collapsing', () => {
    it('1,000 concurrent requests for a cold key reach the backend once', { timeout: 60_000 }, async () => {
      const cache = gw.gw.runtime.pipelineOfRoute[6]!.find((m) => m instanceof CacheMiddleware) as CacheMiddleware;
      const before = cache.cacheStats().collapsed;
      let waitedFor = 0;
      const p = on('/collapse/cold', (_req, res) => {
        // Answer only once all 999 others are waiting in the gateway (or after 20 s):
        // every one of the 1,000 requests is a concurrent miss.
        const started = Date.now();
        const poll = () => {
          waitedFor = cache.cacheStats().collapsed - before;
          if (waitedFor < 999 && Date.now() - started < 20_000) return void setTimeout(poll, 20);
          res.writeHead(200, { 'cache-control': 'max-age=60' });
          res.end('once');
        };
        poll();
      });
      const all = await Promise.all(Array.from({ length: 1000 }, () => get(base, p)));
      assert.equal(waitedFor, 999, 'all other requests were waiting for the first');
      assert.equal(hits.get(p), 1);
      assert.ok(all.every((g) => g.status === 200 && g.body === 'once'));
    });

    it('when the first response is not cacheable, the waiters go to the backend themselves', async () => {
      const p = on('/collapse/private', (_req, res, n) => {
        setTimeout(() => {
          res.writeHead(200, { 'cache-control': 'private' });
          res.end(`p${n}`);
        }, 100);
      });
      const all = await Promise.all(Array.from({ length: 20 }, () => get(base, p)));
      assert.equal(hits.get(p), 20);
      assert.equal(new Set(all.map((g) => g.body)).size, 20, 'each got its own private answer');
    });
  });

  describe('collapsing and failures', () => {
    it('when the collapsed leader fails, the waiters get the stale copy too (stale-if-error)', async () => {
      let fail = false;
      const p = on('/stale/collapse', (_req, res, n) => {
        if (!fail) {
          res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60', etag: '"c"' });
          res.end(`v${n}`);
          return;
        }
        setTimeout(() => {
          res.writeHead(500);
          res.end('boom');
        }, 200);
      });
      await get(base, p);
      await sleep(1100);
      fail = true;
      const all = await Promise.all(Array.from({ length: 20 }, () => get(base, p)));
      assert.equal(hits.get(p), 2, 'one request reached the failing backend');
      for (const g of all) {
        assert.equal(g.status, 200);
        assert.equal(g.body, 'v1');
        assert.equal(xcache(g), 'STALE');
      }
    });
  });

  describe('stale modes', () => {
    it('stale-while-revalidate: stale at once, one background refresh', async () => {
      const p = on('/swr/x', (_req, res, n) => {
        res.writeHead(200, { 'cache-control': `max-age=${n === 1 ? 1 : 60}, stale-while-revalidate=60`, etag: `"${n}"` });
        res.end(`v${n}`);
      });
      await get(base, p);
      await sleep(1100);
      const stale = await Promise.all([get(base, p), get(base, p), get(base, p)]);
      for (const s of stale) {
        assert.equal(s.body, 'v1');
        assert.equal(xcache(s), 'STALE');
      }
      await sleep(100);
      assert.equal(hits.get(p), 2, 'exactly one background refresh');
      const fresh = await get(base, p);
      assert.equal(fresh.body, 'v2');
      assert.equal(xcache(fresh), 'HIT');
    });

    it('stale-if-error: a 5xx, a dead backend and an open breaker get the stale copy', async () => {
      let mode: 'ok' | '500' = 'ok';
      const p = on('/stale/sie', (_req, res, n) => {
        if (mode === '500') {
          res.writeHead(503);
          res.end('down');
          return;
        }
        res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60' });
        res.end(`v${n}`);
      });
      await get(base, p);
      await sleep(1100);
      mode = '500';
      const a = await get(base, p);
      assert.equal(a.status, 200);
      assert.equal(a.body, 'v1');
      assert.equal(xcache(a), 'STALE');
      const q = on('/stale/mr', reply({ 'cache-control': 'max-age=0, must-revalidate, stale-if-error=60' }, (n) => (n === 1 ? 'ok' : 'x'), 200));
      await get(base, q);
      handlers.set(q, reply({}, 'down', 500));
      assert.equal((await get(base, q)).status, 500, 'must-revalidate forbids serving stale');
    });
  });

  describe('purging through the admin API', () => {
    async function purge(body: object): Promise<{ status: number; json: Record<string, unknown> }> {
      const res = await request(`${gw.adminUrl}/api/cache/purge`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
    }
    it('by URL, by prefix and by tag', async () => {
      const a = on('/purge/a', reply({ 'cache-control': 'max-age=60', 'cache-tag': 'red blue' }));
      const b = on('/purge/b', reply({ 'cache-control': 'max-age=60', 'surrogate-key': 'green,blue' }));
      const c = on('/purge/sub/c', reply({ 'cache-control': 'max-age=60' }));
      for (const p of [a, b, c]) await get(base, p);
      for (const p of [a, b, c]) assert.equal(xcache(await get(base, p)), 'HIT');
      assert.equal((await purge({ url: `${base}${a}` })).status, 200);
      assert.equal(xcache(await get(base, a)), 'MISS');
      assert.equal(xcache(await get(base, b)), 'HIT');
      await purge({ tag: 'green' });
      assert.equal(xcache(await get(base, b)), 'MISS');
      assert.equal(xcache(await get(base, a)), 'HIT');
      await purge({ tag: 'blue' });
      assert.equal(xcache(await get(base, a)), 'MISS');
      await purge({ prefix: '/purge/sub/' });
      assert.equal(xcache(await get(base, c)), 'MISS');
      assert.equal((await purge({})).status, 400);
    });

    it('counters per route', async () => {
      const res = await request(`${gw.adminUrl}/api/cache`);
      const body = (await res.body.json()) as { routes: Record<string, { hits: number; misses: number }> };
      assert.ok(body.routes['main']!.hits > 10);
      assert.ok(body.routes['main']!.misses > 10);
      // The same results in /metrics and in the stats the dashboard and alert rules read.
      const text = await (await request(`${gw.adminUrl}/metrics`)).body.text();
      const count = (result: string) => Number(new RegExp(`^brisk_cache_requests_total\\{route="main",result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 'NaN');
      assert.ok(count('hit') > 10, 'hits counted in /metrics');
      assert.ok(count('miss') > 10, 'misses counted in /metrics');
      const stats = (await (await request(`${gw.adminUrl}/api/stats?window=60`)).body.json()) as { routes: { name: string; cache: { hits: number } | null }[] };
      assert.ok((stats.routes.find((r) => r.name === 'main')?.cache?.hits ?? 0) > 10);
    });
  });

  describe('stale-if-error from the route default: dead backend and open breaker', () => {
    it('serves the stale copy on 5xx, refused connections and while the circuit is open', async () => {
      let status = 200;
      let n = 0;
      const dying = await startBackend((_req, res) => {
        n++;
        res.writeHead(status, status === 200 ? { 'cache-control': 'max-age=1' } : {});
        res.end(`n${n}`);
      });
      const g = await startGateway({
        logging: { accessLog: false, level: 'error' },
        upstreams: {
          app: {
            targets: [{ url: dying.url }],
            retry: { attempts: 0 },
            outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 0 },
            circuitBreaker: { errorThreshold: 50, minimumRequests: 3, window: '10s', openDuration: '30s', halfOpenRequests: 1 },
          },
        },
        routes: [{ name: 'r', upstream: 'app', cache: { staleIfError: '1h' } }],
      });
      try {
        assert.equal((await get(g.url, '/e')).body, 'n1');
        await sleep(1100);
        status = 502;
        const a = await get(g.url, '/e');
        assert.equal(a.status, 200);
        assert.equal(a.body, 'n1');
        assert.match(String(a.headers['cache-status']), /fwd=stale; fwd-status=502/);
        await dying.close();
        const b = await get(g.url, '/e');
        assert.equal(b.status, 200);
        assert.equal(b.body, 'n1');
        assert.match(String(b.headers['cache-status']), /detail=BRISK_UPSTREAM_CONNECT_FAILED/);
        const c = await get(g.url, '/e');
        assert.equal(c.status, 200);
        assert.equal(c.body, 'n1');
        assert.match(String(c.headers['cache-status']), /detail=BRISK_CIRCUIT_OPEN/);
        const none = await get(g.url, '/never-stored');
        assert.equal(none.status, 503, 'nothing stored: the breaker answers');
      } finally {
        await g.stop();
        await dying.close();
      }
    });
  });
});
