/**
 * The small contract a service shares with Brisk in front of it. Defined here, not
 * imported from the gateway, so the toolkit never depends on the gateway's internals;
 * docs/contract.md states it and the gateway's tests hold Brisk to it.
 */

/** The remaining time budget Brisk gives the request, in milliseconds (integer). */
export const DEADLINE_HEADER = 'x-brisk-timeout-ms';
/** The request id Brisk sets (or passes through); echoed in logs and error bodies. */
export const REQUEST_ID_HEADER = 'x-request-id';
/** W3C trace context (https://www.w3.org/TR/trace-context/). */
export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';

/** The JSON body of every error Brisk and the toolkit answer with. */
export interface ErrorBody {
  error: {
    code: string;
    message: string;
    requestId: string | null;
    traceId?: string;
  };
}

/** Builds the {@link ErrorBody} JSON text. */
export function errorBodyText(code: string, message: string, requestId: string | undefined, traceId?: string): string {
  const body: ErrorBody = { error: { code, message, requestId: requestId ?? null } };
  if (traceId !== undefined) body.error.traceId = traceId;
  return JSON.stringify(body);
}

/**
 * Parses a deadline header value: a non-negative integer number of milliseconds.
 * Returns undefined for anything else (a bad value is ignored rather than failing the
 * request: the service default applies).
 */
export function parseDeadlineHeader(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value)) return undefined;
  return Number(value);
}
