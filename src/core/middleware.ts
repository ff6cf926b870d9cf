import type { ErrorCode } from './errors.js';
import type { ClientRequest } from './http.js';
import type { ResponseTransform } from './response-transform.js';

/**
 * The route pipeline (DESIGN.md: "request filters run forward, response filters in
 * reverse, forwarding is the one last step"). A middleware is built once per route and
 * config version from the route's config; `handle` runs for every request on that route
 * before a target is picked.
 *
 * The context is the request as the gateway has planned it; a middleware reads the client
 * request, may edit the headers sent upstream, may add response headers, and may answer
 * the request itself (refuse it, or serve it) by returning an `Answer`.
 */
export interface RequestContext {
  /** The client's request (node:http IncomingMessage or the HTTP/2 compat request). */
  readonly method: string;
  /** Path without the query, as received. */
  readonly path: string;
  /** Raw query string without '?', '' when none. */
  readonly query: string;
  /** The client request's raw headers, [name, value, …], names in any case. */
  readonly rawHeaders: readonly string[];
  /** The client's address, honouring trusted proxies (X-Forwarded-For from them). */
  readonly clientIp: string;
  /** The scheme the client used: the connection's, or a trusted proxy's `X-Forwarded-Proto`. Optional for fixtures (then `http`). */
  readonly scheme?: 'http' | 'https';
  readonly requestId: string;
  readonly routeName: string;
  readonly params: Readonly<Record<string, string>> | null;
  /** Headers for the target, flat [name, value, …]; middlewares may push or remove. */
  readonly upstreamHeaders: string[];
  /** Headers added to the response the client gets, flat; null until a middleware adds one. */
  responseHeaders: string[] | null;
  /** Who the client is, once an auth middleware has said so. */
  identity: Identity | null;
  /**
   * Runs `cb` once when the request has ended (answered, failed or abandoned), with the
   * status the client got (499 when it left first). For permits, breakers and counters.
   */
  onFinish(cb: (status: number) => void): void;
  /** Watches (and may replace) the target's response: the cache middleware. Optional for fixtures. */
  observeResponse?(observer: ResponseObserver): void;
  /** Re-encodes the body the client gets (compression), decided at head time. Optional for fixtures. */
  transformResponse?(transform: ResponseTransform): void;
  /** Sends the request again in the background with other headers (cache revalidation). */
  spawnDetached?(headers: string[], observer: ResponseObserver): boolean;
  /** The cache's verdict for this request (read by metrics). */
  cacheStatus?: string | null;
}

/** What authentication established. */
export interface Identity {
  /** `api-key`, `jwt`, `basic`, `forward-auth`. */
  readonly method: string;
  /** The subject: key name, JWT `sub`, user name. */
  readonly subject: string;
  /** JWT claims or forward-auth attributes, for rate-limit keys and headers to the target. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** An answer the gateway gives instead of forwarding. */
export interface Answer {
  readonly status: number;
  /** Set for refusals: the JSON error body is built from it. */
  readonly code?: ErrorCode;
  readonly message?: string;
  /** Extra response headers, flat. */
  readonly headers?: readonly string[];
  /** A body of its own (when there is no code). */
  readonly body?: string | Buffer;
  /** A stored response served by the gateway: gets `Via` and the route's response header edits like a proxied one. */
  readonly proxied?: boolean;
}

/**
 * Watches the response a request gets from its target (a cache capturing it), and may
 * answer in its place: `onHead` may substitute an answer for the target's (a 304 that
 * revalidated a stored response, a 5xx replaced by a stale copy); `onError` may answer
 * instead of a gateway error sent before any response byte (stale-if-error).
 */
export interface ResponseObserver {
  onHead(status: number, statusText: string, rawHeaders: Buffer[]): Answer | null;
  onData(chunk: Buffer): void;
  onError(code: ErrorCode): Answer | null;
  /** Once, when the exchange ends; `complete`: the target's whole body reached the client. */
  onEnd(complete: boolean): void;
  /**
   * Optional: asked when a try's response head arrives and nothing has reached the client
   * yet, before the retry policy looks at it. `'deliver'`: do not retry this one, pass it
   * to `onHead` now (the observer answers it: a stale copy under stale-if-error).
   * `'resend'`: drop it and send the request once more to the same target with the
   * headers the observer has just edited, outside the retry policy (a 304 that
   * revalidated nothing stored). null: the retry policy decides.
   */
  retryVerdict?(status: number, rawHeaders: Buffer[]): RetryVerdict;
}

/** See {@link ResponseObserver.retryVerdict}. */
export type RetryVerdict = 'deliver' | 'resend' | null;

/**
 * What a route's terminal step reads and how it answers: the request as the gateway
 * planned it (forwarding headers, request id, trace) after the route's middlewares.
 */
export interface TerminalContext {
  readonly req: ClientRequest;
  readonly requestId: string | undefined;
  /** The headers planned for a target, flat `[name, value, …]`. */
  readonly headers: readonly string[];
  /** Raw query string without '?', '' when none. */
  readonly query: string;
  readonly params: Readonly<Record<string, string>> | null;
  readonly traceId: string | undefined;
  readonly sampled: boolean;
  /** Answers the request (once; later calls are ignored). */
  answer(a: Answer): void;
  /** Runs `cb` once when the request has ended, with the client's status (499: it left first). */
  onFinish(cb: (status: number) => void): void;
}

/**
 * The last step of a route that answers by itself instead of forwarding to one upstream
 * (an aggregate route builds one answer from several requests). Compiled once per route
 * and config version.
 */
export interface RouteTerminal {
  run(ctx: TerminalContext): void;
}

/** One step of a route's pipeline. `null` lets the request go on. */
export interface Middleware {
  readonly name: string;
  handle(ctx: RequestContext): Answer | null | Promise<Answer | null>;
  /** Releases timers and connections when the config version it belongs to is replaced. */
  close?(): void | Promise<void>;
}

/**
 * Runs a pipeline; synchronous middlewares cost no promise. Resolves (or returns) the
 * first answer, or null when every middleware let the request through.
 */
export function runPipeline(pipeline: readonly Middleware[], ctx: RequestContext): Answer | null | Promise<Answer | null> {
  for (let i = 0; i < pipeline.length; i++) {
    const result = pipeline[i]!.handle(ctx);
    if (result === null) continue;
    if (isPromise(result)) return continueAsync(pipeline, ctx, i, result);
    return result;
  }
  return null;
}

async function continueAsync(pipeline: readonly Middleware[], ctx: RequestContext, at: number, pending: Promise<Answer | null>): Promise<Answer | null> {
  const first = await pending;
  if (first !== null) return first;
  for (let i = at + 1; i < pipeline.length; i++) {
    const result = await pipeline[i]!.handle(ctx);
    if (result !== null) return result;
  }
  return null;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}
