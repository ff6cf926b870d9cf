/**
 * The contracts of an upstream call: what its caller prepares (`CallRequest`,
 * `CallPolicy`, `RequestBody`) and where its answer goes (`ResponseSink`, `Take`).
 */
import type { Readable } from 'node:stream';
import type { HedgeConfig, RetryConfig } from '../../config/types.js';
import type { ErrorCode } from '../../core/errors.js';
import type { RetryVerdict } from '../../core/middleware.js';

/** The request body of a call: sent again by retries and hedges when it can be. */
export interface RequestBody {
  /** The body for a new try. */
  source(): Buffer | string | Readable | AsyncIterable<Buffer>;
  /** True when a new try can be given the whole body. */
  replayable(): boolean;
  /** Set when a body of unknown length went past its limit: the call fails with `BRISK_BODY_TOO_LARGE`. */
  readonly tooLarge: boolean;
}

/** What a call sends, prepared by its caller. Header slots are filled per try. */
export interface CallRequest {
  readonly method: string;
  /** Path and query, without the target's base path. */
  readonly pathAndQuery: string;
  /** Flat `[name, value, …]`; the slots below are rewritten in place for each try. */
  readonly headers: string[];
  /** Index of the `host` value to fill with the target's host (-1: leave `host` alone). */
  hostSlot: number;
  /** Index of the deadline header's value, filled with the milliseconds left (-1: none). */
  deadlineSlot: number;
  readonly deadlineHeader: string | false;
  /** Index of the `grpc-timeout` value, filled with the time left in gRPC's format (-1: none). */
  grpcTimeoutSlot: number;
  /** A gRPC request: a trailers-only answer's `grpc-status` is judged by `retry.grpcStatuses`. */
  readonly grpc: boolean;
  /** Index of the `traceparent` value, filled with each try's own span (-1: none). */
  traceparentSlot: number;
  readonly traceId: string | undefined;
  readonly sampled: boolean;
  readonly body: RequestBody | null;
  /** Repeating the request is safe (an idempotent method or an `Idempotency-Key`). */
  readonly idempotent: boolean;
  /** The consistent-hash key (retries stay on the ring), or null. */
  readonly hashKey: string | null;
}

/** How a call behaves: the route's (or upstream's) retry, hedge and timeouts. */
export interface CallPolicy {
  readonly retry: RetryConfig;
  readonly hedge: HedgeConfig | undefined;
  /** The whole exchange until the answer starts, retries included; 0: none. */
  readonly totalMs: number;
  /** Route overrides of the pool's response and idle timeouts (undefined: the pool's). */
  readonly headersTimeoutMs: number | undefined;
  readonly bodyTimeoutMs: number | undefined;
  /** Keep every try for its client span (a sampled, exported trace). */
  readonly recordTries: boolean;
}

/** How the caller takes the body of the answer it was shown. */
export const enum Take {
  /** Stream it to `onData`. */
  Stream = 0,
  /** Read and drop it: the caller answered in its place (a cache substitution). */
  Discard = 1,
  /** Stop the try: the caller could not use the answer and has failed itself. */
  Abort = 2,
}

/**
 * Where a call's answer goes: the proxy's client response, the internal client's buffer,
 * a cache's background refresh. Called at most once per step, never after the caller
 * cancelled the call.
 */
export interface ResponseSink {
  /** The answer that won (the call is committed to it). */
  onHead(status: number, rawHeaders: Buffer[], statusText: string): Take;
  /** A chunk of the winning answer's body; false asks undici to pause until `resume` is called. */
  onData(chunk: Buffer, resume: () => void): boolean;
  onComplete(trailers: Buffer[] | null): void;
  /** An interim (1xx) answer of the try still racing to win. */
  onInterim?(status: number, rawHeaders: Buffer[]): void;
  /**
   * Asked when a try's head arrives before anything was delivered, ahead of the retry
   * policy: `'deliver'` takes it as it is (no retry), `'resend'` sends the request once
   * more to the same target with headers the sink has just edited (a cache's 304 that
   * matched nothing it stores), null leaves it to the policy.
   */
  retryVerdict?(status: number, rawHeaders: Buffer[]): RetryVerdict;
  /** Nothing usable came back (after the retries allowed). `headers`: extra response headers for the error. */
  onFail(code: ErrorCode, message: string, headers?: readonly string[]): void;
  /** The winning answer broke after its head: the only honest signal left is a cut. */
  onCut(code: ErrorCode): void;
}
