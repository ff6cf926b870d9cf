/**
 * The payments service: idempotent charges and refunds against the provider simulator.
 *
 * The `charges` table is the provider's ledger, keyed by the `Idempotency-Key` of the
 * charge (the saga's `SAGA:charge:forward`). Each change is one statement on that key,
 * so a retry — the same key, from any instance, at any time — finds the first outcome
 * instead of charging again:
 * - charge: `INSERT … ON CONFLICT (key) DO NOTHING`, then the row decides the answer;
 * - refund: `captured → refunded`, or, when no charge exists yet, a `voided` tombstone
 *   under the charge's key, so a charge arriving late (a timed-out call the network
 *   delivered after the checkout gave up) is refused instead of made.
 * The simulated faults (latency, declines, errors before anything happened, and timeouts
 * *after* the charge was made) come from `ProviderConfig`, settable at run time.
 */
import { json, type HandlerContext, type Service } from '@brisk/service';
import { openApp, type AppOptions } from '../common/app.js';
import { ShopError } from '../common/errors.js';
import { bodyOf, handle, idempotencyKey, positiveInt, text } from '../common/http.js';
import { ProviderConfig, type ProviderSettings } from './provider.js';

const SCHEMA = `
create table if not exists charges (
  key text primary key,
  order_id text not null,
  user_id text,
  amount_cents int not null,
  status text not null check (status in ('captured', 'declined', 'refunded', 'voided')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists charges_order on charges (order_id)`;

type ChargeRow = {
  key: string;
  order_id: string;
  user_id: string | null;
  amount_cents: number;
  status: 'captured' | 'declined' | 'refunded' | 'voided';
  created_at: string;
  updated_at: string;
};

const view = (r: ChargeRow) => ({ chargeKey: r.key, orderId: r.order_id, amountCents: r.amount_cents, status: r.status, createdAt: r.created_at, updatedAt: r.updated_at });

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export async function startPayments(options: AppOptions = {}): Promise<Service> {
  const { db, service } = await openApp('payments', options, 5_000);
  await db.migrate(SCHEMA);
  const provider = new ProviderConfig(db);
  await provider.init();

  /** The provider's latency and its fault before doing anything. */
  const enter = async (settings: ProviderSettings, ctx: HandlerContext) => {
    await pause(settings.latencyMs + Math.random() * settings.jitterMs, ctx.signal);
    if (Math.random() < settings.errorRate) throw new ShopError('SHOP_PROVIDER_ERROR', 'the payment provider failed (simulated); nothing was charged');
  };
  /** The provider's fault after doing the work: no answer until the caller gives up. */
  const maybeHang = async (settings: ProviderSettings, ctx: HandlerContext) => {
    if (Math.random() >= settings.timeoutRate) return;
    await pause(settings.timeoutMs, ctx.signal);
    throw new ShopError('SHOP_PROVIDER_TIMEOUT', 'the payment provider did not answer in time (simulated); retry with the same Idempotency-Key');
  };

  service
    .route(
      'POST',
      '/internal/charges',
      handle(async (ctx) => {
        const key = idempotencyKey(ctx);
        const body = await bodyOf(ctx);
        const orderId = text(String(body['orderId'] ?? ''), 'orderId', 64);
        const amount = positiveInt(body['amountCents'], 'amountCents', 100_000_000);
        const userId = body['userId'] === undefined ? null : String(body['userId']);
        const settings = await provider.get();
        await enter(settings, ctx);
        const decision = Math.random() < settings.declineRate ? 'declined' : 'captured';
        const inserted = await db.write<ChargeRow>('insert into charges (key, order_id, user_id, amount_cents, status) values ($1, $2, $3, $4, $5) on conflict (key) do nothing returning *', [key, orderId, userId, amount, decision], { idempotent: true });
        const row = inserted.rows[0] ?? (await db.read<ChargeRow>('select * from charges where key = $1', [key], { primary: true })).rows[0];
        if (row === undefined) throw new Error(`charge ${key} vanished`);
        if (row.order_id !== orderId || row.amount_cents !== amount) throw new ShopError('SHOP_KEY_REUSED', `Idempotency-Key ${key} was used for order ${row.order_id}, ${row.amount_cents} cents`);
        await maybeHang(settings, ctx);
        if (row.status === 'declined') throw new ShopError('SHOP_PAYMENT_DECLINED', 'the card was declined (simulated)', { chargeKey: key });
        if (row.status !== 'captured') throw new ShopError('SHOP_CHARGE_VOIDED', `the charge under ${key} was ${row.status} before it arrived; it will not be made`);
        return json(inserted.rows[0] === undefined ? 200 : 201, view(row), inserted.rows[0] === undefined ? { 'idempotent-replayed': 'true' } : {});
      }),
    )
    .route(
      'POST',
      '/internal/refunds',
      handle(async (ctx) => {
        idempotencyKey(ctx);
        const body = await bodyOf(ctx);
        const chargeKey = text(body['chargeKey'], 'chargeKey', 255);
        const orderId = text(String(body['orderId'] ?? ''), 'orderId', 64);
        const amount = positiveInt(body['amountCents'] ?? 1, 'amountCents', 100_000_000);
        const settings = await provider.get();
        await enter(settings, ctx);
        // Refund what was captured, else leave a tombstone; a charge racing in between
        // makes one of the two statements see it on the next turn.
        for (let turn = 0; turn < 10; turn++) {
          const refunded = await db.write<ChargeRow>("update charges set status = 'refunded', updated_at = now() where key = $1 and status = 'captured' returning *", [chargeKey], { idempotent: true });
          if (refunded.rows[0] !== undefined) {
            await maybeHang(settings, ctx);
            return view(refunded.rows[0]);
          }
          const voided = await db.write<ChargeRow>("insert into charges (key, order_id, amount_cents, status) values ($1, $2, $3, 'voided') on conflict (key) do nothing returning *", [chargeKey, orderId, amount], { idempotent: true });
          if (voided.rows[0] !== undefined) return view(voided.rows[0]);
          const { rows } = await db.read<ChargeRow>('select * from charges where key = $1', [chargeKey], { primary: true });
          if (rows[0] !== undefined && rows[0].status !== 'captured') return view(rows[0]);
        }
        throw new Error(`refund of ${chargeKey} kept racing its charge`);
      }),
    )
    .route(
      'GET',
      '/internal/payments',
      handle(async (ctx) => {
        const orderId = ctx.query.get('orderId') ?? '';
        if (orderId === '') throw new ShopError('SHOP_BAD_INPUT', 'orderId is required');
        const { rows } = await db.read<ChargeRow>('select * from charges where order_id = $1 order by created_at', [orderId], { primary: true });
        const paid = rows.filter((r) => r.status === 'captured').reduce((sum, r) => sum + r.amount_cents, 0);
        return { orderId, paidCents: paid, status: rows.find((r) => r.status === 'captured') ? 'paid' : rows.some((r) => r.status === 'refunded') ? 'refunded' : rows.some((r) => r.status === 'declined') ? 'declined' : 'none', charges: rows.map(view) };
      }),
    )
    .route('GET', '/internal/payments/provider', handle(async () => provider.get()))
    .route(
      'PUT',
      '/internal/payments/provider',
      handle(async (ctx) => provider.set(await ctx.body<unknown>())),
    );
  return service.start();
}
