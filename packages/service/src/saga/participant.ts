/**
 * The participant's side of a saga step: the change and the record of its idempotency
 * key commit in one local transaction, so
 * - a retried forward step (same key) returns the stored result without applying again;
 * - a retried compensation is applied once;
 * - a compensation that arrives before (or instead of) its forward step records that
 *   there was nothing to undo *and* a tombstone for the forward key, so the forward step
 *   arriving late (a timeout that was not a failure) is refused, never applied after it
 *   was compensated.
 * Forward and compensation of one step are serialised by an advisory lock on the step
 * (pg_advisory_xact_lock), so they cannot interleave.
 *
 * @example
 * const stock = new Participant(db, { schema: 'stock' });
 * await stock.init();
 * // POST /reservations with Idempotency-Key: <saga>:reserve:forward
 * const reservation = await stock.forward(key, async (tx) => (await tx.query('update items set reserved = reserved + $1 where sku = $2 returning reserved', [qty, sku])).rows[0]);
 * // POST /reservations/cancel with Idempotency-Key: <saga>:reserve:compensate
 * await stock.compensate(key, async (tx, reserved) => { await tx.query('update items set reserved = reserved - $1 where sku = $2', [qty, sku]); });
 */
import type { Database, Tx } from '../db/database.js';
import { ServiceError } from '../errors.js';
import { parseStepKey, stepKey } from './keys.js';
import { appliedKeysTable, schemaName } from './sql.js';

export interface ParticipantOptions {
  /** Schema of the `applied_keys` table (default `brisk`); one per service database. */
  schema?: string;
}

export class Participant {
  readonly #db: Database;
  readonly #schema: string;

  constructor(db: Database, options: ParticipantOptions = {}) {
    this.#db = db;
    this.#schema = schemaName(options.schema ?? 'brisk');
  }

  async init(): Promise<void> {
    await this.#db.migrate(appliedKeysTable(this.#schema));
  }

  /**
   * Applies a forward step once per key. Throws `BRISK_SVC_SAGA_STEP_REFUSED` when the
   * step's compensation was applied first. `fn` runs inside the transaction: do the
   * change with `tx`, never through another connection.
   */
  async forward<R>(key: string, fn: (tx: Tx) => Promise<R>): Promise<R> {
    const parsed = this.#parse(key, 'forward');
    const { value } = await this.#db.transaction(
      async (tx) => {
        await this.#lock(tx, parsed.sagaId, parsed.step);
        const done = await this.#find(tx, key);
        if (done !== undefined) return done;
        const compensated = await this.#find(tx, stepKey(parsed.sagaId, parsed.step, 'compensate'));
        if (compensated !== undefined) {
          await this.#record(tx, key, 'refused', null);
          return { outcome: 'refused', result: null };
        }
        const result = await fn(tx);
        await this.#record(tx, key, 'applied', result);
        return { outcome: 'applied', result: result as unknown };
      },
      { idempotent: true },
    );
    if (value.outcome === 'refused') throw new ServiceError('BRISK_SVC_SAGA_STEP_REFUSED', `step "${parsed.step}" of saga "${parsed.sagaId}" was already compensated; it will not be applied`);
    return value.result as R;
  }

  /**
   * Applies a compensation once per key. `fn` gets the forward step's stored result; it
   * is not called when the forward step was never applied (that is recorded, and the
   * forward step is refused from now on).
   */
  async compensate<F = unknown>(key: string, fn: (tx: Tx, forwardResult: F) => Promise<void>): Promise<{ undone: boolean }> {
    const parsed = this.#parse(key, 'compensate');
    const { value } = await this.#db.transaction(
      async (tx) => {
        await this.#lock(tx, parsed.sagaId, parsed.step);
        const done = await this.#find(tx, key);
        if (done !== undefined) return done.outcome === 'applied';
        const forwardKey = stepKey(parsed.sagaId, parsed.step, 'forward');
        const forward = await this.#find(tx, forwardKey);
        if (forward === undefined || forward.outcome !== 'applied') {
          if (forward === undefined) await this.#record(tx, forwardKey, 'refused', null);
          await this.#record(tx, key, 'nothing-to-undo', null);
          return false;
        }
        await fn(tx, forward.result as F);
        await this.#record(tx, key, 'applied', null);
        return true;
      },
      { idempotent: true },
    );
    return { undone: value };
  }

  #parse(key: string, action: 'forward' | 'compensate'): { sagaId: string; step: string } {
    const parsed = parseStepKey(key);
    if (parsed === undefined || parsed.action !== action) throw new ServiceError('BRISK_SVC_BAD_REQUEST', `idempotency key "${key}" is not SAGA:STEP:${action}`);
    return parsed;
  }

  async #lock(tx: Tx, sagaId: string, step: string): Promise<void> {
    await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`${sagaId}:${step}`]);
  }

  async #find(tx: Tx, key: string): Promise<{ outcome: string; result: unknown } | undefined> {
    const { rows } = await tx.query<{ outcome: string; result: unknown }>(`select outcome, result from ${this.#schema}.applied_keys where key = $1`, [key]);
    return rows[0];
  }

  async #record(tx: Tx, key: string, outcome: string, result: unknown): Promise<void> {
    await tx.query(`insert into ${this.#schema}.applied_keys (key, outcome, result) values ($1, $2, $3::jsonb)`, [key, outcome, JSON.stringify(result ?? null)]);
  }
}
