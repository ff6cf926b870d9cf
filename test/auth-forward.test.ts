/**
 * Forward authentication against a real auth service on loopback.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { Answer } from '../src/core/middleware.js';
import { createAuth, normalizeAuth, type RawAuth } from '../src/middlewares/auth/index.js';
import { fakeContext, testLogger, valuesOf, type FakeRequest } from '../src/middlewares/auth/testing.js';

const { logger } = testLogger();

/**
 * The auth service: decides by the Authorization header.
 * `Bearer good-*` → 200 with x-user-id; `Bearer bad` → 401; `Bearer forbidden` → 403;
 * `Bearer boom` → 500; `Bearer slow` → never answers; nothing → 302 to a login page.
 */
interface AuthService {
  url: string;
  calls: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startAuthService(): Promise<AuthService> {
  const calls: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    calls.push(req.headers);
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Bearer good-')) {
      const user = auth.slice('Bearer good-'.length);
      res.writeHead(200, { 'x-user-id': user, 'x-user-roles': 'reader', 'x-internal': 'do-not-copy' }).end('ok');
    } else if (auth === 'Bearer bad') {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="idp"', 'x-internal': 'secret' }).end('{"error":"invalid token"}');
    } else if (auth === 'Bearer forbidden') {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('not for you');
    } else if (auth === 'Bearer boom') {
      res.writeHead(500).end('crash');
    } else if (auth === 'Bearer slow') {
      // never answers
    } else {
      res.writeHead(302, { location: 'https://login.test/?rd=x', 'set-cookie': 'csrf=nonce-123; HttpOnly' }).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/verify`,
    calls,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let service: AuthService;
const built: Array<ReturnType<typeof createAuth>> = [];

before(async () => {
  service = await startAuthService();
});
after(async () => {
  await Promise.all(built.map((m) => m.close?.()));
  await service.close();
});

function build(forwardAuth: Partial<NonNullable<RawAuth['forwardAuth']>> = {}, extra: Omit<RawAuth, 'forwardAuth'> = {}) {
  const { config, problems } = normalizeAuth({ forwardAuth: { url: service.url, copyHeaders: ['x-user-id', 'x-user-roles'], subjectHeader: 'x-user-id', ...forwardAuth }, ...extra }, tmpdir());
  assert.deepEqual(problems, []);
  const mw = createAuth(config!, { logger });
  built.push(mw);
  return mw;
}

async function call(mw: ReturnType<typeof createAuth>, req: FakeRequest) {
  const ctx = fakeContext(req);
  const answer = (await mw.handle(ctx)) as Answer | null;
  return { answer, ctx };
}

const as = (token: string, more: Partial<FakeRequest> = {}): FakeRequest => ({ ...more, headers: [['authorization', `Bearer ${token}`], ...(more.headers ?? [])] });

describe('forward-auth', () => {
  it('2xx allows: configured headers are copied to the target, client-sent copies stripped, identity set', async () => {
    const mw = build();
    const { answer, ctx } = await call(mw, as('good-u1', { headers: [['X-User-Id', 'admin'], ['x-user-roles', 'superuser']] }));
    assert.equal(answer, null);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-user-id'), ['u1']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-user-roles'), ['reader']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-internal'), [], 'only copyHeaders are copied');
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-auth-subject'), ['u1']);
    assert.equal(ctx.identity?.method, 'forward-auth');
    assert.deepEqual(ctx.identity?.claims, { 'x-user-id': 'u1', 'x-user-roles': 'reader' });
  });

  it('the service is asked with GET, the credentials and X-Forwarded-Method/Host/Uri/For; client X-Forwarded-* are not passed', async () => {
    const mw = build({ requestHeaders: ['authorization', 'cookie', 'x-forwarded-uri'] });
    const before = service.calls.length;
    await call(mw, as('good-u2', { method: 'DELETE', path: '/api/orders/7', query: 'force=1', clientIp: '203.0.113.9', headers: [['Host', 'shop.test'], ['cookie', 'sid=abc'], ['X-Forwarded-Uri', '/public']] }));
    assert.equal(service.calls.length, before + 1);
    const seen = service.calls.at(-1)!;
    assert.equal(seen['authorization'], 'Bearer good-u2');
    assert.equal(seen['cookie'], 'sid=abc');
    assert.equal(seen['x-forwarded-method'], 'DELETE');
    assert.equal(seen['x-forwarded-host'], 'shop.test');
    assert.equal(seen['x-forwarded-uri'], '/api/orders/7?force=1');
    assert.equal(seen['x-forwarded-for'], '203.0.113.9');
    assert.equal(seen['x-request-id'], 'test-request');
  });

  it('401 and 403 are passed on: status, body and challenge, nothing else', async () => {
    const mw = build();
    const denied = (await call(mw, as('bad'))).answer;
    assert.equal(denied?.status, 401);
    assert.equal(String(denied?.body), '{"error":"invalid token"}');
    assert.deepEqual(valuesOf(denied?.headers as string[], 'www-authenticate'), ['Bearer realm="idp"']);
    assert.deepEqual(valuesOf(denied?.headers as string[], 'content-type'), ['application/json']);
    assert.deepEqual(valuesOf(denied?.headers as string[], 'x-internal'), []);
    const forbidden = (await call(mw, as('forbidden'))).answer;
    assert.equal(forbidden?.status, 403);
    assert.equal(String(forbidden?.body), 'not for you');
  });

  it('a login redirect is passed on with its cookie, and never cached (the cookie is per client)', async () => {
    const mw = build();
    const before = service.calls.length;
    const first = (await call(mw, {})).answer;
    assert.equal(first?.status, 302);
    assert.deepEqual(valuesOf(first?.headers as string[], 'location'), ['https://login.test/?rd=x']);
    assert.deepEqual(valuesOf(first?.headers as string[], 'set-cookie'), ['csrf=nonce-123; HttpOnly']);
    await call(mw, {});
    assert.equal(service.calls.length, before + 2);
  });

  it('a 5xx from the service, a dead service and a slow one all give 503 BRISK_AUTH_UNAVAILABLE promptly', async () => {
    const boom = (await call(build(), as('boom'))).answer;
    assert.equal(boom?.status, 503);
    assert.equal(boom?.code, 'BRISK_AUTH_UNAVAILABLE');

    const dead = await startAuthService();
    const deadUrl = dead.url;
    await dead.close();
    const down = (await call(build({ url: deadUrl }), as('good-u1'))).answer;
    assert.equal(down?.status, 503);

    const started = Date.now();
    const slow = (await call(build({ timeout: '200ms' }), as('slow'))).answer;
    assert.equal(slow?.status, 503);
    assert.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms`);
  });

  it('answers are cached briefly per credentials and request; concurrent identical questions share one call', async () => {
    const mw = build({ cacheTtl: '300ms' });
    const before = service.calls.length;
    await call(mw, as('good-c1', { path: '/a' }));
    await call(mw, as('good-c1', { path: '/a' }));
    assert.equal(service.calls.length, before + 1, 'the same question is answered from the cache');
    await call(mw, as('good-c1', { path: '/b' }));
    assert.equal(service.calls.length, before + 2, 'another path is another question (cacheKey: request)');
    await call(mw, as('good-c2', { path: '/a' }));
    assert.equal(service.calls.length, before + 3, 'other credentials are another question');
    await Promise.all([1, 2, 3, 4].map(() => call(mw, as('good-c3'))));
    assert.equal(service.calls.length, before + 4, 'four at once, one call');
    const denied = (await call(mw, as('bad'))).answer;
    assert.equal(denied?.status, 401);
    assert.equal((await call(mw, as('bad'))).answer?.status, 401);
    assert.equal(service.calls.length, before + 5, 'a refusal without cookies is cached too');
    await new Promise((r) => setTimeout(r, 350));
    await call(mw, as('good-c1', { path: '/a' }));
    assert.equal(service.calls.length, before + 6, 'expired after cacheTtl');
  });

  it('cacheKey: credentials reuses an answer across paths; cacheTtl: 0 asks every time; errors are never cached', async () => {
    const byCreds = build({ cacheKey: 'credentials' });
    let before = service.calls.length;
    await call(byCreds, as('good-k1', { path: '/a' }));
    await call(byCreds, as('good-k1', { path: '/b', method: 'POST' }));
    assert.equal(service.calls.length, before + 1);

    const uncached = build({ cacheTtl: 0 });
    before = service.calls.length;
    await call(uncached, as('good-k1'));
    await call(uncached, as('good-k1'));
    assert.equal(service.calls.length, before + 2);

    const mw = build();
    before = service.calls.length;
    await call(mw, as('boom'));
    await call(mw, as('boom'));
    assert.equal(service.calls.length, before + 2);
  });

  it('the cache is bounded: the least recently used answer is evicted', async () => {
    const mw = build({ cacheSize: 2, cacheTtl: '10s' });
    const before = service.calls.length;
    for (const user of ['e1', 'e2', 'e3']) await call(mw, as(`good-${user}`));
    await call(mw, as('good-e3'));
    await call(mw, as('good-e2'));
    assert.equal(service.calls.length, before + 3, 'e2 and e3 still cached');
    await call(mw, as('good-e1'));
    assert.equal(service.calls.length, before + 4, 'e1 was evicted');
  });

  it('with other methods (anyOf), forward-auth decides only when no other credentials are present', async () => {
    const key = 'k_test_0123456789abcdef0123456789';
    const { hashSecret } = await import('../src/middlewares/auth/secrets.js');
    const mw = build({}, { apiKeys: { keys: [{ name: 'ci', hash: hashSecret(key, 'sha256') }] } });
    const before = service.calls.length;
    const withKey = await call(mw, { headers: [['x-api-key', key]] });
    assert.equal(withKey.answer, null);
    assert.equal(withKey.ctx.identity?.method, 'api-key');
    assert.equal(service.calls.length, before, 'not asked');
    const withBadKey = await call(mw, { headers: [['x-api-key', 'wrong'], ['authorization', 'Bearer good-u1']] });
    assert.equal(withBadKey.answer?.status, 401, 'the first present method decides; no fallback to forward-auth');
    const withToken = await call(mw, as('good-u9'));
    assert.equal(withToken.ctx.identity?.subject, 'u9');
  });
});
