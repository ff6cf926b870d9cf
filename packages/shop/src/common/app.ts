/**
 * The frame every shop service shares: its own database (`databaseUrl`, else
 * `$DATABASE_URL`, else an embedded PGlite of its own), its own cache (memory, plus Redis
 * with `redisUrl`/`$REDIS_URL`), and the toolkit's service with both as dependencies, so
 * readiness waits for the database and shutdown closes both after the drain.
 */
import { Cache, cacheJob, createService, Database, Housekeeper, logFilesJob, type Logger, type Service } from '@brisk/service';
import type { Peer } from './http.js';

export interface AppOptions {
  /** PostgreSQL URL (several hosts for a primary and replicas); default `$DATABASE_URL`, else embedded. */
  databaseUrl?: string | undefined;
  /** Redis for the cache's second tier; default `$REDIS_URL`, else memory only. */
  redisUrl?: string | undefined;
  /** Port (default `$PORT`, else any free port). */
  port?: number | undefined;
  /** Stop on SIGTERM/SIGINT (default true; tests pass false). */
  handleSignals?: boolean | undefined;
  logger?: Logger | undefined;
}

export interface AppParts {
  db: Database;
  cache: Cache;
  service: Service;
  /**
   * Removes on a schedule what the service stores and must forget (the cache's expired
   * entries here; each service adds its own: idempotency keys, sagas, applied step keys),
   * logged and counted on /metrics. See packages/service/docs/housekeeping.md.
   */
  housekeeper: Housekeeper;
}

/** Opens the database and cache and creates the service (routes are added by the caller). */
export async function openApp(name: string, options: AppOptions, cacheTtlMs: number): Promise<AppParts> {
  const service = createService({
    name,
    port: options.port,
    handleSignals: options.handleSignals ?? true,
    logger: options.logger,
    // Brisk's health check notices "not ready" within its interval (1 s in brisk.yaml).
    drainDelayMs: Number(process.env['SHOP_DRAIN_DELAY_MS'] ?? 0),
  });
  const url = options.databaseUrl ?? (process.env['DATABASE_URL'] || undefined);
  const db = await Database.connect({ name, url, embedded: url === undefined ? true : undefined, registry: service.registry, logger: options.logger });
  const redis = options.redisUrl ?? (process.env['REDIS_URL'] || undefined);
  const cache = new Cache({ name, redis, ttlMs: cacheTtlMs, staleMs: cacheTtlMs, registry: service.registry, logger: options.logger });
  service.dependsOn('db', { check: () => db.check(), close: () => db.close() }).dependsOn('cache', { close: () => cache.close() });
  // Every 10 minutes unless SHOP_HOUSEKEEPING_INTERVAL_MS says otherwise; old log files too
  // when SHOP_LOG_DIR names the folder Brisk writes the services' output to.
  const housekeeper = new Housekeeper({ jobs: [cacheJob(cache)], registry: service.registry, logger: service.log, intervalMs: Number(process.env['SHOP_HOUSEKEEPING_INTERVAL_MS'] || 600_000) });
  if (process.env['SHOP_LOG_DIR']) housekeeper.add(logFilesJob({ dir: process.env['SHOP_LOG_DIR'] }));
  // Closed first (dependencies close in reverse order): no job runs against a closed database.
  service.dependsOn('housekeeping', { close: () => housekeeper.stop() });
  return { db, cache, service, housekeeper: housekeeper.start() };
}

/** A peer from the environment: `SHOP_<NAME>_URL` (else `SHOP_INTERNAL_URL`) and `SHOP_INTERNAL_KEY`. */
export function peerFromEnv(name: string): Peer | undefined {
  const url = process.env[`SHOP_${name.toUpperCase()}_URL`] || process.env['SHOP_INTERNAL_URL'];
  if (!url) return undefined;
  return { url, key: process.env['SHOP_INTERNAL_KEY'] || undefined };
}
