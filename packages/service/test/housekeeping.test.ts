/**
 * Housekeeping removes only what is old: against PostgreSQL (the embedded PGlite, the same
 * pg code path) for idempotency keys, sagas, outbox events and applied step keys; a
 * memory cache; and a log folder on disk. Each case seeds old and young items side by
 * side and checks exactly which went, that the removals are logged and counted, and that
 * a failing job neither stops the others nor goes unreported.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Cache } from '../src/cache/cache.js';
import { Database } from '../src/db/database.js';
import { Housekeeper } from '../src/housekeeping/housekeeper.js';
import { appliedKeysJob, cacheJob, finishedSagasJob, idempotencyKeysJob, logFilesJob } from '../src/housekeeping/jobs.js';
import { IdempotencyStore } from '../src/idempotency/idempotency.js';
import { appliedKeysTable, orchestratorTables } from '../src/saga/sql.js';

const DAY = 24 * 3600_000;
const silent = pino({ level: 'silent' });

describe('housekeeping', () => {
  let db: Database;
  before(async () => {
    delete process.env['DATABASE_URL'];
    db = await Database.connect({ logger: silent });
    await db.write(orchestratorTables('hk') + appliedKeysTable('hk'));
  });
  after(async () => {
    await db?.close();
  });

  test('idempotency keys: only those past their retention go, in batches', async () => {
    const store = new IdempotencyStore(db, { schema: 'hk' });
    await store.init();
    const insert = (key: string, expiresIn: string) => db.write(`insert into hk.idempotency_keys (scope, key, request_hash, state, expires_at) values ('POST /orders', $1, 'h', 'done', now() + $2::interval)`, [key, expiresIn]);
    for (let i = 0; i < 5; i++) await insert(`old-${i}`, '-1 hour');
    await insert('young', '23 hours');
    await insert('just-made', '1 second');
    const result = await idempotencyKeysJob(store, { batch: 2 }).run(new AbortController().signal);
    assert.equal(result.removed, 5);
    const { rows } = await db.read<{ key: string }>('select key from hk.idempotency_keys order by key', [], { primary: true });
    assert.deepEqual(rows.map((r) => r.key), ['just-made', 'young']);
  });

  test('sagas: finished and old go; open ones stay whatever their age; outbox: published and old go', async () => {
    const saga = (id: string, state: string, age: string) => db.write(`insert into hk.sagas (id, definition, state, input, updated_at) values ($1, 'checkout', $2, '{}'::jsonb, now() - $3::interval)`, [id, state, age]);
    await saga('committed-old', 'committed', '8 days');
    await saga('compensated-old', 'compensated', '30 days');
    await saga('committed-young', 'committed', '1 day');
    await saga('running-old', 'running', '30 days');
    await saga('compensating-old', 'compensating', '30 days');
    await saga('pending-old', 'pending', '30 days');
    const event = (topic: string, published: string | null) => db.write(`insert into hk.outbox (topic, payload, published_at) values ($1, '{}'::jsonb, now() - $2::interval)`, [topic, published]);
    await event('published-old', '8 days');
    await event('published-young', '1 hour');
    await event('unpublished', null);
    const result = await finishedSagasJob(db, { schema: 'hk', olderThanMs: 7 * DAY, batch: 1 }).run(new AbortController().signal);
    assert.deepEqual(result, { removed: 3, detail: { sagas: 2, outboxEvents: 1 } });
    const sagas = await db.read<{ id: string }>('select id from hk.sagas order by id', [], { primary: true });
    assert.deepEqual(sagas.rows.map((r) => r.id), ['committed-young', 'compensating-old', 'pending-old', 'running-old']);
    const events = await db.read<{ topic: string }>('select topic from hk.outbox order by topic', [], { primary: true });
    assert.deepEqual(events.rows.map((r) => r.topic), ['published-young', 'unpublished']);
  });

  test('applied step keys: only those older than the bound', async () => {
    await db.write(`insert into hk.applied_keys (key, outcome, applied_at) values ('s1:0:forward', 'done', now() - interval '8 days'), ('s2:0:forward', 'done', now() - interval '6 days'), ('s3:1:compensate', 'done', now())`);
    const job = appliedKeysJob(db, { schema: 'hk' });
    assert.equal(job.name, 'applied-keys:hk');
    assert.equal((await job.run(new AbortController().signal)).removed, 1);
    const { rows } = await db.read<{ key: string }>('select key from hk.applied_keys order by key', [], { primary: true });
    assert.deepEqual(rows.map((r) => r.key), ['s2:0:forward', 's3:1:compensate']);
  });

  test('cache: expired memory entries go, fresh and stale-servable ones stay', async () => {
    const cache = new Cache({ name: 'catalogue', ttlMs: 60_000, staleMs: 1000, jitter: 0, logger: silent });
    await cache.set('short-1', 1, { ttlMs: 10 });
    await cache.set('short-2', 2, { ttlMs: 10 });
    await cache.set('long', 3);
    assert.equal(cache.memorySize, 3);
    // 2 s later: the short ones are past fresh (10 ms) and stale (1 s) time.
    assert.equal(cache.sweepExpired(Date.now() + 2000), 2);
    assert.equal(cache.memorySize, 1);
    // Within the stale window an entry is still servable, so it stays.
    await cache.set('stale-ok', 4, { ttlMs: 10 });
    assert.equal(cache.sweepExpired(Date.now() + 500), 0);
    const job = cacheJob(cache);
    assert.equal(job.name, 'cache:catalogue');
    assert.deepEqual(await job.run(new AbortController().signal), { removed: 0, detail: { left: 2 } });
    await cache.close();
  });

  test('log files: old matching files go; the file in use, other files and folders stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hk-logs-'));
    const old = (Date.now() - 20 * DAY) / 1000;
    for (const name of ['access.log.1', 'access.log.2.gz', 'orders-2026-11-01.log', 'notes.txt', 'access.log']) writeFileSync(join(dir, name), 'x'.repeat(100));
    mkdirSync(join(dir, 'archive.log'));
    for (const name of ['access.log.1', 'access.log.2.gz', 'orders-2026-11-01.log', 'notes.txt', 'archive.log']) utimesSync(join(dir, name), old, old);
    const result = await logFilesJob({ dir, olderThanMs: 14 * DAY }).run(new AbortController().signal);
    assert.equal(result.removed, 3);
    assert.equal(result.detail?.['bytes'], 300);
    assert.deepEqual(readdirSync(dir).sort(), ['access.log', 'archive.log', 'notes.txt']);
    assert.equal((await logFilesJob({ dir: join(dir, 'missing') }).run(new AbortController().signal)).removed, 0);
  });

  test('the housekeeper: runs every job, logs and counts removals, reports a failing job and carries on, runs on its schedule', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const registry = new Registry();
    let scheduled = 0;
    const housekeeper = new Housekeeper({
      logger,
      registry,
      intervalMs: 40,
      jobs: [
        { name: 'broken', run: async () => Promise.reject(new Error('table is locked')) },
        { name: 'three', run: async () => ({ removed: 3, detail: { what: 'old rows' } }) },
        { name: 'none', run: async () => ({ removed: 0 }) },
        { name: 'ticks', run: async () => ((scheduled++, { removed: 0 })) },
      ],
    });
    assert.deepEqual(await housekeeper.runOnce(), { broken: 0, three: 3, none: 0, ticks: 0 });
    const removed = lines.find((l) => l['msg'] === 'housekeeping: removed old items');
    assert.deepEqual({ job: removed?.['job'], removed: removed?.['removed'], what: removed?.['what'] }, { job: 'three', removed: 3, what: 'old rows' });
    assert.ok(lines.some((l) => l['msg'] === 'housekeeping: a job failed; it runs again next time' && l['job'] === 'broken' && l['err'] === 'table is locked'));
    const metrics = await registry.metrics();
    assert.match(metrics, /brisk_svc_housekeeping_removed_total\{job="three"\} 3/);
    assert.match(metrics, /brisk_svc_housekeeping_removed_total\{job="none"\} 0/);
    assert.match(metrics, /brisk_svc_housekeeping_runs_total\{job="broken",result="failed"\} 1/);
    assert.match(metrics, /brisk_svc_housekeeping_runs_total\{job="three",result="ok"\} 1/);

    housekeeper.start();
    const deadline = Date.now() + 5000;
    while (scheduled < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await housekeeper.stop();
    assert.ok(scheduled >= 3, `scheduled runs: ${scheduled}`);
    const after = scheduled;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(scheduled, after, 'no run after stop()');
    assert.throws(() => new Housekeeper({ jobs: [{ name: 'x', run: async () => ({ removed: 0 }) }, { name: 'x', run: async () => ({ removed: 0 }) }] }), /two jobs are named "x"/);
    const grown = new Housekeeper({ jobs: [], registry: new Registry(), logger: silent }).add({ name: 'a', run: async () => ({ removed: 1 }) }).add({ name: 'b', run: async () => ({ removed: 2 }) });
    assert.deepEqual(grown.jobs, ['a', 'b']);
    assert.deepEqual(await grown.runOnce(), { a: 1, b: 2 });
    assert.throws(() => grown.add({ name: 'a', run: async () => ({ removed: 0 }) }), /two jobs are named "a"/);
  });
});
