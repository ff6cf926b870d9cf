/**
 * The embedded default: with no database configured, the same code runs on PGlite served
 * over the PostgreSQL wire protocol (the `pg` driver path), with a memory-only cache.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Cache } from '../src/cache/cache.js';
import { Database } from '../src/db/database.js';
import { IdempotencyStore, idempotentTransaction } from '../src/idempotency/idempotency.js';
import { SagaOrchestrator } from '../src/saga/orchestrator.js';
import { Participant } from '../src/saga/participant.js';
import { createService, json } from '../src/service/service.js';

const silent = pino({ level: 'silent' });

describe('embedded default (PGlite over the wire protocol)', () => {
  let db: Database;
  before(async () => {
    delete process.env['DATABASE_URL'];
    db = await Database.connect({ logger: silent });
  });
  after(async () => {
    await db?.close();
  });

  test('with nothing configured, the database is PGlite behind a loopback socket, reached through pg', async () => {
    assert.equal(db.embedded, true);
    const status = db.status();
    assert.equal(status.hosts.length, 1);
    assert.match(status.primary ?? '', /^127\.0\.0\.1:\d+$/);
    const { rows } = await db.read<{ v: string }>('select version() as v');
    assert.match(rows[0]!.v, /PGlite/);
    await db.write('create table notes (id integer primary key, body text)');
    const { token } = await db.write('insert into notes values (1, $1)', ['hi']);
    assert.equal((await db.read<{ body: string }>('select body from notes where id = 1', [], { token })).rows[0]!.body, 'hi');
    const { value } = await db.transaction(async (tx) => (await tx.query<{ n: number }>('select count(*)::int as n from notes')).rows[0]!.n);
    assert.equal(value, 1);
    assert.deepEqual(await db.check(), { ok: true, detail: `primary ${status.primary}` });
  });

  test('migrate() runs schema DDL on PGlite too (the advisory lock is granted), concurrent calls all succeed', async () => {
    const ddl = 'create schema if not exists race; create table if not exists race.t (id integer primary key)';
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => db.migrate(ddl)));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const { token } = await db.write('insert into race.t values (1)');
    assert.equal((await db.read<{ n: number }>('select count(*)::int as n from race.t', [], { token })).rows[0]!.n, 1);
  });

  test('concurrent connections never see each other\'s statements or rows (batches and transactions run whole)', { timeout: 60_000 }, async () => {
    // pglite-socket alone interleaves Parse/Bind/Execute of two connections: 26000 errors
    // or another query's rows (embedded-queue.ts). 12 connections × 40 parameterised queries.
    await db.write('create table owners (id int primary key, owner text not null, v int not null)');
    for (let i = 0; i < 12; i++) await db.write('insert into owners values ($1, $2, 0)', [i, `o${i}`]);
    const wrong: string[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        for (let j = 0; j < 40; j++) {
          if (j % 4 === 0) await db.transaction(async (tx) => void (await tx.query('update owners set v = v + 1 where id = $1', [i])));
          const { rows } = await db.write<{ id: number }>('update owners set v = v + 1 where id = $1 and owner = $2 returning id', [i, `o${i}`]);
          if (rows.length !== 1 || rows[0]!.id !== i) wrong.push(`${i}: ${JSON.stringify(rows)}`);
        }
      }),
    );
    assert.deepEqual(wrong, []);
    const { rows } = await db.read<{ total: number }>('select sum(v)::int as total from owners', [], { primary: true });
    assert.equal(rows[0]!.total, 12 * 50);
  });

  test('the cache without Redis is memory only', async () => {
    const cache = new Cache({ logger: silent });
    let loads = 0;
    await Promise.all(Array.from({ length: 100 }, () => cache.get('k', async () => ++loads)));
    assert.equal(loads, 1);
    assert.equal(cache.stats().redisUp, false);
  });

  test('idempotent POSTs and a saga run unchanged on it', { timeout: 60_000 }, async () => {
    const store = new IdempotencyStore(db);
    await store.init();
    const service = createService({ name: 'embedded', logger: silent, handleSignals: false }).route(
      'POST',
      '/things',
      idempotentTransaction(store, async (_ctx, tx) => json(201, (await tx.query<{ id: number }>('insert into notes values ((select coalesce(max(id), 0) + 1 from notes), $1) returning id', ['thing'])).rows[0])),
    );
    await service.start();
    try {
      const send = () => fetch(`${service.url}/things`, { method: 'POST', headers: { 'idempotency-key': 'k1' }, body: '{}' });
      const answers = await Promise.all([send(), send(), send()]);
      assert.deepEqual(answers.map((a) => a.status), [201, 201, 201]);
      assert.equal((await db.read<{ n: number }>(`select count(*)::int as n from notes where body = 'thing'`)).rows[0]!.n, 1);
    } finally {
      await service.stop();
    }
    const participant = new Participant(db, { schema: 'wallet' });
    await participant.init();
    const orchestrator = new SagaOrchestrator({
      db,
      logger: silent,
      definitions: [
        {
          name: 'pay',
          steps: [
            { name: 'debit', forward: (c) => participant.forward(c.key, async () => 'debited'), compensate: async (c) => void (await participant.compensate(c.key, async () => {})) },
            { name: 'credit', forward: (c) => participant.forward(c.key, async () => 'credited'), compensate: async (c) => void (await participant.compensate(c.key, async () => {})) },
          ],
        },
      ],
    });
    await orchestrator.init();
    const saga = await orchestrator.run('pay', { amount: 3 });
    assert.equal(saga.state, 'committed');
    assert.deepEqual(saga.results, { debit: 'debited', credit: 'credited' });
  });
});
