/**
 * The checkout saga of the proof and its three participants (stock, orders, payments),
 * each an HTTP service of its own with its own schema. Every applied step or
 * compensation also inserts a row into its participant's `effects` table, in the same
 * transaction, with no unique constraint: a step applied twice would show as two rows.
 */
import type { Database } from '../src/db/database.js';
import { ServiceError } from '../src/errors.js';
import { StepFailed, type SagaDefinition, type StepContext } from '../src/saga/definition.js';
import { Participant } from '../src/saga/participant.js';
import { createService, json, type Service } from '../src/service/service.js';
import { quietLogger, sleep } from './common.js';

export interface CheckoutInput {
  sku: string;
  /** The payment provider declines this one (a definite failure before the pivot). */
  decline: boolean;
}

export const PARTICIPANTS = ['stock', 'orders', 'payments'] as const;
export type ParticipantName = (typeof PARTICIPANTS)[number];

/** Step index → [participant, step name]: reserve → order → charge (pivot) → confirm. */
export const CHECKOUT_STEPS: readonly (readonly [ParticipantName, string])[] = [
  ['stock', 'reserve'],
  ['orders', 'order'],
  ['payments', 'charge'],
  ['orders', 'confirm'],
];

/** The saga definition; `urls` maps a participant to its base URL. */
export function checkoutSaga(urls: Record<ParticipantName, string>): SagaDefinition<CheckoutInput> {
  const call = async (participant: ParticipantName, step: string, ctx: StepContext<CheckoutInput>) => {
    let response: Response;
    try {
      response = await fetch(`${urls[participant]}/steps/${step}/${ctx.action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': ctx.key },
        body: JSON.stringify(ctx.input),
        signal: ctx.signal,
      });
    } catch (error) {
      throw new Error(`${participant} did not answer: ${error instanceof Error ? error.message : String(error)}`);
    }
    const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (response.status >= 400 && response.status < 500) throw new StepFailed(`${participant} refused ${step}: ${body?.error?.message ?? response.status}`);
    if (!response.ok) throw new Error(`${participant} answered ${response.status}`);
    return body;
  };
  return {
    name: 'checkout',
    pivot: 'charge',
    steps: CHECKOUT_STEPS.map(([participant, step]) => ({
      name: step,
      timeoutMs: 400,
      retries: 3,
      forward: (ctx: StepContext<CheckoutInput>) => call(participant, step, ctx),
      ...(step === 'confirm' ? {} : { compensate: async (ctx: StepContext<CheckoutInput>) => void (await call(participant, step, ctx)) }),
    })),
  };
}

export interface World {
  urls: Record<ParticipantName, string>;
  services: Service[];
  /** Step requests received, and distinct idempotency keys among them (the rest were retries). */
  requests: { total: number; keys: Set<string> };
  stop(): Promise<void>;
}

/** Starts the three participant services on `db` (schemas stock, orders, payments). */
export async function startParticipants(db: Database, options: { slowAnswerRate: number }): Promise<World> {
  const services: Service[] = [];
  const urls = {} as Record<ParticipantName, string>;
  const requests = { total: 0, keys: new Set<string>() };
  for (const name of PARTICIPANTS) {
    const participant = new Participant(db, { schema: name });
    await participant.init();
    await db.write(`create table if not exists ${name}.effects (saga_id text not null, step text not null, action text not null, at timestamptz not null default now())`);
    if (name === 'stock') await db.write(`create table if not exists stock.items (sku text primary key, reserved integer not null default 0)`);
    if (name === 'orders') await db.write(`create table if not exists orders.orders (saga_id text primary key, status text not null)`);
    if (name === 'payments') await db.write(`create table if not exists payments.charges (saga_id text primary key, refunded boolean not null default false)`);
    const service = createService({ name, logger: quietLogger, handleSignals: false });
    service.route('POST', '/steps/:step/:action', async (ctx) => {
      const key = String(ctx.req.headers['idempotency-key'] ?? '');
      requests.total++;
      requests.keys.add(key);
      const input = await ctx.body<CheckoutInput>();
      const { step, action } = ctx.params as { step: string; action: string };
      const sagaId = key.split(':').slice(0, -2).join(':');
      const effect = (tx: { query: (sql: string, params?: readonly unknown[]) => Promise<unknown> }) => tx.query(`insert into ${name}.effects (saga_id, step, action) values ($1, $2, $3)`, [sagaId, step, action]);
      if (action === 'forward') {
        if (name === 'payments' && input.decline) throw new ServiceError('BRISK_SVC_BAD_REQUEST', 'card declined');
        const result = await participant.forward(key, async (tx) => {
          await effect(tx);
          if (name === 'stock') await tx.query(`insert into stock.items (sku, reserved) values ($1, 1) on conflict (sku) do update set reserved = stock.items.reserved + 1`, [input.sku]);
          if (name === 'orders' && step === 'order') await tx.query(`insert into orders.orders (saga_id, status) values ($1, 'pending')`, [sagaId]);
          if (name === 'orders' && step === 'confirm') await tx.query(`update orders.orders set status = 'confirmed' where saga_id = $1`, [sagaId]);
          if (name === 'payments') await tx.query(`insert into payments.charges (saga_id) values ($1)`, [sagaId]);
          return { ok: true, step };
        });
        // Now and then the answer is slow (applied, but the orchestrator times out: an unknown outcome).
        if (Math.random() < options.slowAnswerRate) await sleep(700);
        return json(200, result);
      }
      const { undone } = await participant.compensate(key, async (tx) => {
        await effect(tx);
        if (name === 'stock') await tx.query(`update stock.items set reserved = reserved - 1 where sku = $1`, [input.sku]);
        if (name === 'orders') await tx.query(`update orders.orders set status = 'cancelled' where saga_id = $1`, [sagaId]);
        if (name === 'payments') await tx.query(`update payments.charges set refunded = true where saga_id = $1`, [sagaId]);
      });
      return json(200, { undone });
    });
    await service.start();
    services.push(service);
    urls[name] = service.url;
  }
  return { urls, services, requests, stop: async () => void (await Promise.all(services.map((s) => s.stop()))) };
}
