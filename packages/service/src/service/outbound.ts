/**
 * Outbound HTTP calls that carry the request's contract onward: the remaining deadline
 * (`x-brisk-timeout-ms`, minus a margin for the way back), the request id and the trace
 * context (this service's span as the parent). The call is aborted when the deadline
 * passes. Outside a request it is a plain fetch.
 */
import { currentContext, outboundTraceparent, remainingMs } from '../context.js';
import { DEADLINE_HEADER, REQUEST_ID_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER } from '../contracts.js';
import { ServiceError } from '../errors.js';

/** Milliseconds kept back from the deadline for the answer's way back (default 10). */
const MARGIN_MS = 10;

/**
 * @example
 * const res = await callService('http://127.0.0.1:8081/stock/reserve', { method: 'POST', body: JSON.stringify(item) });
 */
export async function callService(url: string | URL, init: RequestInit = {}): Promise<Response> {
  const context = currentContext();
  if (context === undefined) return fetch(url, init);
  const left = remainingMs() - MARGIN_MS;
  if (left <= 0) throw new ServiceError('BRISK_SVC_DEADLINE_EXCEEDED', `no time left for the call to ${String(url)}`);
  const headers = new Headers(init.headers);
  headers.set(DEADLINE_HEADER, String(Math.floor(left)));
  if (!headers.has(REQUEST_ID_HEADER)) headers.set(REQUEST_ID_HEADER, context.requestId);
  headers.set(TRACEPARENT_HEADER, outboundTraceparent(context.trace));
  if (context.trace.state !== undefined) headers.set(TRACESTATE_HEADER, context.trace.state);
  const signals = [context.signal, AbortSignal.timeout(Math.ceil(left))];
  if (init.signal) signals.push(init.signal);
  return fetch(url, { ...init, headers, signal: AbortSignal.any(signals) });
}
