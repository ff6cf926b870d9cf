/**
 * The shop on what `npm start -- --real` starts: a PostgreSQL primary with a synchronous
 * streaming replica (one database per service, reached by a multi-host URL) and a Redis
 * for the caches. A checkout, then the primary is killed and the replica promoted: the
 * next checkout goes through on the new primary, and the books read back clean.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Service } from '@brisk/service';
import { postgresInstalled, POSTGRES_NOT_INSTALLED, redisServerPath, REDIS_NOT_INSTALLED } from '@brisk/service/local';
import { startOrders } from '../src/orders/app.js';
import { startPayments } from '../src/payments/app.js';
import { startProducts } from '../src/products/app.js';
import { reconcile } from '../src/reconcile.js';
import { startRealData, type ShopData } from '../src/run/databases.js';
import { startUsers } from '../src/users/app.js';
import { call, checkoutToEnd, FAST_TIMING, JWT_SECRET, silent } from './helpers.js';

const skip = !postgresInstalled() ? POSTGRES_NOT_INSTALLED : redisServerPath() === undefined ? REDIS_NOT_INSTALLED : false;

describe('the shop on PostgreSQL with a replica, and Redis', { skip, timeout: 120_000 }, () => {
  let data: ShopData;
  const services: Service[] = [];
  let orders: Service;

  before(async () => {
    data = await startRealData();
    const common = { handleSignals: false, logger: silent, redisUrl: data.redisUrl };
    const [users, products, payments] = await Promise.all([startUsers({ ...common, databaseUrl: data.urls.users, jwtSecret: JWT_SECRET }), startProducts({ ...common, databaseUrl: data.urls.products }), startPayments({ ...common, databaseUrl: data.urls.payments })]);
    orders = await startOrders({ ...common, databaseUrl: data.urls.orders, peers: { products: { url: products.url }, payments: { url: payments.url } }, timing: { ...FAST_TIMING, chargeMs: 3000 }, leaseMs: 2000, recoveryPollMs: 200 });
    services.push(users, products, payments, orders);
  });
  after(async () => {
    await Promise.allSettled(services.map((s) => s.stop()));
    await data?.stop();
  });

  test('each service has its own database on the cluster, named in a multi-host URL', () => {
    assert.equal(data.mode, 'real');
    for (const [name, url] of Object.entries(data.urls)) assert.match(url, new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:\\d+,127\\.0\\.0\\.1:\\d+/${name}$`));
    assert.match(data.redisUrl ?? '', /^redis:\/\/127\.0\.0\.1:\d+/);
  });

  test('checkout before and after the primary is killed and the replica promoted; the books stay clean', async () => {
    const first = await checkoutToEnd(orders.url, '7', 'real-1', { items: [{ productId: 1, qty: 1 }] });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    await data.cluster!.primary.kill();
    await data.cluster!.replicas[0]!.promote();
    let second: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 40 && second?.status !== 201; i++) {
      second = await checkoutToEnd(orders.url, '7', 'real-2', { items: [{ productId: 2, qty: 1 }] });
      if (second.status !== 201) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(second?.status, 201, JSON.stringify(second?.body));
    const books = await reconcile(data.urls, { acknowledged: [{ orderId: first.body.orderId, status: 'confirmed' }, { orderId: second!.body.orderId, status: 'confirmed' }], settleMs: 10_000 });
    assert.deepEqual([books.acknowledgedMissing, books.doubleCharges, books.oversold, books.nonFinal], [0, 0, 0, 0], books.problems.join('\n'));
    assert.equal(books.orders.confirmed, 2);
  });
});
