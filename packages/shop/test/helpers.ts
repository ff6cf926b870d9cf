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
export async function call(base: string, method: string, path: string, options: { user?: string; body?: unknown; key?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.user !== undefined) headers['x-user-id'] = options.user;
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  const res = await fetch(new URL(path, base), { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text), headers: res.headers };
}

export type Answer = Awaited<ReturnType<typeof call>>;

/**
 * A checkout to its end, as a patient client would take it: the POST answers 202 when the
 * saga still runs after `checkoutWaitMs` (a loaded machine), or 503 SHOP_CHECKOUT_BUSY
 * when it could not even start; then GET /api/checkouts/:id is polled until the saga is
 * final (bounded by a generous 90 s) and the POST sent again with the same key for the
 * final answer. `user` is sent as x-user-id; through Brisk pass `headers` (a bearer token).
 */
export async function checkoutToEnd(base: string, user: string | undefined, key: string, body?: unknown, headers?: Record<string, string>): Promise<Answer> {
  const until = Date.now() + 90_000;
  const post = () => call(base, 'POST', '/api/checkout', { user, key, body, headers });
  const unfinished = (a: Answer) => a.status === 202 || a.body?.error?.code === 'SHOP_CHECKOUT_BUSY';
  let answer = await post();
  while (unfinished(answer)) {
    if (Date.now() > until) throw new Error(`checkout ${key} still unfinished after 90 s: ${JSON.stringify(answer.body)}`);
    const id: string | undefined = answer.body?.checkoutId;
    const state = id === undefined ? undefined : await call(base, 'GET', `/api/checkouts/${id}`, { user, headers });
    if (state === undefined || state.status === 404 || state.body?.state === 'committed' || state.body?.state === 'compensated') {
      if (state === undefined) await new Promise((r) => setTimeout(r, 200));
      answer = await post();
    } else await new Promise((r) => setTimeout(r, 200));
  }
  return answer;
}
