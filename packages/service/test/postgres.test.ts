/**
 * The highly available database against real PostgreSQL: routing, a switchover, a
 * demoted primary answering 25006, dropped idle connections, deadlines as statement
 * timeouts, and which failures are retried.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { runWithContext } from '../src/context.js';
import { Database } from '../src/db/database.js';
import { isServiceError, type ServiceError } from '../src/errors.js';
import { startLocalPostgres, postgresInstalled, POSTGRES_NOT_INSTALLED, type LocalPostgresCluster } from '../src/local/postgres.js';
import { pino } from 'pino';

const silent = pino({ level: 'silent' });
const context = (ms: number) => ({ requestId: 't', deadline: Date.now() + ms, trace: { traceId: '0'.repeat(31) + '1', spanId: '1'.repeat(16), parentSpanId: undefined, flags: '01', state: undefined }, signal: new AbortController().signal });

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('highly available PostgreSQL', { skip: postgresInstalled() ? false : POSTGRES_NOT_INSTALLED }, () => {
  let cluster: LocalPostgresCluster;
  let db: Database;
  before(async () => {
    cluster = await startLocalPostgres({ replicas: 1 });
    db = await Database.connect({ url: cluster.url, logger: silent, retryBudgetMs: 8000 });
    await db.write('create table items (id integer primary key, v text)');
    await until('the replica to be seen', () => db.status().hosts.some((h) => h.role === 'replica' && h.lagMs !== null));
  });
  after(async () => {
    await db?.close();
    await cluster?.stop();
  });

  test('writes go to the primary, reads to the replica, a token read sees its write', async () => {
    const { token } = await db.write('insert into items values (1, $1)', ['one']);
    const onPrimary = await db.write<{ port: number }>('select inet_server_port() as port');
    assert.equal(onPrimary.rows[0]!.port, cluster.primary.port);
    await until('the replica to be fresh', () => db.status().hosts.some((h) => h.role === 'replica' && h.lagMs !== null && h.lagMs < 1000));
    const read = await db.read<{ port: number }>('select inet_server_port() as port');
    assert.equal(read.rows[0]!.port, cluster.replicas[0]!.port);
    const mine = await db.read<{ v: string }>('select v from items where id = 1', [], { token });
    assert.equal(mine.rows[0]!.v, 'one');
    const metrics = await db.registry.metrics();
    assert.match(metrics, /brisk_svc_db_replica_lag_seconds\{db="main",host="127\.0\.0\.1:\d+"\}/);
    assert.match(metrics, /brisk_svc_db_host_up\{db="main",host="127\.0\.0\.1:\d+",role="primary"\} 1/);
  });

  test('instances creating their schema at once all succeed: migrate() takes turns under an advisory lock', async () => {
    // Without the lock, concurrent `create … if not exists` fails now and then with 23505
    // on pg_type_typname_nsp_index (a game-day crash of a starting instance).
    const instances = await Promise.all(Array.from({ length: 6 }, () => Database.connect({ url: cluster.url, logger: silent, retryBudgetMs: 8000 })));
    try {
      await Promise.all(instances.map((i) => i.write('select 1')));
      for (let round = 0; round < 5; round++) {
        const ddl = `create schema if not exists race_${round};
          create table if not exists race_${round}.orders (id integer primary key, total integer not null);
          create table if not exists race_${round}.lines (order_id integer references race_${round}.orders (id), sku text);
          create index if not exists lines_sku on race_${round}.lines (sku);`;
        const results = await Promise.allSettled(instances.map((i) => i.migrate(ddl)));
        assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], `round ${round}`);
      }
      const { rows } = await db.write<{ n: number }>(`select count(*)::int as n from pg_tables where schemaname like 'race\\_%'`);
      assert.equal(rows[0]!.n, 10);
    } finally {
      await Promise.all(instances.map((i) => i.close()));
    }
  });

  test('idle connections killed by the server do not crash the process; the next query reconnects', async () => {
    await Promise.all(Array.from({ length: 8 }, () => db.write('select pg_sleep(0.01)')));
    const admin = new pg.Client({ connectionString: cluster.primary.url });
    await admin.connect();
    const killed = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'brisk-service:main' and pid <> pg_backend_pid()`);
    await admin.end();
    assert.ok(killed.rowCount! >= 2, `only ${killed.rowCount} backends to kill`);
    await new Promise((r) => setTimeout(r, 200));
    const { rows } = await db.write<{ one: number }>('select 1 as one', [], { idempotent: true });
    assert.equal(rows[0]!.one, 1);
  });

  test('a deadline becomes the statement timeout; a passed deadline runs nothing', async () => {
    const started = Date.now();
    await assert.rejects(
      runWithContext(context(300), () => db.read('select pg_sleep(5)', [], { primary: true })),
      (e: ServiceError) => e.code === 'BRISK_SVC_DB_TIMEOUT' && e.sqlState === '57014',
    );
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    await assert.rejects(
      runWithContext(context(-1), () => db.read('select 1')),
      (e: ServiceError) => e.code === 'BRISK_SVC_DEADLINE_EXCEEDED',
    );
    const { rows } = await db.read<{ t: string }>('show statement_timeout', [], { primary: true });
    assert.equal(rows[0]!.t === undefined ? Object.values(rows[0]!)[0] : rows[0]!.t, '0', 'outside a request the configured timeout (none) applies again');
  });

  test('a query error is not retried and keeps its SQLSTATE', async () => {
    await assert.rejects(db.write('insert into items values (1, $1)', ['again'], { idempotent: true }), (e: ServiceError) => e.code === 'BRISK_SVC_DB_QUERY_FAILED' && e.sqlState === '23505');
  });

  test('a connection cut mid-write: not retried unless idempotent', async () => {
    await db.write('create table hits (n serial primary key, tag text)');
    const cut = async () => {
      const admin = new pg.Client({ connectionString: cluster.primary.url });
      await admin.connect();
      setTimeout(() => void admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where query like '%pg_sleep(0.3)%' and pid <> pg_backend_pid()`).finally(() => admin.end()), 100);
    };
    await cut();
    await assert.rejects(db.write(`insert into hits (tag) select 'once' from pg_sleep(0.3)`), (e: ServiceError) => e.code === 'BRISK_SVC_DB_UNAVAILABLE' && /not retried/.test(e.message));
    await cut();
    await db.write(`insert into hits (tag) select 'retried' from pg_sleep(0.3)`, [], { idempotent: true });
    const { rows } = await db.read<{ tag: string; n: number }>('select tag, count(*)::int as n from hits group by tag order by tag', [], { primary: true });
    assert.deepEqual(rows, [{ tag: 'retried', n: 1 }], 'the cut insert ran 0 times; the idempotent one once after its retry');
  });

  test('a primary that turns read-only (25006) is evicted and found again when it is writable', async () => {
    const admin = new pg.Client({ connectionString: cluster.primary.url });
    await admin.connect();
    try {
      await admin.query('alter system set default_transaction_read_only = on');
      await admin.query('select pg_reload_conf()');
      await new Promise((r) => setTimeout(r, 200));
      const quick = await Database.connect({ url: cluster.url, logger: silent, retryBudgetMs: 600 });
      try {
        await assert.rejects(quick.write('insert into items values (99, $1)', ['x']), (e: ServiceError) => isServiceError(e, 'BRISK_SVC_DB_NO_PRIMARY') && e.sqlState === '25006');
        await admin.query('alter system reset default_transaction_read_only');
        await admin.query('select pg_reload_conf()');
        await new Promise((r) => setTimeout(r, 200));
        const { rowCount } = await quick.write('insert into items values (99, $1)', ['x']);
        assert.equal(rowCount, 1);
      } finally {
        await quick.close();
      }
    } finally {
      await admin.query('alter system reset default_transaction_read_only').catch(() => {});
      await admin.query('select pg_reload_conf()').catch(() => {});
      await admin.end();
    }
  });

  test('switchover: the replica is promoted, the old primary follows it; writes go on, nothing fails', { timeout: 60_000 }, async () => {
    const errors: string[] = [];
    let written = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 1000; !stop; i++) {
        try {
          await db.write('insert into items values ($1, $2) on conflict do nothing', [i, 'w'], { idempotent: true });
          written++;
        } catch (error) {
          errors.push((error as Error).message);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const changes = async () => Number(/brisk_svc_db_primary_changes_total\{db="main"\} (\d+)/.exec(await db.registry.metrics())?.[1]);
    const changesBefore = await changes();
    const [oldPrimary, replica] = [cluster.primary, cluster.replicas[0]!];
    await oldPrimary.stop();
    await replica.promote();
    await oldPrimary.follow(replica);
    await until('the old primary to be a replica', () => db.status().hosts.find((h) => h.address.endsWith(`:${oldPrimary.port}`))?.role === 'replica');
    const before = written;
    await until('writes on the new primary', () => written > before + 20);
    stop = true;
    await writer;
    assert.deepEqual(errors, []);
    assert.equal(db.status().primary, `127.0.0.1:${replica.port}`);
    const read = await db.read<{ port: number }>('select inet_server_port() as port');
    assert.equal(read.rows[0]!.port, oldPrimary.port, 'reads go to the new replica (the old primary)');
    assert.ok((await changes()) > changesBefore, 'the change of primary is counted');
  });
});
