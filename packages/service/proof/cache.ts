/**
 * Scenarios 3 and 4: a stampede of misses on one key, and Redis killed under load.
 * The loader reads real PostgreSQL and counts its loads in the database itself.
 */
import { Cache } from '../src/cache/cache.js';
import { Database } from '../src/db/database.js';
import { startLocalPostgres } from '../src/local/postgres.js';
import { startLocalRedis } from '../src/local/redis.js';
import { openLoop, percent, quietLogger, sleep, type ScenarioResult } from './common.js';

export interface CacheTiming {
  /** Phases of the Redis outage scenario (ms). */
  beforeMs: number;
  outageMs: number;
  afterMs: number;
  /** Requests per second during it. */
  rate: number;
}

export const FULL_CACHE: CacheTiming = { beforeMs: 5000, outageMs: 10_000, afterMs: 8000, rate: 500 };
export const SHORT_CACHE: CacheTiming = { beforeMs: 2500, outageMs: 3000, afterMs: 4000, rate: 400 };

export async function runCacheScenarios(timing: CacheTiming): Promise<ScenarioResult[]> {
  const cluster = await startLocalPostgres();
  const redis = await startLocalRedis();
  let db: Database | undefined;
  try {
    db = await Database.connect({ url: cluster.url, logger: quietLogger });
    await db.write('create table proof_items (id integer primary key, name text not null); create table proof_loads (key text primary key, n integer not null)');
    await db.write(`insert into proof_items select g, 'item ' || g from generate_series(0, 999) g`);
    return [await stampede(db, redis.url), await redisOutage(db, redis, timing)];
  } finally {
    await db?.close();
    await redis.stop();
    await cluster.stop();
  }
}

/** A load that costs a database round trip and counts itself in the database. */
function loader(db: Database, key: string, id: number) {
  return async () => {
    await db.write('insert into proof_loads (key, n) values ($1, 1) on conflict (key) do update set n = proof_loads.n + 1', [key]);
    const { rows } = await db.read<{ name: string }>('select name, pg_sleep(0.02) from proof_items where id = $1', [id]);
    return rows[0]?.name ?? null;
  };
}

async function stampede(db: Database, redisUrl: string): Promise<ScenarioResult> {
  const cache = new Cache({ name: 'stampede', redis: redisUrl, logger: quietLogger });
  try {
    await sleep(200); // connected
    const key = 'item:7';
    const values = await Promise.all(Array.from({ length: 1000 }, () => cache.get(key, loader(db, key, 7))));
    const { rows } = await db.read<{ n: number }>('select n from proof_loads where key = $1', [key], { primary: true });
    const loads = rows[0]?.n ?? 0;
    const wrong = values.filter((v) => v !== 'item 7').length;
    return {
      scenario: '1,000 concurrent cache misses on one key',
      bar: '1 database load',
      measured: `${loads} database load${loads === 1 ? '' : 's'} (counted in PostgreSQL); ${1000 - wrong}/1000 callers got the value`,
      pass: loads === 1 && wrong === 0,
      details: { loads, wrongValues: wrong, stats: cache.stats() },
    };
  } finally {
    await cache.close();
  }
}

async function redisOutage(db: Database, redis: Awaited<ReturnType<typeof startLocalRedis>>, timing: CacheTiming): Promise<ScenarioResult> {
  // 200 keys, 50 in memory: a Redis tier that matters (memory alone holds a quarter).
  const cache = new Cache({ name: 'outage', redis: redis.url, maxMemoryEntries: 50, ttlMs: 60_000, logger: quietLogger });
  const windows: { at: number; hits: number; total: number; errors: number }[] = [];
  let window = { at: 0, hits: 0, total: 0, errors: 0 };
  const began = performance.now();
  let errors = 0;
  const load = openLoop(timing.rate, async () => {
    const id = Math.floor(Math.random() * 200);
    try {
      const { result } = await cache.lookup(`item:${id}`, loader(db, `outage:${id}`, id));
      window.total++;
      if (result !== 'miss') window.hits++;
    } catch {
      errors++;
      window.errors++;
    }
  });
  const ticker = setInterval(() => {
    windows.push(window);
    window = { at: Math.round(performance.now() - began), hits: 0, total: 0, errors: 0 };
  }, 1000);
  try {
    await sleep(timing.beforeMs);
    const ratioBefore = ratio(windows.slice(-2));
    const killedAt = Math.round(performance.now() - began);
    await redis.kill();
    await sleep(timing.outageMs);
    const ratioDuring = ratio(windows.slice(-2));
    await redis.start();
    const restartedAt = Math.round(performance.now() - began);
    await sleep(timing.afterMs);
    await load.stop();
    const ratioAfter = ratio(windows.slice(-2));
    const pass = errors === 0 && ratioAfter >= ratioBefore * 0.9;
    return {
      scenario: `Redis killed for ${timing.outageMs / 1000} s under ${timing.rate} reads/s`,
      bar: '0 errors, hit ratio recovers after',
      measured: `${errors} errors; hit ratio ${percent(ratioBefore, 1)} before, ${percent(ratioDuring, 1)} while Redis was down (memory tier only), ${percent(ratioAfter, 1)} ${timing.afterMs / 1000} s after it came back`,
      pass,
      details: { errors, ratioBefore, ratioDuring, ratioAfter, killedAtMs: killedAt, restartedAtMs: restartedAt, windows, stats: cache.stats() },
    };
  } finally {
    clearInterval(ticker);
    await load.stop();
    await cache.close();
  }
}

function ratio(ws: { hits: number; total: number }[]): number {
  const total = ws.reduce((s, w) => s + w.total, 0);
  return total === 0 ? 0 : ws.reduce((s, w) => s + w.hits, 0) / total;
}
