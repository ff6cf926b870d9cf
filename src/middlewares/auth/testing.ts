/**
 * Test support for the access-control middlewares (auth, ipFilter, cors): a request
 * context as the proxy builds it, a silent logger, and cheap scrypt hashes. Not used by
 * the gateway itself.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import pino from 'pino';
import type { RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';

/** A logger that drops everything; `lines` keeps what was logged when `capture` is set. */
export function testLogger(capture = false): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: capture ? 'debug' : 'silent' },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines };
}

export interface FakeRequest {
  readonly method?: string;
  readonly path?: string;
  readonly query?: string;
  /** Client headers, names in any case; repeated names are repeated headers. */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly clientIp?: string;
}

/**
 * A context like the proxy's: `upstreamHeaders` starts as a copy of the client headers.
 *
 * @example
 * const ctx = fakeContext({ headers: [['authorization', `Bearer ${token}`]] });
 */
export function fakeContext(req: FakeRequest = {}): RequestContext & { finishers: Array<(status: number) => void> } {
  const raw = (req.headers ?? []).flatMap(([n, v]) => [n, v]);
  const finishers: Array<(status: number) => void> = [];
  return {
    method: req.method ?? 'GET',
    path: req.path ?? '/api/things',
    query: req.query ?? '',
    rawHeaders: raw,
    clientIp: req.clientIp ?? '127.0.0.1',
    requestId: 'test-request',
    routeName: 'test-route',
    params: null,
    upstreamHeaders: [...raw],
    responseHeaders: null,
    identity: null,
    onFinish(cb: (status: number) => void) {
      finishers.push(cb);
    },
    finishers,
  };
}

/** Values of a header in a flat list (lower-case name). */
export function valuesOf(list: readonly string[] | null | undefined, name: string): string[] {
  const out: string[] = [];
  if (list == null) return out;
  for (let i = 0; i + 1 < list.length; i += 2) if (list[i]!.toLowerCase() === name) out.push(list[i + 1]!);
  return out;
}

/**
 * A valid scrypt hash with a small N, so tests do not spend a second per hash. The
 * gateway accepts it like any other (N is read from the hash).
 */
export function cheapScryptHash(secret: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret, salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt:1024:8:1:${salt.toString('base64url')}:${hash.toString('base64url')}`;
}
