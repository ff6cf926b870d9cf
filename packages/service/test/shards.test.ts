/** Sharding across real databases, and adding a shard by moving slots. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { Database } from '../src/db/database.js';
import { evenSlotMap, ShardedDatabase } from '../src/db/shards.js';
import { startLocalPostgres, postgresInstalled, POSTGRES_NOT_INSTALLED, type LocalPostgresCluster } from '../src/local/postgres.js';

const silent = pino({ level: 'silent' });

describe('sharding', { skip: postgresInstalled() ? false : POSTGRES_NOT_INSTALLED }, () => {
  let cluster: LocalPostgresCluster;
  const dbs: Record<string, Database> = {};
  before(async () => {
    cluster = await startLocalPostgres();
    const admin = new pg.Client({ connectionString: cluster.primary.url });
    await admin.connect();
    for (const name of ['a', 'b', 'c']) await admin.query(`create database shard_${name}`);
    await admin.end();
    for (const name of ['a', 'b', 'c']) {
      dbs[name] = await Database.connect({ url: cluster.url.replace(/\/postgres$/, `/shard_${name}`), name: `shard_${name}`, logger: silent });
      await dbs[name]!.write('create table accounts (id text primary key, shard_slot integer not null, balance integer not null); create index on accounts (shard_slot)');
    }
  });
  after(async () => {
    await Promise.all(Object.values(dbs).map((d) => d.close()));
    await cluster?.stop();
  });

  test('rows are routed by key; a new shard takes slots over without losing or duplicating a row', { timeout: 60_000 }, async () => {
    const sharded = new ShardedDatabase({ shards: dbs, map: evenSlotMap(['a', 'b']) });
    const keys = Array.from({ length: 600 }, (_, i) => `user-${i}`);
    for (const key of keys) await sharded.write(key, 'insert into accounts values ($1, $2, 100)', [key, sharded.slotOf(key)]);
    const count = async (name: string) => (await dbs[name]!.read<{ n: number }>('select count(*)::int as n from accounts', [], { primary: true })).rows[0]!.n;
    const [a, b] = [await count('a'), await count('b')];
    assert.equal(a + b, 600);
    assert.ok(a > 250 && b > 250, `uneven: ${a} / ${b}`);

    // Adding shard c: move slots 0-127 (from a) and 512-639 (from b) to it, one slot at a time.
    let moved = 0;
    for (const slot of [...Array.from({ length: 128 }, (_, i) => i), ...Array.from({ length: 128 }, (_, i) => 512 + i)]) moved += (await sharded.moveSlot(slot, 'c', ['accounts'])).rows;
    const [a2, b2, c2] = [await count('a'), await count('b'), await count('c')];
    assert.equal(a2 + b2 + c2, 600, 'no row lost or duplicated');
    assert.equal(c2, moved);
    assert.ok(c2 > 100, `only ${c2} rows moved`);
    for (const key of keys) {
      const { rows } = await sharded.read<{ balance: number }>(key, 'select balance from accounts where id = $1', [key], { primary: true });
      assert.equal(rows[0]?.balance, 100, `${key} not found on its shard ${sharded.shardOf(key)}`);
    }
    // The new map is what a second instance would load from its configuration.
    const fresh = new ShardedDatabase({ shards: dbs, map: [[0, 127, 'c'], [128, 511, 'a'], [512, 639, 'c'], [640, 1023, 'b']] });
    for (const key of keys) assert.equal(fresh.shardOf(key), sharded.shardOf(key));
  });
});
