/** Cache-aside: memory only, then with real Redis (two instances sharing it, and an outage). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Cache } from '../src/cache/cache.js';
import { type ServiceError } from '../src/errors.js';
import { startLocalRedis, redisServerPath, REDIS_NOT_INSTALLED, type LocalRedis } from '../src/local/redis.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('cache-aside, memory only', () => {
  test('a stampede of misses loads once; values are cached until their TTL', async () => {
    // A TTL long enough that a loaded machine cannot expire the entry between the load and the lookup.
    const cache = new Cache({ logger: silent, ttlMs: 1000, jitter: 0 });
    let loads = 0;
    const load = async () => {
      loads++;
      await sleep(20);
      return { n: loads };
    };
    const values = await Promise.all(Array.from({ length: 500 }, () => cache.get('k', load)));
    assert.equal(loads, 1);
    assert.ok(values.every((v) => v.n === 1));
    assert.equal((await cache.lookup('k', load)).result, 'hit_memory');
    await sleep(1100);
    assert.deepEqual(await cache.get('k', load), { n: 2 });
    await cache.close();
  });

  test('stale-while-revalidate: an expired entry is served at once while one refresh runs; a failed refresh keeps it', async () => {
    const cache = new Cache({ logger: silent, ttlMs: 50, staleMs: 5000, jitter: 0 });
    let version = 0;
    await cache.get('k', async () => ++version);
    await sleep(70);
    let slowLoads = 0;
    const slow = async () => {
      slowLoads++;
      await sleep(400);
      return ++version;
    };
    const started = Date.now();
    const [a, b] = await Promise.all([cache.lookup('k', slow), cache.lookup('k', slow)]);
    assert.ok(Date.now() - started < 300, 'served without waiting for the refresh');
    assert.deepEqual([a.value, a.result, b.result], [1, 'stale', 'stale']);
    await sleep(500);
    assert.equal(slowLoads, 1);
    assert.equal(await cache.get('k', slow), 2);
    await sleep(70);
    const failing = async (): Promise<number> => {
      throw new Error('database down');
    };
    assert.equal(await cache.get('k', failing), 2, 'stale value served while the refresh fails');
    await cache.close();
  });

  test('a failing load without a stale value is BRISK_SVC_CACHE_LOAD_FAILED; TTLs are jittered', async () => {
    const cache = new Cache({ logger: silent });
    await assert.rejects(
      cache.get('x', async () => {
        throw new Error('boom');
      }),
      (e: ServiceError) => e.code === 'BRISK_SVC_CACHE_LOAD_FAILED' && /"x".*boom/.test(e.message),
    );
    const jittered = new Cache({ logger: silent, ttlMs: 2000, jitter: 0.4 });
    const expiries = new Set<number>();
    for (let i = 0; i < 50; i++) {
      await jittered.set(`j${i}`, i);
    }
    // Entries written together expire at different times (1.2-2.8 s): after 2 s some are gone, some not.
    await sleep(2000);
    for (let i = 0; i < 50; i++) expiries.add((await jittered.lookup(`j${i}`, async () => -1)).result === 'miss' ? 1 : 0);
    assert.deepEqual([...expiries].sort(), [0, 1], 'some expired early, some not');
    await cache.close();
    await jittered.close();
  });
});

describe('cache-aside with Redis', { skip: redisServerPath() === undefined ? REDIS_NOT_INSTALLED : false }, () => {
  let redis: LocalRedis;
  before(async () => {
    redis = await startLocalRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('a second instance reads what the first loaded; an invalidation reaches the other instance', async () => {
    const a = new Cache({ name: 'shared', redis: redis.url, logger: silent });
    const b = new Cache({ name: 'shared', redis: redis.url, logger: silent });
    try {
      await until('both connected', () => a.stats().redisUp && b.stats().redisUp);
      await sleep(100); // subscribed
      assert.equal(await a.get('p:1', async () => 'v1'), 'v1');
      assert.deepEqual(await b.lookup('p:1', async () => 'wrong'), { value: 'v1', result: 'hit_redis' });
      assert.equal((await b.lookup('p:1', async () => 'wrong')).result, 'hit_memory');
      await a.invalidate('p:1');
      await sleep(100);
      assert.deepEqual(await b.lookup('p:1', async () => 'v2'), { value: 'v2', result: 'miss' });
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('Redis down: memory and loader only, no errors; invalidations made meanwhile are replayed', async () => {
    const a = new Cache({ name: 'outage', redis: redis.url, logger: silent });
    const b = new Cache({ name: 'outage', redis: redis.url, logger: silent });
    try {
      await until('connected', () => a.stats().redisUp && b.stats().redisUp);
      await a.get('k', async () => 'old');
      assert.equal(await b.get('k', async () => 'unused'), 'old');
      await redis.kill();
      await until('the outage to be noticed', () => !a.stats().redisUp);
      const errorsBefore = a.stats().redisErrors;
      assert.equal(await a.get('k', async () => 'unused'), 'old', 'memory tier still serves');
      assert.equal(await a.get('other', async () => 'loaded'), 'loaded', 'a miss goes to the loader');
      assert.equal(a.stats().redisErrors, errorsBefore, 'no command sent to the dead Redis (nothing to wait for)');
      await a.invalidate('k');
      await redis.start();
      await until('reconnected', () => a.stats().redisUp && b.stats().redisUp, 10_000);
      await sleep(200);
      // b missed the invalidation while Redis was down: its memory tier was cleared on reconnect.
      assert.equal(await b.get('k', async () => 'new'), 'new');
      assert.equal(a.stats().loadErrors + b.stats().loadErrors, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
