/**
 * Starts the four shop services in this process, wired to each other directly (no
 * gateway): the services' and the saga's own behaviour, without Brisk in the way. They
 * share one embedded PostgreSQL (PGlite on a loopback socket; their tables do not
 * overlap): a PGlite takes 1.5-2 s to start, and `npm start` gives each its own.
 */
import { startEmbeddedPostgres, type EmbeddedPostgres, type Service } from '@brisk/service';
import { pino } from 'pino';
import type { StepTiming } from '../src/orders/checkout.js';
import { startOrders } from '../src/orders/app.js';
import { startPayments } from '../src/payments/app.js';
import { startProducts } from '../src/products/app.js';
import { startUsers } from '../src/users/app.js';

export const JWT_SECRET = 'test-secret-of-at-least-thirty-two-bytes!';
export const silent = pino({ level: process.env.SHOP_TEST_LOG ?? 'silent' });

export interface Shop {
  dbs: Record<'users' | 'products' | 'orders' | 'payments', EmbeddedPostgres>;
  users: Service;
  products: Service;
  payments: Service;
  orders: Service;
  /** Starts another orders instance on the same database. */
  ordersInstance(): Promise<Service>;
  stop(): Promise<void>;
}

export const FAST_TIMING: StepTiming = { reserveMs: 2000, chargeMs: 600, chargeRetries: 2 };

export async function startShop(): Promise<Shop> {
  const pg = await startEmbeddedPostgres({ maxConnections: 100 });
  const [users, products, orders, payments] = [pg, pg, pg, pg];
  const dbs = { users, products, orders, payments };
  const common = { handleSignals: false, logger: silent, redisUrl: '' };
  const [u, p, pay] = await Promise.all([startUsers({ ...common, databaseUrl: users.url, jwtSecret: JWT_SECRET }), startProducts({ ...common, databaseUrl: products.url }), startPayments({ ...common, databaseUrl: payments.url })]);
  const ordersInstance = () => startOrders({ ...common, databaseUrl: orders.url, peers: { products: { url: p.url }, payments: { url: pay.url } }, timing: FAST_TIMING, leaseMs: 1000, recoveryPollMs: 200, checkoutWaitMs: 5000 });
  const o = await ordersInstance();
  const extra: Service[] = [];
  return {
    dbs,
    users: u,
    products: p,
    payments: pay,
    orders: o,
    ordersInstance: async () => {
      const s = await ordersInstance();
      extra.push(s);
      return s;
    },
    stop: async () => {
      await Promise.allSettled([o.stop(), ...extra.map((s) => s.stop())]);
      await Promise.allSettled([u.stop(), p.stop(), pay.stop()]);
      await pg.stop();
    },
  };
}

/** A JSON call; `user` is sent as Brisk would (x-user-id after verifying the JWT). */
export async function call(base: string, method: string, path: string, options: { user?: string; body?: unknown; key?: string } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.user !== undefined) headers['x-user-id'] = options.user;
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  const res = await fetch(new URL(path, base), { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text), headers: res.headers };
}
