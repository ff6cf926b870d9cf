/**
 * The service bootstrap and idempotent POSTs against real PostgreSQL (and Redis for
 * self-registration): health and readiness, the request contract carried onward,
 * deadlines, graceful shutdown, error codes, and a client's retries never making a
 * second order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Database } from '../src/db/database.js';
import { ServiceError } from '../src/errors.js';
import { IdempotencyStore, idempotent, idempotentTransaction } from '../src/idempotency/idempotency.js';
import { startLocalPostgres, postgresInstalled, POSTGRES_NOT_INSTALLED, type LocalPostgresCluster } from '../src/local/postgres.js';
import { startLocalRedis, redisServerPath, REDIS_NOT_INSTALLED } from '../src/local/redis.js';
import { createService, json, type Service } from '../src/service/service.js';
import { REGISTRY_PREFIX } from '../src/service/registration.js';
import { Redis } from 'ioredis';
import { connect } from 'node:net';

const silent = pino({ level: 'silent' });

/** Sends raw bytes and returns the whole answer (for requests fetch would refuse to send). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(text));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('service bootstrap', () => {
  test('health, readiness with dependencies, metrics, 404/405 with codes and the error body', async () => {
    let dbUp = true;
    const service = createService({ name: 'probe', logger: silent, handleSignals: false, maxBodyBytes: 1000 })
      .route('GET', '/hello/:name', async (ctx) => ({ hello: ctx.params['name'] }))
      .route('POST', '/echo', async (ctx) => ctx.body())
      .dependsOn('db', { check: async () => ({ ok: dbUp, detail: dbUp ? 'primary 127.0.0.1:1' : 'no primary' }) });
    await service.start();
    try {
      assert.deepEqual(await (await fetch(`${service.url}/hello/ann`)).json(), { hello: 'ann' });
      assert.equal((await fetch(`${service.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${service.url}/readyz`)).status, 200);
      dbUp = false;
      const notReady = await fetch(`${service.url}/readyz`);
      const body = (await notReady.json()) as { error: { code: string; message: string }; checks: Record<string, { ok: boolean }> };
      assert.equal(notReady.status, 503);
      assert.equal(body.error.code, 'BRISK_SVC_NOT_READY');
      assert.match(body.error.message, /db: no primary/);
      const missing = await fetch(`${service.url}/nope`, { headers: { 'x-request-id': 'req-7' } });
      assert.equal(missing.status, 404);
      const { error } = (await missing.json()) as { error: { code: string; message: string; requestId: string; traceId: string } };
      assert.deepEqual({ ...error, traceId: undefined }, { code: 'BRISK_SVC_NOT_FOUND', message: 'no route for GET /nope', requestId: 'req-7', traceId: undefined });
      assert.match(error.traceId, /^[0-9a-f]{32}$/);
      const tooLarge = await fetch(`${service.url}/echo`, { method: 'POST', body: 'x'.repeat(3000) });
      assert.equal(tooLarge.status, 400);
      assert.match(((await tooLarge.json()) as { error: { code: string; message: string } }).error.message, /larger than 1000 bytes/);
      const notJson = await fetch(`${service.url}/echo`, { method: 'POST', body: '{nope' });
      assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'BRISK_SVC_BAD_REQUEST');
      const weird = await rawRequest(service.port, 'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(weird, /^HTTP\/1\.1 400 /, 'a request target no URL parser takes is a 400, not a crash');
      const wrongMethod = await fetch(`${service.url}/hello/ann`, { method: 'DELETE' });
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get('allow'), 'GET');
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      assert.match(metrics, /brisk_svc_http_requests_total\{route="\/hello\/:name",method="GET",status="200"\} 1/);
    } finally {
      await service.stop();
    }
  });

  test('the deadline, request id and trace context reach the database and the next service', async () => {
    let seen: Record<string, string | undefined> = {};
    const downstream = createService({ name: 'down', logger: silent, handleSignals: false }).route('GET', '/echo', async (ctx) => {
      seen = { deadline: ctx.req.headers['x-brisk-timeout-ms'] as string, requestId: ctx.requestId, traceparent: ctx.req.headers['traceparent'] as string };
      return { ok: true };
    });
    await downstream.start();
    const upstream = createService({ name: 'up', logger: silent, handleSignals: false })
      .route('GET', '/call', async (ctx) => (await ctx.fetch(`${downstream.url}/echo`)).json())
      .route('GET', '/slow', async () => {
        await sleep(1000);
        return { late: true };
      });
    await upstream.start();
    try {
      const res = await fetch(`${upstream.url}/call`, { headers: { 'x-brisk-timeout-ms': '800', 'x-request-id': 'abc', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
      assert.equal(res.status, 200);
      assert.equal(seen['requestId'], 'abc');
      const left = Number(seen['deadline']);
      assert.ok(left > 100 && left < 800, `the next service got ${left} ms of the 800`);
      assert.match(seen['traceparent'] ?? '', /^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/);
      const started = Date.now();
      const slow = await fetch(`${upstream.url}/slow`, { headers: { 'x-brisk-timeout-ms': '150' } });
      assert.equal(slow.status, 504);
      assert.equal(((await slow.json()) as { error: { code: string } }).error.code, 'BRISK_SVC_DEADLINE_EXCEEDED');
      assert.ok(Date.now() - started < 900, 'answered at the deadline, not when the handler finished');
    } finally {
      await upstream.stop();
      await downstream.stop();
    }
  });

  test('graceful shutdown: not ready at once, in-flight requests finish, new ones are refused, dependencies close last', async () => {
    const order: string[] = [];
    const service = createService({ name: 'drain', logger: silent, handleSignals: false, drainDelayMs: 100 })
      .route('GET', '/work', async () => {
        await sleep(300);
        order.push('request done');
        return { done: true };
      })
      .dependsOn('db', { close: async () => void order.push('db closed') })
      .dependsOn('cache', { close: async () => void order.push('cache closed') });
    await service.start();
    const url = service.url;
    const inFlight = fetch(`${url}/work`);
    await sleep(50);
    const stopping = service.stop();
    const ready = await fetch(`${url}/readyz`, { headers: { connection: 'close' } });
    assert.equal(ready.status, 503, 'readiness fails while draining');
    const late = await fetch(`${url}/work`, { headers: { connection: 'close' } });
    assert.equal(late.status, 503);
    assert.equal(((await late.json()) as { error: { code: string } }).error.code, 'BRISK_SVC_SHUTTING_DOWN');
    assert.equal((await inFlight).status, 200);
    await stopping;
    assert.deepEqual(order, ['request done', 'cache closed', 'db closed']);
    await assert.rejects(fetch(`${url}/healthz`), 'the listener is closed');
  });

  test('an unreachable registry is logged, and the service serves anyway', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const service = createService({ name: 'lonely', logger, handleSignals: false, registration: { redis: 'redis://127.0.0.1:1', ttlMs: 1000 } }).route('GET', '/ok', async () => ({ ok: true }));
    await service.start();
    try {
      assert.equal((await fetch(`${service.url}/ok`)).status, 200);
      assert.ok(lines.some((l) => l.includes('BRISK_SVC_REGISTRY_UNAVAILABLE')), lines.join(''));
    } finally {
      await service.stop();
    }
  });

  test('registers itself in the Redis registry with a TTL and leaves it at shutdown', { skip: redisServerPath() === undefined ? REDIS_NOT_INSTALLED : false }, async () => {
    const redis = await startLocalRedis();
    const client = new Redis(redis.url);
    try {
      const events: string[] = [];
      const sub = new Redis(redis.url);
      await sub.subscribe('brisk:registry:events');
      sub.on('message', (_c: string, m: string) => events.push((JSON.parse(m) as { event: string }).event));
      const service = createService({ name: 'orders', logger: silent, handleSignals: false, registration: { redis: redis.url, ttlMs: 2000, meta: { zone: 'a' } } });
      await service.start();
      const keys = await client.keys(`${REGISTRY_PREFIX}orders:*`);
      assert.equal(keys.length, 1);
      const record = JSON.parse((await client.get(keys[0]!))!) as { url: string; meta: Record<string, string> };
      assert.equal(record.url, service.url);
      assert.deepEqual(record.meta, { zone: 'a' });
      const ttl = await client.pttl(keys[0]!);
      assert.ok(ttl > 0 && ttl <= 2000, `ttl ${ttl}`);
      await service.stop();
      assert.equal(await client.exists(keys[0]!), 0);
      await sleep(100);
      assert.deepEqual(events, ['up', 'down']);
      sub.disconnect();
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });
});

describe('idempotent POSTs', { skip: postgresInstalled() ? false : POSTGRES_NOT_INSTALLED }, () => {
  let cluster: LocalPostgresCluster;
  let db: Database;
  let service: Service;
  let store: IdempotencyStore;
  let sideEffects = 0;
  before(async () => {
    cluster = await startLocalPostgres();
    db = await Database.connect({ url: cluster.url, logger: silent });
    store = new IdempotencyStore(db, { lockMs: 500 });
    await store.init();
    await db.write('create table orders (id serial primary key, item text not null)');
    service = createService({ name: 'orders', logger: silent, handleSignals: false })
      .route(
        'POST',
        '/orders',
        idempotentTransaction(store, async (ctx, tx) => {
          const { item } = await ctx.body<{ item: string }>();
          if (item === 'bad') throw new ServiceError('BRISK_SVC_BAD_REQUEST', 'no such item');
          if (item === 'later') {
            await tx.query('insert into orders (item) values ($1)', [item]);
            return json(503, { error: { code: 'TRY_LATER', message: 'warehouse offline', requestId: ctx.requestId } });
          }
          const { rows } = await tx.query<{ id: number }>('insert into orders (item) select $1 from pg_sleep(0.05) returning id', [item]);
          return json(201, { id: rows[0]!.id, item });
        }, { required: true }),
      )
      .route(
        'POST',
        '/payments',
        idempotent(store, async (ctx) => {
          sideEffects++;
          await sleep(300);
          const { fail } = await ctx.body<{ fail?: boolean }>();
          if (fail) return json(502, { error: 'provider down' });
          return json(201, { paid: true, key: ctx.idempotencyKey });
        }),
      );
    await service.start();
  });
  after(async () => {
    await service?.stop();
    await db?.close();
    await cluster?.stop();
  });

  const post = (path: string, key: string | undefined, body: unknown) =>
    fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) }, body: JSON.stringify(body) });

  test('20 concurrent retries of one order make one order, and all get its answer', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => post('/orders', 'order-1', { item: 'book' })));
    const bodies = await Promise.all(answers.map((a) => a.json() as Promise<{ id: number }>));
    assert.ok(answers.every((a) => a.status === 201), JSON.stringify(answers.map((a) => a.status)));
    assert.equal(new Set(bodies.map((b) => b.id)).size, 1);
    assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length, 19);
    const { rows } = await db.read<{ n: number }>('select count(*)::int as n from orders', [], { primary: true });
    assert.equal(rows[0]!.n, 1);
  });

  test('a key reused for another body is refused; a missing or malformed key is a 400', async () => {
    const reused = await post('/orders', 'order-1', { item: 'pen' });
    assert.equal(reused.status, 422);
    assert.equal(((await reused.json()) as { error: { code: string } }).error.code, 'BRISK_SVC_IDEMPOTENCY_KEY_REUSED');
    assert.equal(((await (await post('/orders', undefined, { item: 'pen' })).json()) as { error: { code: string } }).error.code, 'BRISK_SVC_IDEMPOTENCY_KEY_REQUIRED');
    assert.equal(((await (await post('/orders', 'x'.repeat(300), { item: 'pen' })).json()) as { error: { code: string } }).error.code, 'BRISK_SVC_IDEMPOTENCY_KEY_INVALID');
    assert.equal((await post('/orders', 'order-bad', { item: 'bad' })).status, 400);
    // A 5xx answer is not stored, and what the handler wrote with it is rolled back.
    assert.equal((await post('/orders', 'order-later', { item: 'later' })).status, 503);
    assert.equal((await post('/orders', 'order-later', { item: 'later' })).status, 503, 'run again, not replayed');
    const { rows } = await db.read<{ n: number }>(`select count(*)::int as n from orders where item = 'later'`, [], { primary: true });
    assert.equal(rows[0]!.n, 0);
  });

  /** Resolves once `key` is claimed in the database (the first request is working on it). */
  async function claimed(key: string): Promise<void> {
    for (let i = 0; (await db.read(`select 1 from brisk.idempotency_keys where key = $1`, [key], { primary: true })).rowCount === 0; i++) {
      assert.ok(i < 400, `the first request never claimed ${key}`);
      await sleep(5);
    }
  }

  test('claim mode: a concurrent duplicate waits and gets the first answer, a later one the stored answer; 5xx answers are not stored', async () => {
    const first = post('/payments', 'pay-1', { amount: 5 });
    await claimed('pay-1');
    const concurrent = await post('/payments', 'pay-1', { amount: 5 });
    assert.equal(concurrent.status, 201, 'the duplicate waited for the first one instead of a 409');
    assert.equal(concurrent.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await concurrent.json(), { paid: true, key: 'pay-1' });
    assert.equal((await first).status, 201);
    const replay = await post('/payments', 'pay-1', { amount: 5 });
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(sideEffects, 1);
    const reused = post('/payments', 'pay-3', { amount: 5 });
    await claimed('pay-3');
    const other = await post('/payments', 'pay-3', { amount: 6 });
    assert.equal(other.status, 422, 'another body with a key in progress is still refused, not waited for');
    assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'BRISK_SVC_IDEMPOTENCY_KEY_REUSED');
    assert.equal((await reused).status, 201);
    assert.equal((await post('/payments', 'pay-2', { fail: true })).status, 502);
    assert.equal((await post('/payments', 'pay-2', { fail: true })).status, 502);
    assert.equal(sideEffects, 4, 'a 5xx is not stored: the retry ran again');
    assert.equal(await store.purgeExpired(), 0);
  });

  test('claim mode across two instances: duplicates on the other instance wait for the first answer; past the wait or the deadline, 409 with Retry-After', async () => {
    let slowRuns = 0;
    const db2 = await Database.connect({ url: cluster.url, logger: silent });
    const slowHandler = async (ctx: { idempotencyKey: string | undefined }) => {
      slowRuns++;
      await sleep(2500);
      return json(201, { slow: ctx.idempotencyKey });
    };
    const routes = (s: IdempotencyStore) => createService({ name: 'payments', logger: silent, handleSignals: false }).route('POST', '/slow', idempotent(s, slowHandler)).route('POST', '/impatient', idempotent(new IdempotencyStore(s.db, { waitMs: 150 }), slowHandler));
    const one = routes(new IdempotencyStore(db, { lockMs: 5000 }));
    const two = routes(new IdempotencyStore(db2, { lockMs: 5000 }));
    await one.start();
    await two.start();
    const send = (instance: Service, path: string, key: string, headers: Record<string, string> = {}) =>
      fetch(`${instance.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key, ...headers }, body: '{"n":1}' });
    try {
      const firsts = [send(one, '/slow', 'slow-1')];
      await claimed('slow-1');
      const duplicates = await Promise.all([send(two, '/slow', 'slow-1'), send(two, '/slow', 'slow-1'), send(one, '/slow', 'slow-1')]);
      assert.deepEqual(duplicates.map((d) => [d.status, d.headers.get('idempotent-replayed')]), [[201, 'true'], [201, 'true'], [201, 'true']]);
      assert.deepEqual(await duplicates[0]!.json(), { slow: 'slow-1' });
      assert.equal((await firsts[0]!).status, 201);
      assert.equal(slowRuns, 1, 'the duplicates did not run the handler');

      firsts.push(send(one, '/impatient', 'slow-2'));
      await claimed('slow-2');
      const t0 = performance.now();
      const impatient = await send(two, '/impatient', 'slow-2');
      assert.equal(impatient.status, 409, 'past waitMs (150 ms) the duplicate gives up');
      assert.equal(impatient.headers.get('retry-after'), '1');
      assert.equal(((await impatient.json()) as { error: { code: string } }).error.code, 'BRISK_SVC_IDEMPOTENCY_IN_PROGRESS');
      assert.ok(performance.now() - t0 < 2000, 'it answered before the first one finished');

      firsts.push(send(one, '/slow', 'slow-3'));
      await claimed('slow-3');
      const short = await send(two, '/slow', 'slow-3', { 'x-brisk-timeout-ms': '300' });
      assert.equal(short.status, 409, 'the duplicate waits no longer than its own deadline');
      assert.equal(short.headers.get('retry-after'), '1');
      assert.deepEqual((await Promise.all(firsts)).map((f) => f.status), [201, 201, 201]);
      assert.equal(slowRuns, 3);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
      await db2.close();
    }
  });
});
