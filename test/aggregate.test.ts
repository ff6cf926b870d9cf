/**
 * Aggregate routes end to end: real backends (orders, users, products) behind a real
 * gateway. Dependencies and fan-out, parallelism measured by time, optional and
 * required parts failing, per-part timeouts, retries to another target, an open breaker,
 * the body-size cap, middlewares first, and the admin view.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

type Json = Record<string, unknown>;
interface ErrorEntry {
  part: string;
  code: string;
  status: number;
  message: string;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const ORDERS: Record<string, Json> = {
  '1': { id: 1, userId: 2, productIds: [1, 3], total: 46.5 },
  '2': { id: 2, userId: 9, productIds: [], total: 0 },
};
const USERS: Record<string, Json> = { '2': { id: 2, name: 'Grace' } };
const PRODUCTS: Record<string, Json> = { '1': { id: 1, name: 'Beans' }, '3': { id: 3, name: 'Dripper' } };

/** What each backend saw, for assertions on forwarded headers and request counts. */
const seen: { path: string; headers: IncomingMessage['headers'] }[] = [];

function delayOf(req: IncomingMessage): number {
  return Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
}

describe('aggregate routes', () => {
  const cleanup: (() => Promise<void>)[] = [];
  let orders: Backend;
  let users: Backend;
  let products: Backend;
  let slow: Backend;
  let gw: TestGateway;
  let refusedUrl: string;

  before(async () => {
    orders = await startBackend((req, res) => {
      seen.push({ path: req.url ?? '', headers: req.headers });
      const id = /^\/orders\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '';
      setTimeout(() => (ORDERS[id] === undefined ? sendJson(res, 404, { error: 'no order' }) : sendJson(res, 200, ORDERS[id])), delayOf(req));
    });
    users = await startBackend((req, res) => {
      seen.push({ path: req.url ?? '', headers: req.headers });
      const id = /^\/users\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '';
      if (id === 'boom') return sendJson(res, 500, { error: 'boom' });
      setTimeout(() => (USERS[id] === undefined ? sendJson(res, 404, { error: 'no user' }) : sendJson(res, 200, USERS[id])), delayOf(req));
    });
    products = await startBackend((req, res) => {
      seen.push({ path: req.url ?? '', headers: req.headers });
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/products') {
        const ids = (url.searchParams.get('ids') ?? '').split(',').filter((s) => s !== '');
        return sendJson(res, 200, ids.map((id) => PRODUCTS[id] ?? null));
      }
      if (url.pathname === '/big') return sendJson(res, 200, { blob: 'x'.repeat(4096) });
      if (url.pathname === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end('not json');
      }
      const id = /^\/products\/([^/?]+)/.exec(url.pathname)?.[1] ?? '';
      setTimeout(() => (PRODUCTS[id] === undefined ? sendJson(res, 404, { error: 'no product' }) : sendJson(res, 200, PRODUCTS[id])), delayOf(req));
    });
    slow = await startBackend((req, res) => {
      const timer = setTimeout(() => sendJson(res, 200, { slept: delayOf(req) }), delayOf(req));
      res.on('close', () => clearTimeout(timer));
    });
    refusedUrl = `http://127.0.0.1:${await freePort()}`;
    for (const b of [orders, users, products, slow]) cleanup.push(() => b.close());

    const quiet = { retry: { attempts: 0 }, outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 0 } };
    gw = await startGateway({
      upstreams: {
        orders: { targets: [{ url: orders.url }] },
        users: { targets: [{ url: users.url }], ...quiet },
        products: { targets: [{ url: products.url }] },
        slow: { targets: [{ url: slow.url }], ...quiet },
        // One target refuses connections: parts must still succeed, retried on the other.
        flaky: { balancer: 'round-robin', targets: [{ url: refusedUrl }, { url: products.url }], retry: { attempts: 2 }, outlierDetection: { consecutiveGatewayFailures: 0 } },
      },
      routes: [
        {
          name: 'order-details',
          match: { path: '/api/orders/:id/details' },
          aggregate: {
            parts: {
              order: { upstream: 'orders', path: '/orders/${params.id}' },
              user: { upstream: 'users', path: '/users/${order.userId}', into: 'order.user', required: false },
              products: { upstream: 'products', forEach: 'order.productIds', path: '/products/${item}', into: 'order.products' },
              batch: { upstream: 'products', path: '/products?ids=${order.productIds}', hidden: false },
            },
          },
        },
        {
          name: 'parallel',
          match: { path: '/parallel' },
          aggregate: {
            parts: {
              a: { upstream: 'orders', path: '/orders/1?delay=300' },
              b: { upstream: 'users', path: '/users/2?delay=300' },
              c: { upstream: 'products', path: '/products/1?delay=300' },
            },
          },
        },
        {
          name: 'chain',
          match: { path: '/chain' },
          aggregate: {
            parts: {
              order: { upstream: 'orders', path: '/orders/1?delay=150' },
              user: { upstream: 'users', path: '/users/${order.userId}?delay=300' },
              products: { upstream: 'products', forEach: 'order.productIds', path: '/products/${item}?delay=300' },
            },
          },
        },
        {
          name: 'optional-fails',
          match: { path: '/optional-fails' },
          aggregate: {
            parts: {
              order: { upstream: 'orders', path: '/orders/1' },
              broken: { upstream: 'users', path: '/users/boom', required: false },
              after: { upstream: 'users', path: '/users/2?name=${broken.name}', required: false },
              text: { upstream: 'products', path: '/text', required: false },
            },
          },
        },
        {
          name: 'required-fails',
          match: { path: '/required-fails' },
          aggregate: {
            parts: {
              order: { upstream: 'orders', path: '/orders/2' },
              user: { upstream: 'users', path: '/users/${order.userId}' },
            },
          },
        },
        {
          name: 'slow-optional',
          match: { path: '/slow-optional' },
          aggregate: {
            parts: {
              fast: { upstream: 'orders', path: '/orders/1' },
              late: { upstream: 'slow', path: '/?delay=2000', timeout: '150ms', required: false },
            },
          },
        },
        {
          name: 'slow-required',
          match: { path: '/slow-required' },
          aggregate: { timeout: '150ms', parts: { late: { upstream: 'slow', path: '/?delay=2000' } } },
        },
        {
          name: 'total-deadline',
          match: { path: '/total' },
          timeouts: { total: '400ms' },
          aggregate: {
            parts: {
              a: { upstream: 'orders', path: '/orders/1?delay=100' },
              b: { upstream: 'users', path: '/users/${a.userId}?delay=2000' },
            },
          },
        },
        {
          name: 'flaky',
          match: { path: '/flaky' },
          aggregate: { parts: { p: { upstream: 'flaky', path: '/products/1' } } },
        },
        {
          name: 'capped',
          match: { path: '/capped' },
          aggregate: {
            parts: {
              big: { upstream: 'products', path: '/big', maxBodySize: '1kb', required: false },
              small: { upstream: 'products', path: '/products/1', maxBodySize: '1kb', merge: true },
            },
          },
        },
        {
          name: 'guarded',
          match: { path: '/guarded' },
          ipFilter: { deny: ['127.0.0.0/8'] },
          aggregate: { parts: { order: { upstream: 'orders', path: '/orders/1' } } },
        },
        {
          name: 'query-and-headers',
          match: { path: '/qh' },
          aggregate: {
            parts: {
              order: { upstream: 'orders', path: '/orders/${query.order}', headers: { 'x-tenant': 'tenant-${headers.x-tenant}' } },
            },
          },
        },
      ],
    });
    cleanup.push(() => gw.stop());
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Json; ms: number }> {
    const t0 = performance.now();
    const res = await request(`${gw.url}${path}`, { headers });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as Json, ms: performance.now() - t0 };
  }

  it('combines an order with its user and its products (dependencies, fan-out, joined ids, nesting)', async () => {
    seen.length = 0;
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await get('/api/orders/1/details', { traceparent, 'x-request-id': 'agg-req-1', 'accept-encoding': 'gzip' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.body, {
      order: { id: 1, userId: 2, productIds: [1, 3], total: 46.5, user: { id: 2, name: 'Grace' }, products: [PRODUCTS['1'], PRODUCTS['3']] },
      batch: [PRODUCTS['1'], PRODUCTS['3']],
    });
    assert.equal(r.headers['x-request-id'], 'agg-req-1');
    // Every part request: the request id, traceparent, forwarding headers; no compression asked for.
    const paths = seen.map((s) => s.path).sort();
    assert.deepEqual(paths, ['/orders/1', '/products/1', '/products/3', '/products?ids=1%2C3'.replace('%2C', ','), '/users/2'].sort());
    for (const s of seen) {
      assert.equal(s.headers['x-request-id'], 'agg-req-1');
      // The same trace; the gateway's own span as the parent.
      assert.match(String(s.headers['traceparent']), /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      assert.notEqual(s.headers['traceparent'], traceparent);
      assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
      assert.match(String(s.headers['via']), /brisk/);
      assert.equal(s.headers['accept-encoding'], undefined);
    }
  });

  it('an empty fan-out list makes no requests and gives an empty list; a missing user is an errors entry', async () => {
    const r = await get('/api/orders/2/details');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const order = r.body['order'] as Json;
    assert.deepEqual(order['products'], []);
    assert.equal(order['user'], null);
    const errors = r.body['errors'] as ErrorEntry[];
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.part, 'user');
    assert.equal(errors[0]!.code, 'BRISK_AGGREGATE_PART_STATUS');
    assert.equal(errors[0]!.status, 404);
  });

  it('runs independent parts in parallel, and dependent parts as soon as their dependency is done', async () => {
    const p = await get('/parallel');
    assert.equal(p.status, 200);
    // Three parts of 300 ms each: about 300 ms together, 900 ms one after the other.
    assert.ok(p.ms < 650, `three 300 ms parts took ${p.ms.toFixed(0)} ms`);
    assert.ok(p.ms >= 290, `took ${p.ms.toFixed(0)} ms`);
    const c = await get('/chain');
    assert.equal(c.status, 200);
    // 150 ms for the order, then user and two products at once (300 ms): about 450 ms; in series 1050.
    assert.ok(c.ms >= 440, `the dependents waited for the order (${c.ms.toFixed(0)} ms)`);
    assert.ok(c.ms < 800, `user and products ran together (${c.ms.toFixed(0)} ms)`);
    assert.deepEqual(c.body['products'], [PRODUCTS['1'], PRODUCTS['3']]);
  });

  it('an optional part that fails leaves null and an errors entry; its dependents are skipped; the rest is returned', async () => {
    const r = await get('/optional-fails');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body['order'], ORDERS['1']);
    assert.equal(r.body['broken'], null);
    assert.equal(r.body['after'], null);
    const errors = r.body['errors'] as ErrorEntry[];
    const byPart = Object.fromEntries(errors.map((e) => [e.part, e]));
    assert.equal(byPart['broken']!.code, 'BRISK_AGGREGATE_PART_STATUS');
    assert.equal(byPart['broken']!.status, 500);
    assert.equal(byPart['after']!.code, 'BRISK_AGGREGATE_PART_SKIPPED');
    assert.match(byPart['after']!.message, /"broken"/);
    assert.equal(byPart['text']!.code, 'BRISK_AGGREGATE_PART_NOT_JSON');
    for (const e of errors) assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'part', 'status']);
  });

  it('a required part that answers 404 gives the client 404, with a code and a message naming the part', async () => {
    const r = await get('/required-fails');
    assert.equal(r.status, 404);
    const error = r.body['error'] as Json;
    assert.equal(error['code'], 'BRISK_AGGREGATE_PART_NOT_FOUND');
    assert.match(String(error['message']), /part "user"/);
    assert.match(String(error['message']), /404/);
    assert.equal(r.headers['x-brisk-aggregate-part'], 'user');
    assert.equal(error['requestId'], r.headers['x-request-id']);
  });

  it('a slow part times out: an errors entry when optional, a 504 when required, promptly', async () => {
    const o = await get('/slow-optional');
    assert.equal(o.status, 200);
    assert.ok(o.ms < 1000, `answered in ${o.ms.toFixed(0)} ms`);
    const errors = o.body['errors'] as ErrorEntry[];
    assert.equal(errors[0]!.part, 'late');
    assert.equal(errors[0]!.code, 'BRISK_AGGREGATE_PART_TIMEOUT');
    assert.equal(errors[0]!.status, 504);
    const r = await get('/slow-required');
    assert.equal(r.status, 504);
    assert.equal((r.body['error'] as Json)['code'], 'BRISK_AGGREGATE_PART_TIMEOUT');
    assert.match(String((r.body['error'] as Json)['message']), /part "late".*150ms/);
    assert.ok(r.ms < 1000, `answered in ${r.ms.toFixed(0)} ms`);
  });

  it('the route\'s timeouts.total bounds the whole answer: 504 naming the parts still running', async () => {
    const r = await get('/total');
    assert.equal(r.status, 504, JSON.stringify(r.body));
    const error = r.body['error'] as Json;
    assert.equal(error['code'], 'BRISK_AGGREGATE_PART_TIMEOUT');
    assert.match(String(error['message']), /timeouts\.total \(400ms\); still running: part "b"/);
    assert.equal(r.headers['x-brisk-aggregate-part'], 'b');
    assert.ok(r.ms < 1500, `answered in ${r.ms.toFixed(0)} ms`);
  });

  it('retries a part on another target when one refuses connections', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await get('/flaky');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body['p'], PRODUCTS['1']);
    }
    const ups = (await (await request(`${gw.adminUrl}/api/upstreams`)).body.json()) as { upstreams: { name: string; retryBudget: { retries10s: number }; targets: { origin: string; failures: number }[] }[] };
    const flaky = ups.upstreams.find((u) => u.name === 'flaky')!;
    assert.ok(flaky.retryBudget.retries10s >= 1, 'retries were counted against the budget');
    assert.ok(flaky.targets.find((t) => t.origin === refusedUrl)!.failures >= 1, 'the refusing target was tried');
  });

  it('caps the body of a part (maxBodySize) and merges an object into the top level', async () => {
    const r = await get('/capped');
    assert.equal(r.status, 200);
    assert.equal(r.body['big'], null);
    assert.equal(r.body['name'], 'Beans', 'merged fields of "small"');
    assert.equal(r.body['small'], undefined);
    const errors = r.body['errors'] as ErrorEntry[];
    assert.equal(errors[0]!.code, 'BRISK_UPSTREAM_RESPONSE_TOO_LARGE');
  });

  it('runs the route middlewares first (ipFilter refuses before any part is requested)', async () => {
    seen.length = 0;
    const r = await get('/guarded');
    assert.equal(r.status, 403);
    assert.equal((r.body['error'] as Json)['code'], 'BRISK_FORBIDDEN');
    assert.equal(seen.length, 0);
  });

  it('fills templates from the query and headers of the client request, encoded', async () => {
    seen.length = 0;
    const r = await get('/qh?order=1', { 'x-tenant': 'acme' });
    assert.equal(r.status, 200);
    assert.equal(seen[0]!.headers['x-tenant'], 'tenant-acme');
    const missing = await get('/qh?order=1');
    assert.equal(missing.status, 502, 'a template value that is missing (no x-tenant header) is not filled with nothing');
    assert.match(String((missing.body['error'] as Json)['message']), /\$\{headers\.x-tenant\} has no value/);
    const bad = await get('/qh?order=..%2F..%2Fadmin', { 'x-tenant': 'acme' });
    assert.equal(bad.status, 404, `the value stays one encoded segment and finds no order: ${JSON.stringify(bad.body)}`);
    assert.equal(seen.at(-1)!.path, '/orders/..%2F..%2Fadmin');
  });

  it('shows aggregate routes in the admin API', async () => {
    const body = (await (await request(`${gw.adminUrl}/api/routes`)).body.json()) as { routes: { name: string; upstream?: string; aggregate?: { parts: Json[] } }[] };
    const route = body.routes.find((r) => r.name === 'order-details')!;
    assert.equal(route.upstream, undefined);
    const parts = route.aggregate!.parts;
    assert.deepEqual(
      parts.map((p) => p['name']),
      ['order', 'user', 'products', 'batch'],
    );
    assert.deepEqual(parts[1]!['dependsOn'], ['order']);
    assert.equal(parts[1]!['placement'], 'nested at order.user');
    assert.equal(parts[2]!['forEach'], 'order.productIds');
  });
});

describe('aggregate parts and the circuit breaker', () => {
  it('an open breaker on a part\'s upstream fails the part fast, without reaching the backend', async () => {
    let hits = 0;
    const broken = await startBackend((_req, res) => {
      hits++;
      sendJson(res, 500, { error: 'down' });
    });
    const ok = await startBackend((_req, res) => sendJson(res, 200, { ok: true }));
    const gw = await startGateway({
      upstreams: {
        broken: {
          targets: [{ url: broken.url }],
          retry: { attempts: 0 },
          outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 0 },
          circuitBreaker: { errorThreshold: 50, minimumRequests: 3, window: '10s', openDuration: '30s', halfOpenRequests: 1 },
        },
        ok: { targets: [{ url: ok.url }] },
      },
      routes: [
        {
          name: 'r',
          match: { path: '/r' },
          aggregate: { parts: { main: { upstream: 'ok', path: '/' }, extra: { upstream: 'broken', path: '/', required: false } } },
        },
      ],
    });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await request(`${gw.url}/r`);
        const body = (await res.body.json()) as { errors: ErrorEntry[] };
        assert.equal(body.errors[0]!.code, 'BRISK_AGGREGATE_PART_STATUS');
      }
      const before = hits;
      const res = await request(`${gw.url}/r`);
      assert.equal(res.statusCode, 200);
      const body = (await res.body.json()) as { main: Json; errors: ErrorEntry[] };
      assert.deepEqual(body.main, { ok: true });
      assert.equal(body.errors[0]!.code, 'BRISK_CIRCUIT_OPEN');
      assert.equal(body.errors[0]!.status, 503);
      assert.equal(hits, before, 'nothing reached the broken backend while the breaker was open');
    } finally {
      await gw.stop();
      await broken.close();
      await ok.close();
    }
  });
});

describe('aggregate fan-out limits and cancellation', () => {
  it('fans out widely without listener warnings, refuses past maxFanOut, and tells parts their deadline', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const deadlines: string[] = [];
    const items = await startBackend((req, res) => {
      deadlines.push(String(req.headers['x-brisk-timeout-ms']));
      const url = req.url ?? '/';
      if (url.startsWith('/list')) return sendJson(res, 200, { ids: Array.from({ length: Number(url.split('=')[1]) }, (_, i) => i) });
      sendJson(res, 200, { id: Number(url.slice(6)) });
    });
    const gw = await startGateway({
      upstreams: { items: { targets: [{ url: items.url }] } },
      routes: [
        {
          name: 'wide',
          match: { path: '/wide/:n' },
          aggregate: {
            maxFanOut: 40,
            timeout: '3s',
            parts: {
              list: { upstream: 'items', path: '/list?n=${params.n}', hidden: true },
              each: { upstream: 'items', forEach: 'list.ids', path: '/item/${item}' },
            },
          },
        },
      ],
    });
    try {
      const ok = await request(`${gw.url}/wide/30`);
      const body = (await ok.body.json()) as { each: { id: number }[]; list?: unknown };
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(body.each.map((e) => e.id), Array.from({ length: 30 }, (_, i) => i), 'results in the order of the list');
      assert.equal(body.list, undefined, 'hidden');
      const tooMany = await request(`${gw.url}/wide/41`);
      assert.equal(tooMany.statusCode, 502);
      assert.match(((await tooMany.body.json()) as { error: { message: string } }).error.message, /41 elements, more than maxFanOut \(40\)/);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
      const left = Number(deadlines[0]);
      assert.ok(left > 2000 && left <= 3000, `the part was told ${deadlines[0]} ms are left`);
    } finally {
      process.off('warning', onWarning);
      await gw.stop();
      await items.close();
    }
  });

  it('cancels the running parts when the client goes away', async () => {
    let closedEarly = 0;
    const slowBackend = await startBackend((_req, res) => {
      const timer = setTimeout(() => sendJson(res, 200, { late: true }), 3000);
      res.on('close', () => {
        if (!res.writableEnded) closedEarly++;
        clearTimeout(timer);
      });
    });
    const gw = await startGateway({
      upstreams: { slow: { targets: [{ url: slowBackend.url }] } },
      routes: [{ name: 'r', match: { path: '/r' }, aggregate: { parts: { a: { upstream: 'slow', path: '/a' }, b: { upstream: 'slow', path: '/b' } } } }],
    });
    try {
      const controller = new AbortController();
      const pending = request(`${gw.url}/r`, { signal: controller.signal }).catch(() => null);
      await new Promise((r) => setTimeout(r, 150));
      controller.abort();
      await pending;
      const t0 = Date.now();
      while (closedEarly < 2 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
      assert.equal(closedEarly, 2, 'both part requests were cut, long before the backend would have answered');
      await new Promise((r) => setTimeout(r, 50));
      const line = gw.logs.find((l) => l['type'] === 'access' && l['route'] === 'r');
      assert.equal(line?.['status'], 499, 'logged as abandoned by the client');
    } finally {
      await gw.stop();
      await slowBackend.close();
    }
  });
});

describe('aggregate routes: reload and hostile answers', () => {
  it('a reload adds an aggregate route; a merged "__proto__" from a backend stays plain data', async () => {
    const backend = await startBackend((req, res) => {
      if (req.url === '/proto') {
        const text = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"a":1}';
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      sendJson(res, 200, { path: req.url });
    });
    const base = { upstreams: { b: { targets: [{ url: backend.url }] } }, routes: [{ name: 'plain', match: { pathPrefix: '/plain' }, upstream: 'b' }] };
    const gw = await startGateway(base);
    try {
      assert.equal((await request(`${gw.url}/agg`)).statusCode, 404);
      gw.writeConfig({
        ...base,
        routes: [...base.routes, { name: 'agg', match: { path: '/agg' }, aggregate: { parts: { p: { upstream: 'b', path: '/proto', merge: true }, q: { upstream: 'b', path: '/q/${p.a}' } } } }],
      });
      const reload = await request(`${gw.adminUrl}/api/reload`, { method: 'POST' });
      assert.equal(reload.statusCode, 200, await reload.body.text());
      const res = await request(`${gw.url}/agg`);
      const text = await res.body.text();
      assert.equal(res.statusCode, 200, text);
      const body = JSON.parse(text) as Json;
      assert.equal(body['a'], 1);
      assert.deepEqual(body['q'], { path: '/q/1' });
      assert.ok(Object.hasOwn(body, '__proto__'), 'kept as an own key');
      assert.equal(({} as Json)['polluted'], undefined, 'Object.prototype untouched');
    } finally {
      await gw.stop();
      await backend.close();
    }
  });
});
