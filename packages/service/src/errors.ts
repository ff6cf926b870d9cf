/**
 * The error codes of the service toolkit: every error a user of a service (or its
 * operator) can see carries one. Each code has the HTTP status a service answers with
 * when the error reaches a client, whether a client may retry, and the description that
 * docs/errors.md lists (a test fails when the two differ).
 *
 * The gateway's registry (src/core/errors.ts) is not imported: the toolkit runs behind
 * Brisk, not inside it, and shares only the error *body shape* (see contracts.ts).
 */
export const SERVICE_ERROR_CODES = {
  BRISK_SVC_DB_NO_PRIMARY: {
    status: 503,
    retryable: true,
    description: 'No PostgreSQL host answers as a primary (`pg_is_in_recovery()` is true on every reachable host, or none is reachable): a failover is under way or the cluster is down. A write waits for a new primary until its deadline (nothing was sent yet, so this is safe even for work that is not idempotent), then fails with this code.',
  },
  BRISK_SVC_DB_UNAVAILABLE: {
    status: 503,
    retryable: true,
    description: 'No PostgreSQL host can serve the query (connection refused or reset, server shutting down, too many connections) and the retries allowed for it are spent.',
  },
  BRISK_SVC_DB_STALE: {
    status: 503,
    retryable: true,
    description: 'A read carrying a read-your-writes token found no host that has replayed past the token (no replica caught up in time and the primary is unreachable). The data the caller wrote exists; retry later.',
  },
  BRISK_SVC_DB_TIMEOUT: {
    status: 504,
    retryable: false,
    description: 'A query was cancelled by its statement timeout, derived from the request deadline (`x-brisk-timeout-ms`) or the configured `statementTimeoutMs`.',
  },
  BRISK_SVC_DB_QUERY_FAILED: {
    status: 500,
    retryable: false,
    description: 'PostgreSQL refused the query itself (syntax, constraint, permission…). The message carries the SQLSTATE and the server message; nothing is retried.',
  },
  BRISK_SVC_DB_CONFIG_INVALID: {
    status: 0,
    retryable: false,
    description: 'The database options are invalid (no host, a bad URL, a lag bound below zero, shard slots that do not cover every slot); the message names the option and the fix.',
  },
  BRISK_SVC_SHARD_MOVING: {
    status: 503,
    retryable: true,
    description: 'A write reached a shard slot that is frozen while it moves to another shard (see docs/postgres.md, "Adding a shard"); retry after the move.',
  },
  BRISK_SVC_DEADLINE_EXCEEDED: {
    status: 504,
    retryable: false,
    description: 'The request deadline (`x-brisk-timeout-ms` from Brisk, or the service default) passed before the work was done; nothing more is attempted for it.',
  },
  BRISK_SVC_BAD_REQUEST: { status: 400, retryable: false, description: 'The request is malformed: a body that is not valid JSON, a body over the size limit, or a bad header value (the message names it).' },
  BRISK_SVC_NOT_FOUND: { status: 404, retryable: false, description: 'No route of the service matches the method and path.' },
  BRISK_SVC_METHOD_NOT_ALLOWED: { status: 405, retryable: false, description: 'The path exists but does not take this method; `Allow` lists the ones it does.' },
  BRISK_SVC_SHUTTING_DOWN: { status: 503, retryable: true, description: 'The service is draining for shutdown and takes no new requests; Brisk retries them on another instance.' },
  BRISK_SVC_NOT_READY: { status: 503, retryable: true, description: 'Readiness (`GET /readyz`) failed: a dependency check (database primary, cache, a custom check) did not pass; the body lists each check and its reason.' },
  BRISK_SVC_INTERNAL: { status: 500, retryable: false, description: 'An unexpected error in a handler; it is logged with the request id and trace id.' },
  BRISK_SVC_IDEMPOTENCY_KEY_INVALID: { status: 400, retryable: false, description: 'The `Idempotency-Key` header is empty, longer than 255 characters or has characters outside visible ASCII.' },
  BRISK_SVC_IDEMPOTENCY_KEY_REQUIRED: { status: 400, retryable: false, description: 'The route requires an `Idempotency-Key` header (the middleware runs with `required: true`) and the request has none.' },
  BRISK_SVC_IDEMPOTENCY_IN_PROGRESS: { status: 409, retryable: true, description: 'A request with the same `Idempotency-Key` and body is still being processed and did not finish while this one waited for it (up to its deadline, `x-brisk-timeout-ms`, or the store\'s `waitMs`); retry after `Retry-After` seconds to get its stored result.' },
  BRISK_SVC_IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false, description: 'The `Idempotency-Key` was already used with a different method, path or body; use a new key for a different request.' },
  BRISK_SVC_SAGA_FAILED: { status: 502, retryable: false, description: 'A saga step failed for good (the participant refused it, or it stayed unknown after its retries) and the saga was compensated; the message names the step and the cause.' },
  BRISK_SVC_SAGA_STEP_REFUSED: { status: 409, retryable: false, description: 'A participant refused a forward step because its compensation was already applied (a late retry after the saga gave up): the step will never be applied.' },
  BRISK_SVC_SAGA_DEFINITION_INVALID: { status: 0, retryable: false, description: 'A saga definition is invalid: no steps, a duplicate step name, a pivot that names no step, a step with neither `compensate` nor a place after the pivot.' },
  BRISK_SVC_SAGA_NOT_FOUND: { status: 404, retryable: false, description: 'No saga with this id.' },
  BRISK_SVC_SAGA_LEASE_LOST: { status: 0, retryable: false, description: 'This orchestrator lost the lease on a saga (it paused longer than `leaseMs`) and another one took it over; this one stops working on it. Logged, never answered to a client.' },
  BRISK_SVC_CACHE_LOAD_FAILED: { status: 502, retryable: true, description: 'The loader of a cache entry failed and no stale value was there to serve instead; the message names the key and the cause.' },
  BRISK_SVC_REGISTRY_UNAVAILABLE: { status: 0, retryable: true, description: 'Self-registration into the Redis registry failed (Redis unreachable); the service keeps serving and retries on the next heartbeat. Logged, never answered to a client.' },
  BRISK_SVC_REDIS_CONFIG_INVALID: { status: 0, retryable: false, description: 'A Redis location is malformed: a `redis+sentinel://` URL that is not `redis+sentinel://[:password@]host:port,host:port/NAME[/db]`; the message names the part to fix (the password is not shown).' },
  BRISK_SVC_EMBEDDED_FAILED: { status: 0, retryable: false, description: 'The embedded PostgreSQL (PGlite behind a loopback wire-protocol socket) could not start: its data directory is unreadable or locked, or the WebAssembly module could not load.' },
} as const satisfies Record<string, { status: number; retryable: boolean; description: string }>;

/** A stable, documented error code of the service toolkit. */
export type ServiceErrorCode = keyof typeof SERVICE_ERROR_CODES;

/**
 * An error a user can see: a stable code, the HTTP status to answer with, whether a
 * retry may help, and (for database errors) the SQLSTATE behind it.
 *
 * @example
 * throw new ServiceError('BRISK_SVC_DB_NO_PRIMARY', 'no primary among 127.0.0.1:5432, 127.0.0.1:5433');
 */
export class ServiceError extends Error {
  readonly code: ServiceErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** The PostgreSQL SQLSTATE, when the error came from the server. */
  readonly sqlState: string | undefined;
  constructor(code: ServiceErrorCode, message: string, options: { cause?: unknown; sqlState?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServiceError';
    this.code = code;
    this.status = SERVICE_ERROR_CODES[code].status;
    this.retryable = SERVICE_ERROR_CODES[code].retryable;
    this.sqlState = options.sqlState;
  }
}

/** Whether `error` is a {@link ServiceError} with `code` (any code when omitted). */
export function isServiceError(error: unknown, code?: ServiceErrorCode): error is ServiceError {
  return error instanceof ServiceError && (code === undefined || error.code === code);
}
