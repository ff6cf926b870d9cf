/**
 * Housekeeping in the shop's orders service (the one that stores the most): with the
 * schedule shortened, old finished sagas and applied step keys are
 * removed from its database and counted on its /metrics, while young ones and open sagas
 * stay. The jobs themselves are tested in packages/service/test/housekeeping.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Database, startEmbeddedPostgres, type EmbeddedPostgres, type Service } from '@brisk/service';
import { startOrders } from '../src/orders/app.js';
import { silent } from './helpers.js';

let pg: EmbeddedPostgres;
let orders: Service;
let db: Database;

before(async () => {
  pg = await startEmbeddedPostgres();
  process.env['SHOP_HOUSEKEEPING_INTERVAL_MS'] = '150';
  // The peers are never called here: no checkout runs.
  orders = await startOrders({ databaseUrl: pg.url, handleSignals: false, logger: silent, redisUrl: '', peers: { products: { url: 'http://127.0.0.1:1' }, payments: { url: 'http://127.0.0.1:1' } } });
  delete process.env['SHOP_HOUSEKEEPING_INTERVAL_MS'];
  db = await Database.connect({ url: pg.url, logger: silent });
});
after(async () => {
  await orders?.stop();
  await db?.close();
  await pg?.stop();
});

test('the orders service removes old finished sagas and applied keys on its schedule, and counts them', { timeout: 30_000 }, async () => {
  await db.write(`insert into brisk.sagas (id, definition, state, input, updated_at) values ('done-old', 'checkout', 'committed', '{}'::jsonb, now() - interval '8 days'), ('done-young', 'checkout', 'committed', '{}'::jsonb, now()), ('open-old', 'checkout', 'compensating', '{}'::jsonb, now() - interval '8 days')`);
  await db.write(`insert into orders_saga.applied_keys (key, outcome, applied_at) values ('done-old:1:forward', 'done', now() - interval '8 days'), ('done-young:1:forward', 'done', now())`);
  const removed = (text: string, job: string) => Number(new RegExp(`brisk_svc_housekeeping_removed_total\\{job="${job}"\\} (\\d+)`).exec(text)?.[1] ?? -1);
  const deadline = Date.now() + 20_000;
  let metrics = '';
  for (;;) {
    metrics = await (await fetch(`${orders.url}/metrics`)).text();
    if (removed(metrics, 'finished-sagas') >= 1 && removed(metrics, 'applied-keys:orders_saga') >= 1) break;
    if (Date.now() > deadline) assert.fail(`housekeeping did not run:\n${metrics.split('\n').filter((l) => l.includes('housekeeping')).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(removed(metrics, 'finished-sagas'), 1);
  assert.equal(removed(metrics, 'applied-keys:orders_saga'), 1);
  assert.equal(removed(metrics, 'cache:orders'), 0);
  const sagas = await db.read<{ id: string }>(`select id from brisk.sagas where id in ('done-old', 'done-young', 'open-old') order by id`, [], { primary: true });
  assert.deepEqual(sagas.rows.map((r) => r.id), ['done-young', 'open-old']);
  const applied = await db.read<{ key: string }>(`select key from orders_saga.applied_keys order by key`, [], { primary: true });
  assert.deepEqual(applied.rows.map((r) => r.key), ['done-young:1:forward']);
});
