/**
 * One PostgreSQL server of a cluster: its connection pool, a separate one-connection
 * probe, and what the last probe found (role, WAL position). A host never decides its
 * own role: the cluster (cluster.ts) reads the probes of every host and decides.
 */
import pg from 'pg';
import type { Logger } from '../observability.js';
import { parseLsn } from './lsn.js';

export type HostRole = 'primary' | 'replica' | 'unknown';

export interface HostConnectionOptions {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  poolSize: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  applicationName: string;
}

/** What one probe of a host found. */
export interface ProbeResult {
  inRecovery: boolean;
  /** Primary: WAL insert position. Replica: last replayed position. */
  lsn: bigint;
  /** `performance.now()` when the probe was sent. */
  at: number;
}

const PROBE_SQL = `select pg_is_in_recovery() as in_recovery,
  (case when pg_is_in_recovery() then coalesce(pg_last_wal_replay_lsn(), '0/0') else pg_current_wal_insert_lsn() end)::text as lsn`;

export class Host {
  readonly address: string;
  role: HostRole = 'unknown';
  /** Last successful probe. */
  lastProbe: ProbeResult | undefined;
  /** Consecutive failed probes (0 = reachable). */
  failures = 0;
  /** Last error of a probe or a query, for readiness and logs. */
  lastError: string | undefined;
  /** Estimated replication lag in ms (replicas), Infinity when unknown. */
  lagMs = Infinity;
  /** Queries running on this host right now (for least-busy choice). */
  inFlight = 0;
  #pool: pg.Pool;
  #probe: pg.Pool;
  #closed = false;
  readonly #options: HostConnectionOptions;
  readonly #log: Logger;
  /** Set by the cluster: called for every connection error a pool reports on an idle client. */
  onIdleError: (host: Host, error: Error) => void = () => {};

  constructor(options: HostConnectionOptions, log: Logger) {
    this.#options = options;
    this.address = `${options.host}:${options.port}`;
    this.#log = log;
    this.#pool = this.#newPool(options.poolSize);
    this.#probe = this.#newPool(1);
  }

  #newPool(max: number): pg.Pool {
    const o = this.#options;
    const pool = new pg.Pool({
      host: o.host,
      port: o.port,
      user: o.user,
      password: o.password,
      database: o.database,
      max,
      connectionTimeoutMillis: o.connectTimeoutMs,
      // The probe keeps its connection: reconnecting every probe would cost a fork on the server.
      idleTimeoutMillis: max === 1 ? 0 : o.idleTimeoutMs,
      application_name: o.applicationName,
      keepAlive: true,
      // The probe must not hang on a frozen server: its client is dropped on timeout.
      ...(max === 1 ? { query_timeout: o.connectTimeoutMs } : {}),
    });
    // An idle pooled client whose server goes away emits 'error' on the pool; without a
    // listener Node throws it and the process dies (node-postgres #1470 era, #2386, #3260).
    pool.on('error', (error) => {
      this.lastError = error.message;
      this.onIdleError(this, error);
    });
    return pool;
  }

  /** The pool queries of this host check their connections out of. */
  get pool(): pg.Pool {
    return this.#pool;
  }

  /** Counts of the pool, for metrics. */
  poolCounts(): { total: number; idle: number; waiting: number } {
    return { total: this.#pool.totalCount, idle: this.#pool.idleCount, waiting: this.#pool.waitingCount };
  }

  /**
   * Replaces the pool with a fresh one and closes the old one once its checked-out
   * clients come back: every connection made before a role change is dropped, so none
   * stays pinned to a demoted primary (gpustack#6105: `SELECT 1` pings pass on a standby,
   * every write fails with 25006, for days).
   */
  resetPool(reason: string): void {
    if (this.#closed) return;
    const old = this.#pool;
    this.#pool = this.#newPool(this.#options.poolSize);
    this.#log.info({ host: this.address, reason, dropped: old.totalCount }, 'database host: connections dropped');
    old.end().catch(() => {});
  }

  /** Asks the server what it is now; throws when it cannot be reached. */
  async probe(timeoutMs: number): Promise<ProbeResult> {
    const at = performance.now();
    const result = await withTimeout(this.#probe.query<{ in_recovery: boolean; lsn: string }>(PROBE_SQL), timeoutMs, `probe of ${this.address}`);
    const row = result.rows[0];
    const lsn = parseLsn(row?.lsn);
    if (row === undefined || lsn === undefined) throw new Error(`probe of ${this.address}: unexpected answer ${JSON.stringify(row)}`);
    return { inRecovery: row.in_recovery, lsn, at };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([this.#pool.end(), this.#probe.end()]);
  }
}

/**
 * Rejects when `promise` takes longer than `ms`. The probe's own client is dropped by the
 * pool when its query finally fails; a hung server (no RST, e.g. a frozen VM) must not
 * stall failover detection until TCP gives up.
 */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
