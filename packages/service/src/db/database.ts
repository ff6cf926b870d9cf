/**
 * A highly available PostgreSQL database on the `pg` driver: writes go to the primary
 * (found, not configured), reads to a replica within the lag bound (or the primary),
 * reads with a read-your-writes token only to a host that has replayed past it; failed
 * connections are evicted and retried as classify.ts decides; every pool and every
 * checked-out client has an error listener, so a dropped connection never kills the
 * process. See docs/postgres.md.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { currentContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { counter, defaultLogger, gauge, histogram, Registry, sleep, type Logger } from '../observability.js';
import { classify, errorCode } from './classify.js';
import { Cluster } from './cluster.js';
import type { EmbeddedPostgres } from './embedded.js';
import { Host } from './host.js';
import { formatLsn, lsnFromToken, parseLsn, tokenFromLsn, type ReadToken } from './lsn.js';
import { parseDatabaseUrl, parseHostPort, redactUrl, resolveOptions, type DatabaseOptions, type HostAddress, type ResolvedOptions } from './options.js';

export type Row = Record<string, unknown>;

export interface ReadOptions {
  /** A token from an earlier write: the read sees that write (or fails with BRISK_SVC_DB_STALE). */
  token?: ReadToken | string | undefined;
  /** Read from the primary (a read that must see every committed write). */
  primary?: boolean;
}

export interface WriteOptions {
  /**
   * The work is safe to apply twice (an upsert by a client-chosen key, a delete by id…):
   * it is retried after a connection broke mid-query, until the deadline. Work that is not
   * idempotent is retried only when it surely did not run.
   */
  idempotent?: boolean;
}

export interface WriteResult<R extends Row = Row> {
  rows: R[];
  rowCount: number;
  /** Pass to a later read to read this write (read-your-writes). */
  token: ReadToken;
}

/** A transaction's connection. */
export interface Tx {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

/** A snapshot of the topology, for readiness and dashboards. */
export interface DatabaseStatus {
  name: string;
  embedded: boolean;
  primary: string | null;
  hosts: { address: string; role: string; reachable: boolean; lagMs: number | null; lsn: string | null; error: string | null }[];
}

type Target = { kind: 'primary' } | { kind: 'read'; tokenLsn: bigint | undefined };

interface Metrics {
  queries: ReturnType<typeof counter<'db' | 'role' | 'outcome'>>;
  duration: ReturnType<typeof histogram<'db' | 'role'>>;
  retries: ReturnType<typeof counter<'db' | 'reason'>>;
  primaryChanges: ReturnType<typeof counter<'db'>>;
}

/**
 * The advisory lock key schema work holds (see `migrate`): the first 8 bytes of
 * sha256("brisk:schema"), as a signed 64-bit integer, so it does not collide with keys
 * an application picks by hand (small integers).
 */
const SCHEMA_LOCK_KEY = createHash('sha256').update('brisk:schema').digest().readBigInt64BE(0).toString();

/** Errors a checked-out client reported, and the listener that caught them. */
const clientErrors = new WeakMap<pg.PoolClient, Error[]>();
const clientListeners = new WeakMap<pg.PoolClient, (error: Error) => void>();
const checkedPrimary = new WeakSet<pg.PoolClient>();
const statementTimeouts = new WeakMap<pg.PoolClient, number>();

export class Database {
  readonly name: string;
  readonly registry: Registry;
  readonly cluster: Cluster;
  readonly #options: ResolvedOptions;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #embedded: EmbeddedPostgres | undefined;
  #closed = false;

  private constructor(cluster: Cluster, options: ResolvedOptions, log: Logger, registry: Registry, embedded: EmbeddedPostgres | undefined) {
    this.cluster = cluster;
    this.name = options.name;
    this.#options = options;
    this.#log = log;
    this.registry = registry;
    this.#embedded = embedded;
    const db = options.name;
    this.#metrics = {
      queries: counter(registry, { name: 'brisk_svc_db_queries_total', help: 'Queries by database, host role and outcome (ok, error, retried)', labelNames: ['db', 'role', 'outcome'] }),
      duration: histogram(registry, { name: 'brisk_svc_db_query_duration_seconds', help: 'Query time by database and host role', labelNames: ['db', 'role'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] }),
      retries: counter(registry, { name: 'brisk_svc_db_retries_total', help: 'Retried attempts by reason', labelNames: ['db', 'reason'] }),
      primaryChanges: counter(registry, { name: 'brisk_svc_db_primary_changes_total', help: 'Times the primary changed (failovers, first discovery)', labelNames: ['db'] }),
    };
    const up = gauge(registry, { name: 'brisk_svc_db_host_up', help: '1 when the host answered its last probe', labelNames: ['db', 'host', 'role'] });
    const lag = gauge(registry, { name: 'brisk_svc_db_replica_lag_seconds', help: 'Estimated replication lag of each replica (upper bound; -1 unknown)', labelNames: ['db', 'host'] });
    const pool = gauge(registry, { name: 'brisk_svc_db_pool_connections', help: 'Pool connections by state (total, idle, waiting requests)', labelNames: ['db', 'host', 'state'] });
    cluster.onProbed = () => {
      for (const host of cluster.hosts) {
        for (const role of ['primary', 'replica', 'unknown']) up.set({ db, host: host.address, role }, host.failures === 0 && host.role === role ? 1 : 0);
        lag.set({ db, host: host.address }, host.role === 'replica' ? (Number.isFinite(host.lagMs) ? host.lagMs / 1000 : -1) : 0);
        const counts = host.poolCounts();
        for (const state of ['total', 'idle', 'waiting'] as const) pool.set({ db, host: host.address, state }, counts[state]);
      }
    };
    cluster.onPrimaryChange = (_from, to) => {
      if (to !== undefined) this.#metrics.primaryChanges.inc({ db });
    };
  }

  /**
   * Connects to the cluster (or starts the embedded database) and finds the primary.
   * Never fails because hosts are down: it comes up without a primary and keeps looking
   * (readiness says so); it fails only on invalid options or an embedded start failure.
   *
   * @example
   * const db = await Database.connect({ url: 'postgres://app@10.0.0.1:5432,10.0.0.2:5432/shop' });
   * const { token } = await db.write('insert into orders(id, total) values ($1, $2) on conflict do nothing', [id, 42], { idempotent: true });
   * const { rows } = await db.read('select * from orders where id = $1', [id], { token });
   */
  static async connect(options: DatabaseOptions = {}): Promise<Database> {
    const resolved = resolveOptions(options);
    const log = options.logger?.child({ db: resolved.name }) ?? defaultLogger(`db:${resolved.name}`);
    const registry = options.registry ?? new Registry();
    // An empty DATABASE_URL (a blank line in an .env file) means "none": the embedded default.
    const url = (options.url ?? (options.hosts === undefined && options.embedded === undefined ? process.env['DATABASE_URL'] : undefined)) || undefined;
    let embedded: EmbeddedPostgres | undefined;
    let addresses: HostAddress[];
    let user = options.user;
    let password = options.password;
    let database = options.database;
    if (options.embedded !== undefined && options.embedded !== false ? true : url === undefined && options.hosts === undefined) {
      const { startEmbeddedPostgres } = await import('./embedded.js');
      embedded = await startEmbeddedPostgres(typeof options.embedded === 'object' ? options.embedded : {});
      addresses = [{ host: embedded.host, port: embedded.port }];
      user = 'postgres';
      database = 'postgres';
      log.info({ url: embedded.url }, 'database: embedded PostgreSQL (PGlite) started; no replicas, lag or failover');
    } else if (url !== undefined) {
      const parsed = parseDatabaseUrl(url);
      addresses = parsed.hosts;
      user ??= parsed.user;
      password ??= parsed.password;
      database ??= parsed.database;
      log.debug({ url: redactUrl(url) }, 'database: connecting');
    } else {
      if (options.hosts === undefined || options.hosts.length === 0) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', 'database option hosts is empty; list the cluster as ["host:port", …] or give url');
      addresses = options.hosts.map((h, i) => parseHostPort(h, `database option hosts[${i}]`));
    }
    const hosts = addresses.map(
      (a) =>
        new Host(
          {
            host: a.host,
            port: a.port,
            user: user ?? process.env['PGUSER'] ?? 'postgres',
            password: password ?? process.env['PGPASSWORD'],
            database: database ?? process.env['PGDATABASE'] ?? 'postgres',
            poolSize: resolved.poolSize,
            connectTimeoutMs: resolved.connectTimeoutMs,
            idleTimeoutMs: 30_000,
            applicationName: `brisk-service:${resolved.name}`,
          },
          log,
        ),
    );
    const cluster = new Cluster(hosts, { probeIntervalMs: resolved.probeIntervalMs, discoveryIntervalMs: resolved.discoveryIntervalMs, probeTimeoutMs: resolved.connectTimeoutMs }, log);
    const db = new Database(cluster, resolved, log, registry, embedded);
    await cluster.start();
    return db;
  }

  /** Whether the database is embedded (PGlite). */
  get embedded(): boolean {
    return this.#embedded !== undefined;
  }

  /** Runs a read: on a fresh replica, or as `options` require. */
  async read<R extends Row = Row>(sql: string, params: readonly unknown[] = [], options: ReadOptions = {}): Promise<pg.QueryResult<R>> {
    const target: Target = options.primary === true ? { kind: 'primary' } : { kind: 'read', tokenLsn: lsnFromToken(options.token) };
    return this.#execute(target, true, async (client) => client.query<R>(sql, params as unknown[]));
  }

  /** Runs a write on the primary; the result carries a read-your-writes token. */
  async write<R extends Row = Row>(sql: string, params: readonly unknown[] = [], options: WriteOptions = {}): Promise<WriteResult<R>> {
    return this.#execute({ kind: 'primary' }, options.idempotent === true, async (client) => {
      const result = await client.query<R>(sql, params as unknown[]);
      const token = await readToken(client);
      return { rows: result.rows, rowCount: result.rowCount ?? 0, token };
    });
  }

  /**
   * Runs `fn` in a transaction on the primary. Retried whole (a new transaction) when it
   * surely did not commit, or — for `idempotent` work — when the connection broke.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>, options: WriteOptions & { isolation?: 'read committed' | 'repeatable read' | 'serializable' } = {}): Promise<{ value: T; token: ReadToken }> {
    return this.#execute({ kind: 'primary' }, options.idempotent === true, async (client) => {
      await client.query(options.isolation === undefined ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}`);
      // Errors of the transaction's own queries are classified (a 40001 retries the whole
      // transaction); anything else `fn` throws is the caller's and passes through as is.
      const queryErrors = new WeakSet<object>();
      let value: T;
      try {
        value = await fn({
          query: (sql, params = []) =>
            client.query(sql, params as unknown[]).catch((error: unknown) => {
              if (typeof error === 'object' && error !== null) queryErrors.add(error);
              throw error;
            }),
        });
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        if (typeof error === 'object' && error !== null && !queryErrors.has(error) && !(error instanceof ServiceError) && errorCode(error) === undefined) throw new CallerError(error);
        throw error;
      }
      return { value, token: await readToken(client) };
    });
  }

  /**
   * Applies schema DDL (`create … if not exists`, several statements, no parameters) so
   * that instances starting at once do not collide: `if not exists` is not safe
   * concurrently in PostgreSQL (two creators both pass the check and one fails on
   * `pg_type_typname_nsp_index`, 23505). The DDL runs in one transaction holding a
   * transaction-level advisory lock, so concurrent callers on the database take turns and
   * the later ones find the objects made; the lock ends with the transaction, also when
   * the connection breaks. One key for all schema work on a database, not one per schema:
   * different stores create the same schema (`create schema if not exists brisk`).
   * PGlite (the embedded default) has a single backend, where the lock is simply granted.
   */
  async migrate(sql: string): Promise<ReadToken> {
    const { token } = await this.transaction(
      async (tx) => {
        await tx.query('select pg_advisory_xact_lock($1::bigint)', [SCHEMA_LOCK_KEY]);
        await tx.query(sql);
      },
      { idempotent: true },
    );
    return token;
  }

  /** Where the cluster stands now. */
  status(): DatabaseStatus {
    return {
      name: this.name,
      embedded: this.embedded,
      primary: this.cluster.primary?.address ?? null,
      hosts: this.cluster.hosts.map((h) => ({
        address: h.address,
        role: h.role,
        reachable: h.failures === 0 && h.lastProbe !== undefined,
        lagMs: h.role === 'replica' && Number.isFinite(h.lagMs) ? Math.round(h.lagMs) : h.role === 'primary' ? 0 : null,
        lsn: h.lastProbe === undefined ? null : formatLsn(h.lastProbe.lsn),
        error: h.failures === 0 ? null : (h.lastError ?? null),
      })),
    };
  }

  /** A readiness check: ready while a primary is known. */
  async check(): Promise<{ ok: boolean; detail: string }> {
    const primary = this.cluster.primary;
    if (primary !== undefined) return { ok: true, detail: `primary ${primary.address}` };
    return { ok: false, detail: `no primary among ${this.cluster.hosts.map((h) => `${h.address} (${h.failures === 0 ? h.role : (h.lastError ?? 'unreachable')})`).join(', ')}` };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.cluster.close();
    await this.#embedded?.stop();
  }

  // -------------------------------------------------------------------------------------

  /** Runs `work` on a host chosen for `target`, retrying as classify.ts decides. */
  async #execute<T>(target: Target, idempotent: boolean, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const context = currentContext();
    const deadline = context?.deadline ?? Date.now() + this.#options.retryBudgetMs;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new ServiceError('BRISK_SVC_DB_UNAVAILABLE', `database "${this.name}" is closed`);
      const remaining = deadline - Date.now();
      const host = await this.#choose(target, remaining);
      if (host === undefined) {
        if (Date.now() >= deadline) throw this.#noHostError(target);
        // Nothing was sent: waiting is safe for any work. Writes wait for the probe loop to
        // find a primary, reads for a host to come back or catch up.
        this.#metrics.retries.inc({ db: this.name, reason: target.kind === 'primary' ? 'no-primary' : 'no-host' });
        await this.cluster.waitForPrimary(Math.min(backoff(attempt), deadline - Date.now()));
        continue;
      }
      const role = host.role;
      const started = performance.now();
      let client: pg.PoolClient | undefined;
      let phase: 'connect' | 'query' = 'connect';
      host.inFlight++;
      try {
        client = await this.#acquire(host, target, context?.deadline);
        if (client === undefined) continue; // the host turned out not to fit; chosen again
        phase = 'query';
        const value = await work(client);
        release(client, undefined);
        this.#metrics.queries.inc({ db: this.name, role, outcome: 'ok' });
        this.#metrics.duration.observe({ db: this.name, role }, (performance.now() - started) / 1000);
        return value;
      } catch (caught) {
        if (caught instanceof CallerError) {
          if (client !== undefined) release(client, undefined);
          throw caught.error;
        }
        const error = caught;
        const failure = error instanceof ServiceError ? undefined : classify(error, phase);
        const brokenClient = client !== undefined && (clientErrors.get(client)?.length ?? 0) > 0;
        if (client !== undefined) release(client, failure === undefined ? undefined : failure.kind === 'not-executed' || failure.kind === 'ambiguous' ? (failure.evict || brokenClient ? asError(error) : undefined) : brokenClient ? asError(error) : undefined);
        if (failure === undefined) throw error;
        if (failure.kind === 'timeout') throw new ServiceError('BRISK_SVC_DB_TIMEOUT', `query on ${host.address} cancelled by its statement timeout`, { cause: error, sqlState: '57014' });
        if (failure.kind === 'query') {
          this.#metrics.queries.inc({ db: this.name, role, outcome: 'error' });
          throw queryError(error, host.address);
        }
        if (failure.hostSuspect || failure.notPrimary) this.cluster.suspect(host, errorMessage(error), failure.notPrimary && target.kind === 'primary');
        const mayRetry = failure.kind === 'not-executed' || idempotent;
        if (!mayRetry || Date.now() >= deadline) {
          this.#metrics.queries.inc({ db: this.name, role, outcome: 'error' });
          this.#log.warn({ host: host.address, err: errorMessage(error), idempotent, attempts: attempt + 1 }, 'database: giving up');
          if (failure.notPrimary) throw new ServiceError('BRISK_SVC_DB_NO_PRIMARY', `${host.address} is no longer the primary (${errorMessage(error)}) and no new primary was found in time`, { cause: error, sqlState: errorCode(error) });
          throw new ServiceError('BRISK_SVC_DB_UNAVAILABLE', `${target.kind === 'primary' ? 'write' : 'read'} on ${host.address} failed${mayRetry ? ' until the deadline' : ' after it was sent (not retried: the work is not marked idempotent)'}: ${errorMessage(error)}`, { cause: error, sqlState: errorCode(error) });
        }
        this.#metrics.queries.inc({ db: this.name, role, outcome: 'retried' });
        this.#metrics.retries.inc({ db: this.name, reason: errorCode(error) ?? 'connection' });
        await sleep(Math.min(backoff(attempt), Math.max(0, deadline - Date.now())));
      } finally {
        host.inFlight--;
      }
    }
  }

  #noHostError(target: Target): ServiceError {
    const hosts = this.cluster.hosts.map((h) => `${h.address} (${h.failures === 0 ? h.role : (h.lastError ?? 'unreachable')})`).join(', ');
    if (target.kind === 'primary') return new ServiceError('BRISK_SVC_DB_NO_PRIMARY', `database "${this.name}": no primary among ${hosts}`);
    if (target.tokenLsn !== undefined) return new ServiceError('BRISK_SVC_DB_STALE', `database "${this.name}": no reachable host has replayed the caller's writes yet (${hosts})`);
    return new ServiceError('BRISK_SVC_DB_UNAVAILABLE', `database "${this.name}": no host can serve reads (${hosts})`);
  }

  /** The host for this attempt, or undefined when none fits right now. */
  async #choose(target: Target, remainingMs: number): Promise<Host | undefined> {
    const primary = this.cluster.primary;
    if (target.kind === 'primary') return primary;
    const replicas = this.cluster.replicas();
    if (target.tokenLsn !== undefined) {
      const past = this.cluster.hostsPast(target.tokenLsn).filter((h) => h.role === 'replica');
      if (past.length > 0) return leastBusy(past);
      // Not known to be past yet: the primary has it. Without a primary, wait for a replica.
      if (primary !== undefined) return primary;
      if (remainingMs > 0) await this.cluster.probeNow();
      const later = this.cluster.hostsPast(target.tokenLsn);
      return later.length > 0 ? leastBusy(later) : undefined;
    }
    const fresh = replicas.filter((h) => h.lagMs <= this.#options.maxLagMs);
    if (fresh.length > 0) return leastBusy(fresh);
    if (primary !== undefined) return primary;
    if (this.#options.whenNoFreshHost === 'freshest' && replicas.length > 0) return replicas[0];
    return undefined;
  }

  /**
   * Checks a client out of the host's pool with an error listener attached (a checked-out
   * client that errors between queries would otherwise throw: node-postgres #3202), the
   * statement timeout the deadline allows, and — for a new connection meant for writes —
   * a check that the server is still the primary (libpq's `target_session_attrs=read-write`).
   */
  async #acquire(host: Host, target: Target, deadline: number | undefined): Promise<pg.PoolClient | undefined> {
    const client = await host.pool.connect();
    const errors: Error[] = [];
    clientErrors.set(client, errors);
    const listener = (error: Error) => {
      errors.push(error);
      host.lastError = error.message;
    };
    clientListeners.set(client, listener);
    client.on('error', listener);
    try {
      if (target.kind === 'primary' && !checkedPrimary.has(client)) {
        const { rows } = await client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
        if (rows[0]?.r === true) {
          release(client, new Error('in recovery'));
          this.cluster.suspect(host, 'a new connection found the server in recovery', true);
          return undefined;
        }
        checkedPrimary.add(client);
      }
      await this.#applyStatementTimeout(client, deadline);
      return client;
    } catch (error) {
      release(client, asError(error));
      throw error;
    }
  }

  async #applyStatementTimeout(client: pg.PoolClient, deadline: number | undefined): Promise<void> {
    const configured = this.#options.statementTimeoutMs;
    let wanted = configured;
    if (deadline !== undefined) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new ServiceError('BRISK_SVC_DEADLINE_EXCEEDED', 'the request deadline passed before the query could start');
      wanted = configured > 0 ? Math.min(configured, remaining) : remaining;
      wanted = Math.max(1, Math.floor(wanted));
    }
    const current = statementTimeouts.get(client) ?? 0;
    // Re-set only when the server would wait longer than allowed, or much shorter:
    // one round trip saved on most queries of a request.
    const fits = wanted === 0 ? current === 0 : current !== 0 && current <= wanted && current >= wanted * 0.9;
    if (fits) return;
    await client.query(`SET statement_timeout = ${wanted}`);
    statementTimeouts.set(client, wanted);
  }
}

/** An error thrown by the caller's own code inside a transaction: not the database's. */
class CallerError {
  constructor(readonly error: unknown) {}
}

async function readToken(client: pg.PoolClient): Promise<ReadToken> {
  const { rows } = await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
  const lsn = parseLsn(rows[0]?.lsn);
  if (lsn === undefined) throw new Error(`unexpected WAL position ${JSON.stringify(rows[0])}`);
  return tokenFromLsn(lsn);
}

function release(client: pg.PoolClient, error: Error | undefined): void {
  clientErrors.delete(client);
  const listener = clientListeners.get(client);
  if (listener !== undefined) client.removeListener('error', listener);
  clientListeners.delete(client);
  client.release(error);
}

function leastBusy(hosts: Host[]): Host {
  let best = hosts[0]!;
  for (const host of hosts) if (host.inFlight < best.inFlight) best = host;
  return best;
}

/** 25, 50, 100, 200, 400, 500 ms, each with ±50% jitter so retries of many callers spread. */
function backoff(attempt: number): number {
  const base = Math.min(500, 25 * 2 ** attempt);
  return base / 2 + Math.random() * base;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function errorMessage(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code === undefined ? message : `${code} ${message}`;
}

function queryError(error: unknown, address: string): ServiceError {
  const code = errorCode(error);
  return new ServiceError('BRISK_SVC_DB_QUERY_FAILED', `query failed on ${address}: ${errorMessage(error)}`, { cause: error, ...(code === undefined ? {} : { sqlState: code }) });
}
