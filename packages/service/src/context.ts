/**
 * The request context every piece of the toolkit reads without being handed it: the
 * deadline (from `x-brisk-timeout-ms`), the request id and the trace context. The
 * service bootstrap runs each handler inside {@link runWithContext}; the database turns
 * the deadline into a statement timeout, outbound calls into an abort signal and a
 * smaller `x-brisk-timeout-ms`, the logger into fields. Outside a request (a background
 * job, a test) there is simply no context and the configured defaults apply.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/** W3C trace context of the current request, with this service's own span id. */
export interface TraceContext {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** This service's span (16 hex characters): the parent of every outbound call. */
  spanId: string;
  /** The caller's span, when a valid `traceparent` came in. */
  parentSpanId: string | undefined;
  /** Trace flags, two hex characters (`01` = sampled). */
  flags: string;
  /** `tracestate`, passed on untouched. */
  state: string | undefined;
}

export interface RequestContext {
  requestId: string;
  /** Absolute time (ms since the epoch, `Date.now()` clock) by which the answer is due. */
  deadline: number;
  trace: TraceContext;
  /** Aborted when the deadline passes or the client goes away. */
  signal: AbortSignal;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the request being handled, or undefined outside one. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `context` as the current request context. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** Milliseconds left before the current request's deadline (Infinity outside a request). */
export function remainingMs(): number {
  const context = storage.getStore();
  return context === undefined ? Infinity : Math.max(0, context.deadline - Date.now());
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A fresh 16-hex span id. */
export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * The trace context of an incoming request: continues a valid `traceparent` (version 00,
 * non-zero ids) with a new span id, or starts a new trace.
 */
export function traceFromHeaders(traceparent: string | undefined, tracestate: string | undefined): TraceContext {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (match !== null && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!)) {
    return { traceId: match[1]!, spanId: newSpanId(), parentSpanId: match[2]!, flags: match[3]!, state: tracestate };
  }
  return { traceId: randomBytes(16).toString('hex'), spanId: newSpanId(), parentSpanId: undefined, flags: '01', state: undefined };
}

/** The `traceparent` an outbound call of this span carries. */
export function outboundTraceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}
