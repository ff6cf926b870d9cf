/**
 * Idempotent POSTs: a client sends `Idempotency-Key: <unique>` with a request that must
 * not take effect twice (an order, a payment); its retries with the same key get the
 * first answer back (`Idempotent-Replayed: true`) instead of a second effect. The key and
 * the answer are stored in PostgreSQL, so every instance behind Brisk sees them.
 *
 * Two ways to use it (docs/idempotency.md):
 * - `idempotentTransaction(store, (ctx, tx) => …)`: the key, the handler's writes (through
 *   `tx`) and the stored answer commit in ONE transaction — exactly once. A concurrent
 *   retry waits for the first to commit and then gets its answer.
 * - `idempotent(store, handler)`: for handlers that call other services (a saga): the key
 *   is claimed first, the answer stored after. A concurrent duplicate (a client's retry,
 *   or Brisk's hedge of the same POST) waits for the first one's answer and replays it;
 *   only when that does not come within its deadline (or `waitMs`) does it get 409
 *   `BRISK_SVC_IDEMPOTENCY_IN_PROGRESS` with `Retry-After`. If the instance dies in between, the claim expires after
 *   `lockMs` and a retry runs the handler again — so derive downstream keys (the saga id)
 *   from `ctx.idempotencyKey`, and the work still happens once.
 *
 * A key reused with another method, path or body is refused (422
 * `BRISK_SVC_IDEMPOTENCY_KEY_REUSED`). 5xx answers are not stored (the client may retry);
 * 2xx and 4xx are.
 */
import { createHash } from 'node:crypto';
import type { Database, Tx } from '../db/database.js';
import { ServiceError } from '../errors.js';
import { schemaName } from '../saga/sql.js';
import { json, Reply, type Handler, type HandlerContext } from '../service/service.js';

export interface IdempotencyOptions {
  /** Schema of the `idempotency_keys` table (default `brisk`). */
  schema?: string;
  /** How long answers are kept (default 24 h). */
  retentionMs?: number;
  /** How long a claim holds before another instance may take over (default 60 s). */
  lockMs?: number;
  /**
   * `idempotent()`: how long a concurrent duplicate waits for the first request's answer
   * (default 30 s), and never past its own deadline (`x-brisk-timeout-ms`).
   */
  waitMs?: number;
}

export interface RouteIdempotencyOptions {
  /** Refuse requests without a key (400). Default false: such requests run normally. */
  required?: boolean;
  /** Namespace of keys, e.g. the authenticated user (default: one namespace). */
  scope?: (context: HandlerContext) => string;
}

export type IdempotentContext = HandlerContext & { idempotencyKey: string | undefined };

interface StoredRow {
  request_hash: string;
  state: 'started' | 'done';
  status: number | null;
  headers: Record<string, string> | null;
  body: string | null;
  locked: boolean;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

export class IdempotencyStore {
  readonly db: Database;
  readonly #schema: string;
  readonly #retentionMs: number;
  readonly #lockMs: number;
  /** @internal */
  readonly waitMs: number;

  constructor(db: Database, options: IdempotencyOptions = {}) {
    this.db = db;
    this.#schema = schemaName(options.schema ?? 'brisk');
    this.#retentionMs = options.retentionMs ?? 24 * 3600_000;
    this.#lockMs = options.lockMs ?? 60_000;
    this.waitMs = options.waitMs ?? 30_000;
  }

  get table(): string {
    return `${this.#schema}.idempotency_keys`;
  }

  async init(): Promise<void> {
    await this.db.migrate(
      `create schema if not exists ${this.#schema};
       create table if not exists ${this.table} (
         scope text not null, key text not null, request_hash text not null, state text not null,
         status integer, headers jsonb, body text, locked_until timestamptz,
         created_at timestamptz not null default now(), expires_at timestamptz not null,
         primary key (scope, key));
       create index if not exists idempotency_keys_expiry on ${this.table} (expires_at);`,
    );
  }

  /**
   * Deletes answers past their retention; returns how many. In batches of `batch` rows
   * (default 1000), each its own statement, so a large backlog never holds a long lock
   * on the table the POSTs write to; housekeeping runs it on a schedule.
   */
  async purgeExpired(options: { batch?: number; signal?: AbortSignal } = {}): Promise<number> {
    const batch = options.batch ?? 1000;
    let total = 0;
    for (;;) {
      const { rowCount } = await this.db.write(`delete from ${this.table} where (scope, key) in (select scope, key from ${this.table} where expires_at < now() limit $1)`, [batch], { idempotent: true });
      total += rowCount;
      if (rowCount < batch || options.signal?.aborted) return total;
    }
  }

  /** @internal claims a key; true when this request owns it. */
  async claim(q: Tx['query'], scope: string, key: string, hash: string, state: 'started' | 'done'): Promise<boolean> {
    const { rows } = await q(
      `insert into ${this.table} (scope, key, request_hash, state, locked_until, expires_at)
       values ($1, $2, $3, $4, now() + $5 * interval '1 millisecond', now() + $6 * interval '1 millisecond')
       on conflict (scope, key) do nothing returning key`,
      [scope, key, hash, state, this.#lockMs, this.#retentionMs],
    );
    return rows.length > 0;
  }

  /** @internal */
  async find(q: Tx['query'], scope: string, key: string): Promise<StoredRow | undefined> {
    const { rows } = await q<StoredRow & Record<string, unknown>>(`select request_hash, state, status, headers, body, coalesce(locked_until > now(), false) as locked from ${this.table} where scope = $1 and key = $2`, [scope, key]);
    return rows[0];
  }

  /** @internal takes over a claim whose holder died. */
  async takeOver(scope: string, key: string, hash: string): Promise<boolean> {
    const { rows } = await this.db.write(`update ${this.table} set locked_until = now() + $4 * interval '1 millisecond' where scope = $1 and key = $2 and request_hash = $3 and state = 'started' and locked_until < now() returning key`, [scope, key, hash, this.#lockMs], { idempotent: true });
    return rows.length > 0;
  }

  /** @internal */
  async complete(q: Tx['query'], scope: string, key: string, reply: Reply): Promise<void> {
    await q(`update ${this.table} set state = 'done', status = $3, headers = $4::jsonb, body = $5, locked_until = null where scope = $1 and key = $2`, [scope, key, reply.status, JSON.stringify(reply.headers), JSON.stringify(reply.body ?? null)]);
  }

  /** @internal */
  async release(scope: string, key: string): Promise<void> {
    await this.db.write(`delete from ${this.table} where scope = $1 and key = $2 and state = 'started'`, [scope, key], { idempotent: true });
  }
}

function toReply(result: unknown): Reply {
  return result instanceof Reply ? result : result === undefined ? json(204, null) : json(200, result);
}

function replay(row: StoredRow): Reply {
  return json(row.status ?? 200, row.body === null ? null : JSON.parse(row.body), { ...(row.headers ?? {}), 'idempotent-replayed': 'true' });
}

/** The request's key (validated) and fingerprint; undefined key when absent. */
async function prepare(context: HandlerContext, options: RouteIdempotencyOptions): Promise<{ key: string | undefined; scope: string; hash: string }> {
  const raw = context.req.headers['idempotency-key'];
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (key === undefined) {
    if (options.required === true) throw new ServiceError('BRISK_SVC_IDEMPOTENCY_KEY_REQUIRED', `${context.method} ${context.path} requires an Idempotency-Key header (a unique value per intended operation, reused on retries)`);
    return { key: undefined, scope: '', hash: '' };
  }
  if (!KEY.test(key)) throw new ServiceError('BRISK_SVC_IDEMPOTENCY_KEY_INVALID', 'the Idempotency-Key header must be 1-255 visible ASCII characters');
  const body = await context.rawBody();
  const hash = createHash('sha256').update(`${context.method} ${context.path}\n`).update(body).digest('hex');
  return { key, scope: options.scope?.(context) ?? '', hash };
}

function conflictReply(row: StoredRow, hash: string, context: HandlerContext): Reply {
  if (row.request_hash !== hash) throw new ServiceError('BRISK_SVC_IDEMPOTENCY_KEY_REUSED', `this Idempotency-Key was already used for a different request than ${context.method} ${context.path} with this body; use a new key`);
  if (row.state === 'done') return replay(row);
  throw new ServiceError('BRISK_SVC_IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being processed; retry shortly');
}

/**
 * Exactly once for handlers whose effect is in this database: the handler gets the
 * transaction its key and answer commit in.
 *
 * @example
 * service.route('POST', '/orders', idempotentTransaction(store, async (ctx, tx) => {
 *   const { rows } = await tx.query('insert into orders (item) values ($1) returning id', [(await ctx.body<{ item: string }>()).item]);
 *   return json(201, rows[0]);
 * }));
 */
export function idempotentTransaction(store: IdempotencyStore, handler: (context: IdempotentContext, tx: Tx) => Promise<unknown>, options: RouteIdempotencyOptions = {}): Handler {
  return async (context) => {
    const { key, scope, hash } = await prepare(context, options);
    const { value } = await store.db.transaction(async (tx) => {
      if (key === undefined) return toReply(await handler({ ...context, idempotencyKey: undefined }, tx));
      // A concurrent insert of the same key waits here until the first transaction ends.
      if (!(await store.claim(tx.query, scope, key, hash, 'started'))) {
        const row = await store.find(tx.query, scope, key);
        if (row === undefined) throw new ServiceError('BRISK_SVC_IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key just failed; retry');
        return conflictReply(row, hash, context);
      }
      const reply = toReply(await handler({ ...context, idempotencyKey: key }, tx));
      if (reply.status >= 500) throw new ReplyNotStored(reply);
      await store.complete(tx.query, scope, key, reply);
      return reply;
    }).catch((error: unknown) => {
      if (error instanceof ReplyNotStored) return { value: error.reply };
      throw error;
    });
    return value;
  };
}

/** A 5xx answer: the transaction rolls back (nothing stored) and the answer still goes out. */
class ReplyNotStored extends Error {
  constructor(readonly reply: Reply) {
    super('5xx answers are not stored');
  }
}

/** Milliseconds a waiter keeps back from its deadline to answer in time. */
const ANSWER_MARGIN_MS = 50;

/**
 * Claims the key (true), or waits for the request holding it and returns its answer. The
 * state lives in PostgreSQL, so this works across instances; it polls (25 ms, growing to
 * 200 ms) rather than LISTEN/NOTIFY: a notification needs a dedicated connection per
 * instance that must follow a failover, and PgBouncer (transaction pooling) and the
 * embedded PGlite do not carry it; a duplicate is rare and short-lived, so a few cheap
 * primary-key reads cost less than that machinery.
 */
async function claimOrWait(store: IdempotencyStore, context: HandlerContext, scope: string, key: string, hash: string): Promise<true | Reply> {
  const query: Tx['query'] = async (sql, params) => (await store.db.write(sql, params, { idempotent: false })) as never;
  const read: Tx['query'] = async (sql, params) => (await store.db.read(sql, params, { primary: true })) as never;
  const until = Math.min(Date.now() + store.waitMs, context.deadline - ANSWER_MARGIN_MS);
  let free = true; // the key had no row when last read: try to claim it
  for (let pause = 25; ; pause = Math.min(200, pause * 2)) {
    if (free && (await store.claim(query, scope, key, hash, 'started'))) return true;
    const row = await store.find(read, scope, key);
    // No row: the first one failed (a 5xx releases its claim): this one claims and runs.
    free = row === undefined;
    if (row !== undefined) {
      if (row.request_hash !== hash || row.state === 'done') return conflictReply(row, hash, context);
      // Its holder died (the claim expired): take over and run the handler.
      if (!row.locked && (await store.takeOver(scope, key, hash))) return true;
    }
    const left = until - Date.now();
    if (left <= 0 || context.signal.aborted) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
  }
  throw new ServiceError('BRISK_SVC_IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being processed and did not finish while this one waited; retry shortly to get its answer');
}

/**
 * At most one in progress per key, the answer stored for retries; for handlers whose work
 * goes beyond this database (derive downstream idempotency keys from `ctx.idempotencyKey`).
 */
export function idempotent(store: IdempotencyStore, handler: (context: IdempotentContext) => Promise<unknown>, options: RouteIdempotencyOptions = {}): Handler {
  return async (context) => {
    const { key, scope, hash } = await prepare(context, options);
    if (key === undefined) return handler({ ...context, idempotencyKey: undefined });
    const query: Tx['query'] = async (sql, params) => (await store.db.write(sql, params, { idempotent: false })) as never;
    const owner = await claimOrWait(store, context, scope, key, hash);
    if (owner !== true) return owner;
    let reply: Reply;
    try {
      reply = toReply(await handler({ ...context, idempotencyKey: key }));
    } catch (error) {
      if (error instanceof ServiceError && error.status > 0 && error.status < 500) {
        await store.complete(query, scope, key, json(error.status, { error: { code: error.code, message: error.message, requestId: context.requestId } }));
      } else await store.release(scope, key).catch(() => {});
      throw error;
    }
    if (reply.status >= 500) await store.release(scope, key).catch(() => {});
    else await store.complete(query, scope, key, reply);
    return reply;
  };
}
