/**
 * The embedded default: PGlite (PostgreSQL compiled to WebAssembly, in this process)
 * served on a loopback port over the PostgreSQL wire protocol by
 * `@electric-sql/pglite-socket`, so the service talks to it through the very same `pg`
 * driver, pools and code path as to a real server. Nothing to install.
 *
 * What it is not: one PGlite is one single-user backend. The socket server queues the
 * connections' messages onto it and gives a connection in a transaction the backend to
 * itself until it commits, so:
 * - there are no replicas, no lag, no failover: those apply to real PostgreSQL only;
 * - `statement_timeout` is not enforced (PGlite has no timer interrupts); deadlines are
 *   still checked before each query;
 * - a transaction blocks every other connection until it ends: never wait, inside a
 *   transaction, for work that needs another connection (it would wait forever).
 */
import { mkdirSync } from 'node:fs';
import { ServiceError } from '../errors.js';
import { BatchQueue } from './embedded-queue.js';

export interface EmbeddedOptions {
  /** Directory for the data (kept across restarts); in memory when omitted. */
  dataDir?: string;
  /** Connections the socket server accepts at once (default 32). */
  maxConnections?: number;
}

export interface EmbeddedPostgres {
  host: string;
  port: number;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts PGlite behind a socket on 127.0.0.1 (a free port).
 *
 * @example
 * const pg = await startEmbeddedPostgres({ dataDir: '.data/orders' });
 * const db = await Database.connect({ url: pg.url });
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedPostgres> {
  try {
    const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
    if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
    const db = await PGlite.create(options.dataDir ?? 'memory://');
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: options.maxConnections ?? 32 });
    // Each connection's batch and transaction run whole (see embedded-queue.ts): set
    // before the server accepts its first connection, which takes the queue it finds.
    (server as unknown as { queryQueue: BatchQueue }).queryQueue = new BatchQueue(db as never);
    await server.start();
    const port = Number(server.getServerConn().split(':').at(-1));
    let stopping: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      stop: () =>
        (stopping ??= (async () => {
          await server.stop();
          await db.close();
        })()),
    };
  } catch (error) {
    if (error instanceof ServiceError) throw error;
    throw new ServiceError('BRISK_SVC_EMBEDDED_FAILED', `the embedded PostgreSQL (PGlite${options.dataDir === undefined ? ', in memory' : ` in ${options.dataDir}`}) could not start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
