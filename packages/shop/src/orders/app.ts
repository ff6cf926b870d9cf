/**
 * The orders service: the shopper's cart, checkout (a saga, see checkout.ts), orders and
 * their status, and an order lookup for the other services (the order page, the chat).
 *
 * `POST /api/checkout` needs an `Idempotency-Key`: the saga's id is derived from the
 * shopper and the key, so a client's retry — even one that reaches another instance
 * after the first died, or a hedge Brisk sends while the first still runs — joins the
 * same saga instead of starting a second checkout, and gets the same answer. The
 * answer waits for the saga for a few seconds; a saga still running then is answered
 * `202` with its id, and `GET /api/checkouts/:id` tells how it ends.
 */
import { createHash } from 'node:crypto';
import { appliedKeysJob, finishedSagasJob, isServiceError, json, Participant, runWithContext, SagaOrchestrator, type HandlerContext, type SagaRecord, type Service } from '@brisk/service';
import { openApp, peerFromEnv, type AppOptions } from '../common/app.js';
import { ShopError } from '../common/errors.js';
import { bodyOf, handle, idempotencyKey, notFound, positiveInt, userOf, type Peer } from '../common/http.js';
import { parseLines } from '../products/app.js';
import { cancelReason, checkoutSaga, type CheckoutInput, type CheckoutPeers, type StepTiming } from './checkout.js';

export interface OrdersOptions extends AppOptions {
  /** Where the products and payments services are (default: `SHOP_PRODUCTS_URL`/`SHOP_PAYMENTS_URL`, else `SHOP_INTERNAL_URL`). */
  peers?: Partial<CheckoutPeers>;
  /** How long `POST /api/checkout` waits for the saga before answering 202 (default 8000). */
  checkoutWaitMs?: number;
  /** The saga's lease (default 5000): how soon another instance resumes a dead one's sagas. */
  leaseMs?: number;
  /** Step timeouts and retries (default `DEFAULT_TIMING`). */
  timing?: StepTiming;
  /** How often the recovery loop looks for sagas to resume (default 1000). */
  recoveryPollMs?: number;
}

const SCHEMA = `
create sequence if not exists orders_id_seq start 1001;
create table if not exists orders (
  id bigint primary key default nextval('orders_id_seq'),
  saga_id text not null unique,
  user_id text not null,
  status text not null check (status in ('pending', 'confirmed', 'cancelled')),
  lines jsonb not null,
  total_cents int not null,
  reason text,
  charge_key text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists orders_user on orders (user_id, id desc);
create table if not exists carts (
  user_id text not null,
  product_id int not null,
  qty int not null check (qty > 0),
  primary key (user_id, product_id)
)`;

type OrderRow = {
  id: string;
  saga_id: string;
  user_id: string;
  status: string;
  lines: unknown;
  total_cents: number;
  reason: string | null;
  created_at: string;
  updated_at: string;
};

export const orderView = (r: OrderRow) => ({ id: String(r.id), userId: r.user_id, status: r.status, lines: r.lines, totalCents: r.total_cents, reason: r.reason, checkoutId: r.saga_id, createdAt: r.created_at, updatedAt: r.updated_at });

/** The saga id of a shopper's checkout under an `Idempotency-Key`: one key, one checkout. */
export function checkoutId(userId: string, key: string): string {
  return `co-${createHash('sha256').update(`${userId}\n${key}`).digest('hex').slice(0, 24)}`;
}

/** Lines compared whatever their order and key order (the saga's input comes back from jsonb). */
const linesKey = (lines: { productId: number; qty: number }[]) => lines.map((l) => `${l.productId}x${l.qty}`).sort().join(',');

/** Refuses a request without a shopper before anything else. */
const withUser = (fn: (ctx: HandlerContext) => Promise<unknown>) =>
  handle(async (ctx) => {
    userOf(ctx);
    return fn(ctx);
  });

export async function startOrders(options: OrdersOptions = {}): Promise<Service> {
  const products = options.peers?.products ?? peerFromEnv('products');
  const payments = options.peers?.payments ?? peerFromEnv('payments');
  if (products === undefined || payments === undefined) throw new Error('orders: set SHOP_INTERNAL_URL (Brisk) or SHOP_PRODUCTS_URL and SHOP_PAYMENTS_URL');
  const peers: CheckoutPeers = { products, payments };
  const { db, service, housekeeper } = await openApp('orders', options, 5_000);
  await db.migrate(SCHEMA);
  const participant = new Participant(db, { schema: 'orders_saga' });
  await participant.init();
  let orchestrator: SagaOrchestrator | undefined;
  orchestrator = new SagaOrchestrator({
    db,
    definitions: [checkoutSaga(db, participant, peers, () => orchestrator!, options.timing) as never],
    registry: service.registry,
    leaseMs: options.leaseMs ?? 5000,
    pollMs: options.recoveryPollMs ?? 1000,
    logger: options.logger,
  });
  await orchestrator.init();
  orchestrator.startRecovery();
  service.dependsOn('sagas', { close: () => orchestrator!.stop() });
  // What checkout stores: finished sagas and their outbox events, the order step's applied
  // keys (both 7 days). A checkout's Idempotency-Key is its saga's id; once the saga is gone a
  // retry is answered from the order (kept, found by saga_id) and never reserves again.
  housekeeper.add(finishedSagasJob(db)).add(appliedKeysJob(db, { schema: 'orders_saga' }));
  const waitMs = options.checkoutWaitMs ?? 8000;

  const describe = async (saga: SagaRecord) => {
    const orderId = (saga.results['order'] as { orderId?: string } | undefined)?.orderId ?? null;
    const order = orderId === null ? undefined : (await db.read<OrderRow>('select * from orders where id = $1', [orderId], { primary: true })).rows[0];
    const done = saga.state === 'committed' || saga.state === 'compensated';
    return {
      checkoutId: saga.id,
      state: done ? saga.state : 'processing',
      orderId,
      status: order?.status ?? (saga.state === 'compensated' ? 'cancelled' : 'processing'),
      reason: saga.state === 'compensated' ? (order?.reason ?? cancelReason(saga.error)) : null,
      totalCents: order?.total_cents ?? null,
    };
  };

  /**
   * A checkout whose saga housekeeping removed (finished more than 7 days ago), told from
   * its order, which is kept: a very late retry replays it instead of reserving again.
   */
  const orderOf = async (id: string) => (await db.read<OrderRow>('select * from orders where saga_id = $1', [id], { primary: true })).rows[0];
  const describeOrder = (order: OrderRow) => ({
    checkoutId: order.saga_id,
    state: order.status === 'confirmed' ? 'committed' : order.status === 'cancelled' ? 'compensated' : 'processing',
    orderId: String(order.id),
    status: order.status,
    reason: order.status === 'cancelled' ? (order.reason ?? 'cancelled') : null,
    totalCents: order.total_cents,
  });

  const answerCheckout = async (saga: SagaRecord | OrderRow, ctx: HandlerContext) => {
    const view = 'definition' in saga ? await describe(saga) : describeOrder(saga);
    if (view.state === 'committed') return json(201, view);
    if (view.state !== 'compensated') return json(202, view, { location: `/api/checkouts/${view.checkoutId}` });
    const code = view.reason === 'out of stock' ? 'SHOP_OUT_OF_STOCK' : view.reason === 'payment declined' ? 'SHOP_PAYMENT_DECLINED' : 'SHOP_CHECKOUT_FAILED';
    return new ShopError(code, `checkout cancelled: ${view.reason}`, view).reply(ctx.requestId);
  };

  /** The saga once it is final, or as it stands after `waitMs` (polled: another instance may run it). */
  const settle = async (id: string, running: Promise<SagaRecord | undefined>, waitMs: number): Promise<SagaRecord> => {
    const until = Date.now() + waitMs;
    const final = (r: SagaRecord | undefined): r is SagaRecord => r !== undefined && (r.state === 'committed' || r.state === 'compensated');
    let settled = false;
    let failure: unknown;
    const here = running.then(
      (r) => ((settled = true), r),
      (error: unknown) => ((settled = true), (failure = error), undefined),
    );
    for (;;) {
      const tick = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100));
      // Wakes at once when the saga run here ends; once it has, only the tick paces the polls.
      const first = settled ? await tick : await Promise.race([here, tick]);
      if (final(first)) return first;
      const now = await orchestrator!.get(id).catch((error: unknown) => {
        // Not there yet: its insert is still on its way (a loaded database), or it failed —
        // then that failure (a 503 the client retries with its key) is the answer.
        if (!isServiceError(error, 'BRISK_SVC_SAGA_NOT_FOUND')) throw error;
        if (settled && failure !== undefined) throw failure;
        if (Date.now() >= until) throw new ShopError('SHOP_CHECKOUT_BUSY', 'the checkout could not be started in time; retry with the same Idempotency-Key');
        return undefined;
      });
      if (now !== undefined && (final(now) || Date.now() >= until)) return now;
    }
  };

  const ownedOrder = async (ctx: HandlerContext, user: string | undefined) => {
    const id = ctx.params['id'] ?? '';
    if (!/^\d{1,18}$/.test(id)) throw notFound('order');
    const { rows } = await db.read<OrderRow>('select * from orders where id = $1', [id], { primary: true });
    if (rows[0] === undefined || (user !== undefined && rows[0].user_id !== user)) throw notFound('order');
    return orderView(rows[0]);
  };

  const cart = async (user: string) => {
    const { rows } = await db.read<{ product_id: number; qty: number }>('select product_id, qty from carts where user_id = $1 order by product_id', [user], { primary: true });
    return { items: rows.map((r) => ({ productId: r.product_id, qty: r.qty })) };
  };

  service
    .route('GET', '/api/cart', handle(async (ctx) => cart(userOf(ctx))))
    .route(
      'PUT',
      '/api/cart/items/:productId',
      handle(async (ctx) => {
        const user = userOf(ctx);
        const productId = positiveInt(ctx.params['productId'], 'productId');
        const qty = Number((await bodyOf(ctx))['qty'] ?? 1);
        if (qty === 0) await db.write('delete from carts where user_id = $1 and product_id = $2', [user, productId], { idempotent: true });
        else await db.write('insert into carts (user_id, product_id, qty) values ($1, $2, $3) on conflict (user_id, product_id) do update set qty = excluded.qty', [user, productId, positiveInt(qty, 'qty', 100)], { idempotent: true });
        return cart(user);
      }),
    )
    .route(
      'DELETE',
      '/api/cart',
      handle(async (ctx) => {
        const user = userOf(ctx);
        await db.write('delete from carts where user_id = $1', [user], { idempotent: true });
        return cart(user);
      }),
    )
    .route(
      'POST',
      '/api/checkout',
      withUser(async (ctx) => {
        const user = userOf(ctx);
        const id = checkoutId(user, idempotencyKey(ctx));
        const body = await bodyOf(ctx);
        const existing = await orchestrator!.get(id).catch(() => undefined);
        let running: Promise<SagaRecord | undefined> = new Promise(() => {});
        const late = existing === undefined ? await orderOf(id) : undefined;
        if (late !== undefined) {
          // Its saga is gone (housekeeping) but its order is not: replay, never reserve again.
          if (body['items'] !== undefined && linesKey(parseLines(body['items'])) !== linesKey(late.lines as CheckoutInput['items'])) {
            throw new ShopError('SHOP_KEY_REUSED', 'this Idempotency-Key was used for a checkout of other items; use a new key for a new checkout');
          }
          const reply = await answerCheckout(late, ctx);
          return json(reply.status, reply.body, { ...reply.headers, 'idempotent-replayed': 'true' });
        }
        if (existing !== undefined) {
          // A retry (or a hedge) of a checkout that exists: the same saga, never a second one.
          if (body['items'] !== undefined && linesKey(parseLines(body['items'])) !== linesKey((existing.input as CheckoutInput).items)) {
            throw new ShopError('SHOP_KEY_REUSED', 'this Idempotency-Key was used for a checkout of other items; use a new key for a new checkout');
          }
        } else {
          const items = body['items'] !== undefined ? parseLines(body['items']) : (await cart(user)).items;
          if (items.length === 0) throw new ShopError('SHOP_CART_EMPTY', 'the cart is empty: add something first');
          const input: CheckoutInput = { userId: user, items };
          // The saga outlives this request (the client may leave, the deadline pass), so it
          // runs in a context of its own, not under the request's deadline.
          running = runWithContext({ requestId: ctx.requestId, deadline: Date.now() + 24 * 3600_000, trace: ctx.trace, signal: new AbortController().signal }, () => orchestrator!.run('checkout', input, { id }));
          running.catch((error: unknown) => ctx.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'checkout: the saga stopped; the recovery loop resumes it'));
        }
        const saga = await settle(id, running, Math.max(0, Math.min(waitMs, ctx.deadline - Date.now() - 500)));
        const reply = await answerCheckout(saga, ctx);
        return existing === undefined ? reply : json(reply.status, reply.body, { ...reply.headers, 'idempotent-replayed': 'true' });
      }),
    )
    .route(
      'GET',
      '/api/checkouts/:id',
      handle(async (ctx) => {
        const user = userOf(ctx);
        const saga = await orchestrator!.get(ctx.params['id'] ?? '').catch(() => undefined);
        if (saga === undefined) {
          const order = await orderOf(ctx.params['id'] ?? '');
          if (order === undefined || order.user_id !== user) throw notFound('checkout');
          return describeOrder(order);
        }
        if ((saga.input as CheckoutInput).userId !== user) throw notFound('checkout');
        return describe(saga);
      }),
    )
    .route(
      'GET',
      '/api/orders',
      handle(async (ctx) => {
        const { rows } = await db.read<OrderRow>('select * from orders where user_id = $1 order by id desc limit 50', [userOf(ctx)], { primary: true });
        return { orders: rows.map(orderView) };
      }),
    )
    .route('GET', '/api/orders/:id', handle(async (ctx) => ownedOrder(ctx, userOf(ctx))))
    .route('GET', '/internal/orders/:id', handle(async (ctx) => ownedOrder(ctx, undefined)));
  return service.start();
}

export type { Peer };
