/**
 * Checkout as a saga: reserve stock → create the order → charge (the pivot) → confirm.
 *
 * - A refused step (out of stock, card declined) compensates what was done: the charge
 *   is refunded if it was made, the order cancelled, the stock released.
 * - An unknown outcome (a timeout, a 5xx, a reset) is retried with the same key; still
 *   unknown after the retries, it is compensated too — the refund leaves a tombstone, so
 *   a charge that arrives late is refused, never made after the order was cancelled.
 * - After the charge, only forward: "confirm" is retried until it goes through.
 * - The saga's state is in the orders database; any orders instance's recovery loop
 *   resumes the sagas of an instance that died, so every order reaches `confirmed` or
 *   `cancelled`.
 * The order's number is taken from a sequence by the "order" step (applied once per key),
 * so a retried step returns the same order.
 */
import type { Database, Participant, SagaDefinition, SagaOrchestrator, StepContext, Tx } from '@brisk/service';
import { stepCall, type Peer } from '../common/http.js';
import type { ReservedLine } from '../products/app.js';

export interface CheckoutInput {
  userId: string;
  items: { productId: number; qty: number }[];
}

export interface Reservation {
  lines: ReservedLine[];
  totalCents: number;
}

export interface CheckoutPeers {
  products: Peer;
  payments: Peer;
}

/** Step timeouts and retries of an unknown outcome. */
export interface StepTiming {
  reserveMs: number;
  chargeMs: number;
  chargeRetries: number;
}

/** A charge may take the provider's latency; three tries still end within Brisk's checkout route timeout. */
export const DEFAULT_TIMING: StepTiming = { reserveMs: 3000, chargeMs: 4000, chargeRetries: 2 };

export function checkoutSaga(db: Database, orders: Participant, peers: CheckoutPeers, orchestrator: () => SagaOrchestrator, timing: StepTiming = DEFAULT_TIMING): SagaDefinition<CheckoutInput> {
  const reservation = (ctx: StepContext<CheckoutInput>) => ctx.results['reserve'] as Reservation;
  const order = (ctx: StepContext<CheckoutInput>) => ctx.results['order'] as { orderId: string };
  return {
    name: 'checkout',
    pivot: 'charge',
    steps: [
      {
        name: 'reserve',
        timeoutMs: timing.reserveMs,
        retries: 3,
        forward: (ctx) => stepCall(peers.products, '/internal/reservations', ctx.key, { items: ctx.input.items }, ctx.signal, timing.reserveMs),
        compensate: async (ctx) => void (await stepCall(peers.products, '/internal/reservations/release', ctx.key, {}, ctx.signal, timing.reserveMs)),
      },
      {
        name: 'order',
        forward: (ctx) =>
          orders.forward(ctx.key, async (tx: Tx) => {
            const r = reservation(ctx);
            const { rows } = await tx.query<{ id: string }>(
              "insert into orders (saga_id, user_id, status, lines, total_cents) values ($1, $2, 'pending', $3::jsonb, $4) on conflict (saga_id) do update set updated_at = now() returning id",
              [ctx.sagaId, ctx.input.userId, JSON.stringify(r.lines), r.totalCents],
            );
            return { orderId: String(rows[0]!.id) };
          }),
        compensate: async (ctx) => {
          const saga = await orchestrator().get(ctx.sagaId);
          await orders.compensate(ctx.key, async (tx: Tx) => {
            await tx.query("update orders set status = 'cancelled', reason = $2, updated_at = now() where saga_id = $1 and status = 'pending'", [ctx.sagaId, cancelReason(saga.error)]);
          });
        },
      },
      {
        name: 'charge',
        timeoutMs: timing.chargeMs,
        retries: timing.chargeRetries,
        forward: (ctx) => stepCall(peers.payments, '/internal/charges', ctx.key, { orderId: order(ctx).orderId, amountCents: reservation(ctx).totalCents, userId: ctx.input.userId }, ctx.signal, timing.chargeMs),
        compensate: async (ctx) => {
          // The refund's key is this call's; the charge it undoes is named by the forward key.
          const chargeKey = `${ctx.sagaId}:charge:forward`;
          const orderId = (ctx.results['order'] as { orderId?: string } | undefined)?.orderId ?? 'none';
          await stepCall(peers.payments, '/internal/refunds', ctx.key, { chargeKey, orderId, amountCents: Math.max(1, reservation(ctx).totalCents) }, ctx.signal, timing.chargeMs);
        },
      },
      {
        name: 'confirm',
        forward: async (ctx) => {
          const chargeKey = `${ctx.sagaId}:charge:forward`;
          await db.transaction(
            async (tx) => {
              await tx.query("update orders set status = 'confirmed', charge_key = $2, updated_at = now() where saga_id = $1 and status = 'pending'", [ctx.sagaId, chargeKey]);
              await tx.query('delete from carts where user_id = $1 and product_id = any($2::int[])', [ctx.input.userId, ctx.input.items.map((i) => i.productId)]);
            },
            { idempotent: true },
          );
          return { orderId: order(ctx).orderId };
        },
      },
    ],
  };
}

/** A shopper-readable reason from the saga's recorded error. */
export function cancelReason(error: string | null): string {
  if (error === null) return 'cancelled';
  if (error.startsWith('step "reserve"')) return 'out of stock';
  if (/SHOP_PAYMENT_DECLINED/.test(error)) return 'payment declined';
  if (error.startsWith('step "charge"')) return 'payment failed';
  return 'cancelled';
}
