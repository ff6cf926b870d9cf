/**
 * The housekeeping jobs for what the toolkit stores. Each deletes in batches (one
 * statement per batch, by primary key), so a large backlog never holds a long lock on a
 * table that requests write to, and stops between batches when aborted.
 *
 * | job | removes | kept |
 * |---|---|---|
 * | `idempotencyKeysJob` | stored `Idempotency-Key` answers past their retention (`expires_at`) | the rest (retention is the store's `retentionMs`, 24 h by default) |
 * | `finishedSagasJob` | sagas `committed` or `compensated` for longer than `olderThanMs`; published outbox events as old | open sagas (pending, running, compensating) whatever their age; unpublished events |
 * | `appliedKeysJob` | a participant's applied step keys older than `olderThanMs` | younger ones: a step may be retried with its key until its saga ends, so keep them well past the longest a saga can stay open (default 7 days) |
 * | `cacheJob` | the memory tier's expired entries | fresh and stale-servable ones (Redis expires its own copies) |
 * | `logFilesJob` | files in a folder whose name matches and that were last written before `olderThanMs` | the rest, and anything that is not a plain file |
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cache } from '../cache/cache.js';
import type { Database } from '../db/database.js';
import type { IdempotencyStore } from '../idempotency/idempotency.js';
import { schemaName } from '../saga/sql.js';
import type { HousekeepingJob } from './housekeeper.js';

const DAY = 24 * 3600_000;

/** Deletes `where` rows of `table` by `key` in batches; returns how many. */
async function deleteInBatches(db: Database, table: string, key: string, where: string, params: unknown[], batch: number, signal: AbortSignal): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await db.write(`delete from ${table} where ${key} in (select ${key} from ${table} where ${where} limit $${params.length + 1})`, [...params, batch], { idempotent: true });
    total += rowCount;
    if (rowCount < batch || signal.aborted) return total;
  }
}

/** Idempotency keys past their retention. */
export function idempotencyKeysJob(store: IdempotencyStore, options: { batch?: number } = {}): HousekeepingJob {
  return {
    name: 'idempotency-keys',
    run: async (signal) => ({ removed: await store.purgeExpired({ batch: options.batch ?? 1000, signal }) }),
  };
}

/** Finished sagas (committed or compensated) and published outbox events older than `olderThanMs` (default 7 days). */
export function finishedSagasJob(db: Database, options: { schema?: string; olderThanMs?: number; batch?: number } = {}): HousekeepingJob {
  const schema = schemaName(options.schema ?? 'brisk');
  const age = options.olderThanMs ?? 7 * DAY;
  const batch = options.batch ?? 1000;
  return {
    name: 'finished-sagas',
    run: async (signal) => {
      const sagas = await deleteInBatches(db, `${schema}.sagas`, 'id', `state in ('committed', 'compensated') and updated_at < now() - $1 * interval '1 millisecond'`, [age], batch, signal);
      const events = await deleteInBatches(db, `${schema}.outbox`, 'id', `published_at is not null and published_at < now() - $1 * interval '1 millisecond'`, [age], batch, signal);
      return { removed: sagas + events, detail: { sagas, outboxEvents: events } };
    },
  };
}

/** A participant's applied step keys older than `olderThanMs` (default 7 days). */
export function appliedKeysJob(db: Database, options: { schema?: string; olderThanMs?: number; batch?: number } = {}): HousekeepingJob {
  const schema = schemaName(options.schema ?? 'brisk');
  const age = options.olderThanMs ?? 7 * DAY;
  return {
    name: `applied-keys${schema === 'brisk' ? '' : `:${schema}`}`,
    run: async (signal) => ({ removed: await deleteInBatches(db, `${schema}.applied_keys`, 'key', `applied_at < now() - $1 * interval '1 millisecond'`, [age], options.batch ?? 1000, signal) }),
  };
}

/** The memory tier's expired entries of a cache. */
export function cacheJob(cache: Cache): HousekeepingJob {
  return {
    name: `cache:${cache.name}`,
    run: async () => {
      const removed = cache.sweepExpired();
      return { removed, detail: { left: cache.memorySize } };
    },
  };
}

/**
 * Old files in a log folder: those whose name matches `match` (default: rotated or plain
 * logs, `*.log` and `*.log.*`, gzip included) and whose last write is older than
 * `olderThanMs` (default 14 days). A file written within that time — the one in use — is
 * never touched; a folder that does not exist removes nothing.
 */
export function logFilesJob(options: { dir: string; olderThanMs?: number; match?: RegExp; now?: () => number }): HousekeepingJob {
  const age = options.olderThanMs ?? 14 * DAY;
  const match = options.match ?? /\.log(?:\.[\w.-]+)?$/;
  const now = options.now ?? Date.now;
  return {
    name: `logs:${options.dir}`,
    run: async (signal) => {
      let names: string[];
      try {
        names = await readdir(options.dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { removed: 0 };
        throw error;
      }
      const files: string[] = [];
      let bytes = 0;
      for (const name of names) {
        if (signal.aborted) break;
        if (!match.test(name)) continue;
        const path = join(options.dir, name);
        const info = await stat(path).catch(() => undefined);
        if (info === undefined || !info.isFile() || now() - info.mtimeMs < age) continue;
        try {
          await unlink(path);
        } catch (error) {
          // Another instance running the same job removed it first: not ours to count.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw error;
        }
        files.push(name);
        bytes += info.size;
      }
      return { removed: files.length, detail: { files: files.slice(0, 20), bytes } };
    },
  };
}
