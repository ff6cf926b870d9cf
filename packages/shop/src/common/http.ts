/**
 * What every shop service shares on the HTTP side: handlers that turn a `ShopError` into
 * its answer, the shopper's identity (Brisk verifies the JWT and passes the subject as
 * `x-user-id`), body checks, and calls from one service to another.
 */
import { json, StepFailed, type HandlerContext, type Reply } from '@brisk/service';
import { ShopError } from './errors.js';

/** Header Brisk sets from the verified JWT's subject (brisk.yaml: `identityHeaders.subject`). */
export const USER_HEADER = 'x-user-id';
/** Header carrying the shop's internal API key on service-to-service calls through Brisk. */
export const INTERNAL_KEY_HEADER = 'x-api-key';

type Handler = (ctx: HandlerContext) => Promise<unknown>;

/** Wraps a handler: a thrown `ShopError` becomes its JSON answer. */
export function handle(fn: Handler): Handler {
  return async (ctx) => {
    try {
      return await fn(ctx);
    } catch (error) {
      if (error instanceof ShopError) return error.reply(ctx.requestId);
      throw error;
    }
  };
}

/** The signed-in shopper's id, or `SHOP_NOT_SIGNED_IN`. */
export function userOf(ctx: HandlerContext): string {
  const id = ctx.req.headers[USER_HEADER];
  if (typeof id !== 'string' || !/^\d{1,18}$/.test(id)) throw new ShopError('SHOP_NOT_SIGNED_IN', 'sign in first (no verified identity on the request)');
  return id;
}

/** A positive integer from a body field or parameter, or `SHOP_BAD_INPUT` naming it. */
export function positiveInt(value: unknown, name: string, max = 1_000_000): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) throw new ShopError('SHOP_BAD_INPUT', `${name} must be a whole number from 1 to ${max}`);
  return n;
}

/** A non-empty string field, or `SHOP_BAD_INPUT`. */
export function text(value: unknown, name: string, max = 200): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) throw new ShopError('SHOP_BAD_INPUT', `${name} must be a non-empty string of at most ${max} characters`);
  return value.trim();
}

/** The body as an object (an empty body is `{}`). */
export async function bodyOf(ctx: HandlerContext): Promise<Record<string, unknown>> {
  const raw = await ctx.rawBody();
  if (raw.length === 0) return {};
  const value = await ctx.body<unknown>();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ShopError('SHOP_BAD_INPUT', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

/** The request's `Idempotency-Key`, required. */
export function idempotencyKey(ctx: HandlerContext): string {
  const key = ctx.req.headers['idempotency-key'];
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key)) throw new ShopError('SHOP_BAD_INPUT', 'this call needs an Idempotency-Key header (1-255 visible ASCII characters)');
  return key;
}

export function notFound(what: string): ShopError {
  return new ShopError('SHOP_NOT_FOUND', `no such ${what}`);
}

export function created(body: unknown): Reply {
  return json(201, body);
}

/** Where a service reaches another one, and with which key (Brisk checks it on `/internal/*`). */
export interface Peer {
  url: string;
  key?: string | undefined;
}

/**
 * A saga step's call to another service. A 4xx is a definite "no" (`StepFailed`: the
 * step was not applied and retrying will not apply it); anything else — 5xx, a timeout,
 * a reset — is an unknown outcome the orchestrator retries with the same key.
 *
 * Plain fetch, not `ctx.fetch`: a step runs for the saga, which outlives the request
 * that started it (the client may have gone), so it takes the step's own signal.
 */
export async function stepCall(peer: Peer, path: string, key: string, body: unknown, signal: AbortSignal, timeoutMs: number): Promise<unknown> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': key, 'x-brisk-timeout-ms': String(timeoutMs) };
  if (peer.key !== undefined) headers[INTERNAL_KEY_HEADER] = peer.key;
  const res = await fetch(new URL(path, peer.url), { method: 'POST', headers, body: JSON.stringify(body), signal });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (res.ok) return parsed;
  const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
  const message = `${path} answered ${res.status} ${error?.code ?? ''} ${error?.message ?? ''}`.trim();
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 409) throw new StepFailed(message);
  // 409 is definite too, except the toolkit's "a request with this key is in progress".
  if (res.status === 409 && error?.code !== 'BRISK_SVC_IDEMPOTENCY_IN_PROGRESS') throw new StepFailed(message);
  throw new Error(message);
}

/** A GET to another service (reads: the order page's parts, the reconciliation). */
export async function peerGet<T>(peer: Peer, path: string, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  if (peer.key !== undefined) headers[INTERNAL_KEY_HEADER] = peer.key;
  const res = await fetch(new URL(path, peer.url), { headers, signal: signal ?? AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  return (await res.json()) as T;
}
