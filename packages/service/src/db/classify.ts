/**
 * What a failed query means for the cluster and for a retry. The decisions, by cause:
 *
 * | cause                                        | connection | host                 | retry                 |
 * |----------------------------------------------|------------|----------------------|-----------------------|
 * | could not connect (refused, timeout, 57P03)  | none       | suspect: re-probe    | always (nothing sent) |
 * | 25006 read-only transaction (a demoted host) | evicted    | not primary: re-find | always (refused)      |
 * | 57P01/57P02 shutdown, 08xxx, reset, EPIPE     | evicted    | suspect: re-probe    | idempotent work only  |
 * | 53300 too many connections                   | none       | —                    | always (nothing run)  |
 * | 40001 serialization, 40P01 deadlock          | kept       | —                    | always (rolled back)  |
 * | 57014 statement timeout                      | kept       | —                    | never (deadline)      |
 * | anything else (syntax, constraint, …)        | kept       | —                    | never                 |
 *
 * "Idempotent work only" is the rule for an error after the query was sent: the server
 * may have committed it before the connection died, so only work that is safe to apply
 * twice (an upsert by a client-chosen key, a read) may run again.
 */

export type Failure =
  /** The query never reached a server, or the server refused it before running it. */
  | { kind: 'not-executed'; evict: boolean; hostSuspect: boolean; notPrimary: boolean }
  /** The connection broke after the query was sent: it may or may not have run. */
  | { kind: 'ambiguous'; evict: true; hostSuspect: true; notPrimary: false }
  /** Statement timeout (57014). */
  | { kind: 'timeout' }
  /** The query itself failed: not retried. */
  | { kind: 'query' };

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** SQLSTATE of a pg error, or the Node error code of a socket error. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isConnectionMessage(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Connection terminated|connection error|Client was closed|Client has encountered a connection error|not queryable|timeout exceeded when trying to connect|Connection ended|socket hang up/i.test(message);
}

/**
 * Classifies an error. `phase` says whether it happened while getting a connection
 * (nothing was sent yet) or while the query ran.
 */
export function classify(error: unknown, phase: 'connect' | 'query'): Failure {
  const code = errorCode(error);
  if (code === '25006') return { kind: 'not-executed', evict: true, hostSuspect: true, notPrimary: true };
  if (code === '57P03' || code === '53300' || code === '53400') return { kind: 'not-executed', evict: true, hostSuspect: code === '57P03', notPrimary: false };
  if (code === '40001' || code === '40P01') return { kind: 'not-executed', evict: false, hostSuspect: false, notPrimary: false };
  if (code === '57014') return { kind: 'timeout' };
  const connectionLevel = code === '57P01' || code === '57P02' || (code !== undefined && code.startsWith('08')) || (code !== undefined && CONNECTION_CODES.has(code)) || isConnectionMessage(error);
  // A wrong password or database name will not fix itself: fail at once.
  if (code !== undefined && (code.startsWith('28') || code === '3D000')) return { kind: 'query' };
  if (phase === 'connect') return { kind: 'not-executed', evict: true, hostSuspect: true, notPrimary: false };
  if (connectionLevel) return { kind: 'ambiguous', evict: true, hostSuspect: true, notPrimary: false };
  return { kind: 'query' };
}
