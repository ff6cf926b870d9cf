/**
 * The route cache against the cases a public conformance suite for shared caches
 * (http-tests/cache-tests) found failing, through a real gateway and a real backend:
 * Expires parsing (RFC 9111 §5.3), invalid targeted fields (RFC 9213), a 304 that
 * revalidates nothing stored (RFC 9111 §4.3.4), and how retries and stale-if-error
 * compose. Test names carry the suite's test ids where there is one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { httpGet } from './helpers/http-get.js';
import { PathRoutes, type PathHandler } from './helpers/path-routes.js';

const routes = new PathRoutes();
const seen = routes.seen;
const on = (path: string, handler: PathHandler): string => routes.on(path, handler);
const hits = (path: string) => routes.hits.get(path)!;

const agent = new Agent({ connections: 50, pipelining: 1 });

const get = (base: string, path: string, headers: Record<string, string> = {}) => httpGet(base + path, { headers, dispatcher: agent });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const httpDate = (offsetS: number) => new Date(Date.now() + offsetS * 1000).toUTCString();
const FAR_FUTURE = 'Thu, 18 Aug 2050 02:01:18 GMT';

describe('route cache conformance (http-tests/cache-tests findings)', () => {
  let backend: Backend;
  let gw: TestGateway;
  let base: string;

  before(async () => {
    backend = await startBackend(routes.handle);
    gw = await startGateway({
      logging: { accessLog: false, level: 'warn' },
      upstreams: {
        // Retries as a user gets them with nothing configured (2 retries on 502, 503, 504).
        dflt: { targets: [{ url: backend.url }] },
        noretry: { targets: [{ url: backend.url }], retry: { attempts: 0 } },
      },
      routes: [
        { name: 'defaults', match: { pathPrefix: '/dflt/' }, upstream: 'dflt', cache: {} },
        { name: 'main', match: { pathPrefix: '/' }, upstream: 'noretry', cache: {} },
      ],
    });
    base = gw.url;
  });
  after(async () => {
    await gw?.stop();
    await backend?.close();
    await agent.close();
  });

  /** Stores a response with these headers, asks again, and says whether the second answer came from the cache. */
  async function reused(path: string, headers: [string, string][]): Promise<boolean> {
    on(path, (_req, res, n) => {
      res.writeHead(200, headers.flat());
      res.end(`v${n}`);
    });
    const first = await get(base, path);
    assert.equal(first.body, 'v1');
    const second = await get(base, path);
    return second.body === 'v1';
  }

  describe('Expires (RFC 9111 §5.3): only a valid HTTP-date gives freshness', () => {
    it('freshness-expires-invalid-{utc,no-comma,multiple-spaces,date-dashes,1-digit-hour,multiple-lines}: already stale', async () => {
      const cases: [string, string[]][] = [
        ['utc', ['Thu, 18 Aug 2050 02:01:18 UTC']],
        ['no-comma', ['Thu 18 Aug 2050 02:01:18 GMT']],
        ['multiple-spaces', ['Thu, 18  Aug  2050 02:01:18 GMT']],
        ['date-dashes', ['Thu, 18-Aug-2050 02:01:18 GMT']],
        ['1-digit-hour', ['Thu, 18 Aug 2050 2:01:18 GMT']],
        ['multiple-lines', [FAR_FUTURE, 'Thu, 18 Aug 2050 02:01:19 GMT']],
      ];
      for (const [id, values] of cases) {
        const headers: [string, string][] = [...values.map((v): [string, string] => ['Expires', v]), ['Date', httpDate(0)]];
        assert.equal(await reused(`/expires/invalid-${id}`, headers), false, id);
      }
    });

    it('freshness-expires-rfc850 and -wrong-case-weekday: fresh until 2050', async () => {
      assert.equal(await reused('/expires/rfc850', [['Expires', 'Thursday, 18-Aug-50 02:01:18 GMT'], ['Date', httpDate(0)]]), true, 'two-digit year 50 is 2050');
      assert.equal(await reused('/expires/upper-weekday', [['Expires', 'THU, 18 Aug 2050 02:01:18 GMT'], ['Date', httpDate(0)]]), true);
      assert.equal(await reused('/expires/valid', [['Expires', FAR_FUTURE], ['Date', httpDate(0)]]), true);
    });
  });

  describe('targeted fields (RFC 9213): an invalid CDN-Cache-Control is ignored whole', () => {
    it('cdn-cc-invalid-sh-type-unknown and -wrong: Cache-Control: no-store applies', async () => {
      assert.equal(await reused('/cdn/unknown', [['CDN-Cache-Control', 'max-age=10000, &&&&&'], ['Cache-Control', 'no-store']]), false);
      assert.equal(await reused('/cdn/wrong-type', [['CDN-Cache-Control', 'max-age="10000"'], ['Cache-Control', 'no-store']]), false);
      assert.equal(await reused('/cdn/valid', [['CDN-Cache-Control', 'max-age=10000'], ['Cache-Control', 'no-store']]), true);
    });
  });

  describe('a 304 that revalidates nothing stored (RFC 9111 §4.3.4)', () => {
    /** An origin whose representation changed from "a" to "b", but that answers any If-None-Match with 304 and the new ETag. */
    function changedOrigin(path: string): string {
      return on(path, (req, res, n) => {
        if (n === 1) {
          res.writeHead(200, { 'cache-control': 'max-age=1', etag: '"a"' });
          res.end('old');
          return;
        }
        if (req.headers['if-none-match'] !== undefined) {
          res.writeHead(304, { 'cache-control': 'max-age=60', etag: '"b"' });
          res.end();
          return;
        }
        res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"b"' });
        res.end('new');
      });
    }

    // These paths go through the route whose upstream has retries off: the second request is not a retry.
    it('an unconditional client gets the whole new response, fetched again without validators, and it is stored', async () => {
      const p = changedOrigin('/r304/unconditional');
      await get(base, p);
      await sleep(1100);
      const g = await get(base, p);
      assert.equal(g.status, 200);
      assert.equal(g.body, 'new');
      assert.equal(g.headers['etag'], '"b"');
      const sent = seen.get(p)!;
      assert.equal(sent.length, 3);
      assert.equal(sent[1]!['if-none-match'], '"a"', 'revalidated with the stored ETag');
      assert.equal(sent[2]!['if-none-match'], undefined, 'asked again without it');
      const h = await get(base, p);
      assert.equal(h.body, 'new');
      assert.equal(h.headers['x-cache'], 'HIT');
      assert.equal(hits(p), 3);
    });

    it('a client whose own If-None-Match the 304 answers gets the 304', async () => {
      const p = changedOrigin('/r304/conditional');
      await get(base, p);
      await sleep(1100);
      const g = await get(base, p, { 'if-none-match': '"b"' });
      assert.equal(g.status, 304);
      assert.equal(hits(p), 2);
    });

    it('a client with another If-None-Match is asked for with its own condition only', async () => {
      const p = changedOrigin('/r304/other-condition');
      await get(base, p);
      await sleep(1100);
      const g = await get(base, p, { 'if-none-match': '"z"' });
      assert.equal(g.status, 304, 'this origin answers any If-None-Match with 304');
      const sent = seen.get(p)!;
      assert.equal(sent[1]!['if-none-match'], '"z", "a"');
      assert.equal(sent[2]!['if-none-match'], '"z"', 'the cache took its validator back');
    });

    it('a stale-while-revalidate refresh answered so is fetched again and refreshes the entry', async () => {
      const p = on('/r304/swr', (req, res, n) => {
        if (n === 1) {
          res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60', etag: '"a"' });
          res.end('old');
          return;
        }
        res.writeHead(req.headers['if-none-match'] !== undefined ? 304 : 200, { 'cache-control': 'max-age=60', etag: '"b"' });
        res.end(req.headers['if-none-match'] !== undefined ? undefined : 'new');
      });
      await get(base, p);
      await sleep(1100);
      assert.equal((await get(base, p)).body, 'old', 'stale at once');
      for (let i = 0; i < 50 && hits(p) < 3; i++) await sleep(20);
      const h = await get(base, p);
      assert.equal(h.body, 'new');
      assert.equal(h.headers['x-cache'], 'HIT');
      assert.equal(hits(p), 3);
    });

    it('an origin that answers 304 even without validators: 502, never a 304 to an unconditional request', async () => {
      const p = on('/r304/broken', (_req, res, n) => {
        res.writeHead(n === 1 ? 200 : 304, { 'cache-control': 'max-age=1', etag: n === 1 ? '"a"' : '"b"' });
        res.end(n === 1 ? 'old' : undefined);
      });
      await get(base, p);
      await sleep(1100);
      const g = await get(base, p);
      assert.equal(g.status, 502);
      assert.equal((JSON.parse(g.body) as { error: { code: string } }).error.code, 'BRISK_UPSTREAM_BAD_RESPONSE');
      assert.match(String(g.headers['cache-status']), /detail=unmatched-304/);
      assert.equal(hits(p), 3, 'asked once more, not in a loop');
    });
  });

  describe('retries and stale-if-error (default retry policy)', () => {
    it('a 503 with a stale copy under stale-if-error is answered from it at once, not retried', async () => {
      let failing = false;
      const p = on('/dflt/sie', (_req, res, n) => {
        if (failing) {
          res.writeHead(503);
          res.end('down');
          return;
        }
        res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60' });
        res.end(`v${n}`);
      });
      await get(base, p);
      await sleep(1100);
      failing = true;
      const g = await get(base, p);
      assert.equal(g.status, 200);
      assert.equal(g.body, 'v1');
      assert.equal(g.headers['x-cache'], 'STALE');
      assert.match(String(g.headers['cache-status']), /fwd-status=503/);
      assert.equal(hits(p), 2, 'the failing origin saw one request, not three');
    });

    it('without a stale copy it may serve, a 503 is still retried', async () => {
      const p = on('/dflt/no-copy', (_req, res) => {
        res.writeHead(503);
        res.end('down');
      });
      assert.equal((await get(base, p)).status, 503);
      assert.equal(hits(p), 3, 'the first try and two retries');
      let failing = false;
      const q = on('/dflt/no-sie', (_req, res, n) => {
        res.writeHead(failing ? 503 : 200, failing ? {} : { 'cache-control': 'max-age=1' });
        res.end(`v${n}`);
      });
      await get(base, q);
      await sleep(1100);
      failing = true;
      assert.equal((await get(base, q)).status, 503, 'no stale-if-error: the stored copy may not be served');
      assert.equal(hits(q), 4);
    });
  });
});
