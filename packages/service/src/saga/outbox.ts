/**
 * The transactional outbox: an event is inserted in the same transaction as the change
 * it announces, and a relay publishes it afterwards (at least once: a consumer must
 * tolerate a repeat, keyed by the event's `id`). Relays on several instances share the
 * work with `FOR UPDATE SKIP LOCKED`.
 *
 * With the embedded database (one backend), `publish` runs inside the relay's transaction
 * and must not use the database itself.
 */
import type { Database, Tx } from '../db/database.js';
import { defaultLogger, sleep, type Logger } from '../observability.js';
import { outboxTable, schemaName } from './sql.js';

export interface OutboxEvent {
  id: string;
  topic: string;
  key: string | null;
  payload: unknown;
}

export class Outbox {
  readonly #db: Database;
  readonly #schema: string;
  readonly #log: Logger;
  #running: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(db: Database, options: { schema?: string; logger?: Logger } = {}) {
    this.#db = db;
    this.#schema = schemaName(options.schema ?? 'brisk');
    this.#log = options.logger ?? defaultLogger('outbox');
  }

  async init(): Promise<void> {
    await this.#db.migrate(outboxTable(this.#schema));
  }

  /** Adds an event inside the caller's transaction. */
  async add(tx: Tx, topic: string, payload: unknown, key?: string): Promise<void> {
    await tx.query(`insert into ${this.#schema}.outbox (topic, key, payload) values ($1, $2, $3::jsonb)`, [topic, key ?? null, JSON.stringify(payload)]);
  }

  /** Publishes one batch; returns how many events went out. */
  async relayOnce(publish: (events: OutboxEvent[]) => Promise<void>, batch = 100): Promise<number> {
    const { value } = await this.#db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string; topic: string; key: string | null; payload: unknown }>(
        `select id::text as id, topic, key, payload from ${this.#schema}.outbox where published_at is null order by id limit $1 for update skip locked`,
        [batch],
      );
      if (rows.length === 0) return 0;
      await publish(rows);
      await tx.query(`update ${this.#schema}.outbox set published_at = now() where id = any($1::bigint[])`, [rows.map((r) => r.id)]);
      return rows.length;
    });
    return value;
  }

  /** Relays continuously until `stop()`: batches back to back, `pollMs` apart when idle. */
  start(publish: (events: OutboxEvent[]) => Promise<void>, options: { pollMs?: number; batch?: number } = {}): void {
    if (this.#running !== undefined) return;
    const controller = new AbortController();
    this.#running = controller;
    this.#loop = (async () => {
      while (!controller.signal.aborted) {
        let sent = 0;
        try {
          sent = await this.relayOnce(publish, options.batch);
        } catch (error) {
          this.#log.warn({ err: error instanceof Error ? error.message : String(error) }, 'outbox: relay failed; retrying');
        }
        if (sent === 0) await sleep(options.pollMs ?? 500, controller.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running?.abort();
    await this.#loop;
    this.#running = undefined;
  }
}
