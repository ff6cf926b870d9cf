/**
 * The parts' response cache of aggregate routes (`aggregate.cache`), with real backends:
 * fresh part responses are reused across requests and concurrent misses collapse into one
 * backend request; what the backend does not allow to be shared is fetched every time.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

type Json = Record<string, unknown>;

function send(res: ServerResponse, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

describe('aggregate part cache', () => {
  const hits = new Map<string, number>();
  const count = (path: string) => hits.set(path, (hits.get(path) ?? 0) + 1);
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((req, res) => {
      const path = req.url ?? '/';
      count(path);
      // Slow enough that concurrent requests overlap.
      setTimeout(() => {
        if (path.startsWith('/orders/')) return send(res, { id: 1, productIds: [1, 3, 1] }, {});
        if (path.startsWith('/products/')) return send(res, { id: Number(path.split('/')[2]), name: 'p' }, { 'cache-control': 'max-age=60' });
        if (path === '/private') return send(res, { mine: true }, { 'cache-control': 'private, max-age=60' });
        if (path === '/shared-with-auth') return send(res, { ok: true }, { 'cache-control': 'max-age=60' });
        if (path === '/public-with-auth') return send(res, { ok: true }, { 'cache-control': 'public, max-age=60' });
        send(res, { path }, { 'cache-control': 'max-age=60' });
      }, 30);
    });
    gw = await startGateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [
        {
          name: 'details',
          match: { path: '/details/:id' },
          aggregate: {
            cache: { maxBytes: '1mb' },
            parts: {
              order: { upstream: 'app', path: '/orders/${params.id}' },
              products: { upstream: 'app', forEach: 'order.productIds', path: '/products/${item}', into: 'order.products' },
              uncached: { upstream: 'app', path: '/always', cache: false },
              mine: { upstream: 'app', path: '/private' },
            },
          },
        },
        {
          name: 'auth',
          match: { path: '/auth' },
          aggregate: {
            cache: {},
            parts: {
              plain: { upstream: 'app', path: '/shared-with-auth' },
              marked: { upstream: 'app', path: '/public-with-auth' },
            },
          },
        },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await backend.close();
  });

  async function get(path: string, headers: Record<string, string> = {}): Promise<Json> {
    const res = await request(`${gw.url}${path}`, { headers });
    assert.equal(res.statusCode, 200);
    return (await res.body.json()) as Json;
  }

  it('reuses fresh part responses and collapses concurrent misses; no-freshness, private and cache: false parts are fetched every time', async () => {
    const first = await get('/details/1');
    const order = first['order'] as Json;
    assert.deepEqual(order['products'], [
      { id: 1, name: 'p' },
      { id: 3, name: 'p' },
      { id: 1, name: 'p' },
    ]);
    // Product 1 is asked twice in one fan-out: one backend request.
    assert.equal(hits.get('/products/1'), 1);
    assert.equal(hits.get('/products/3'), 1);
    const answers = await Promise.all(Array.from({ length: 20 }, () => get('/details/1')));
    for (const a of answers) assert.deepEqual(a, first, 'each answer is built from its own copy of the cached parts');
    assert.equal(hits.get('/products/1'), 1, 'fresh: not asked again');
    assert.equal(hits.get('/products/3'), 1);
    assert.equal(hits.get('/orders/1'), 21, 'a response without freshness information is not stored');
    assert.equal(hits.get('/always'), 21, 'cache: false');
    assert.equal(hits.get('/private'), 21, 'private is never stored by a shared cache');
  });

  it('with credentials, only responses marked for sharing are stored', async () => {
    for (let i = 0; i < 3; i++) await get('/auth', { authorization: 'Bearer x' });
    assert.equal(hits.get('/shared-with-auth'), 3);
    assert.equal(hits.get('/public-with-auth'), 1);
  });
});
