/**
 * The request side of the lean HTTP/1.1 transport: the head written as one string (request
 * line, `host`, `connection`, the flat header list, framing), checked the way undici checks
 * what it is given (a value with CR, LF or NUL, a name that is not a token, a path with
 * spaces or controls: `UND_ERR_INVALID_ARG`), so a field a middleware set can never split
 * the request.
 */
import type { Readable } from 'node:stream';
import { dispatchError, type DispatchHandlerLike, type DispatchOptionsLike } from '../dispatch-contract.js';

export type H1Options = DispatchOptionsLike;
export type H1Handler = DispatchHandlerLike;
/** An error with a stable `code`, in undici's style. */
export const h1Error = dispatchError;

/** The request head and how its body is framed. */
export interface H1Head {
  readonly head: string;
  /** Bytes of body announced (`Content-Length`), -1: chunked, 0: none. */
  readonly length: number;
}

/** Methods whose request carries a body by their semantics: an empty one is sent as `content-length: 0` (as undici does). */
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Characters a field value may not hold (CTL other than HTAB, and DEL): undici's rule. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Characters a request target may not hold: undici's rule. */
const BAD_PATH = /[^\u0021-\u00ff]/;

/**
 * Fields this transport does not send itself: a request carrying one is unusual (an
 * upgrade, `Expect: 100-continue`, framing set by hand) and goes to undici, whose answer to
 * it — including its refusals — stays what it was. `host` and `content-length` are taken
 * out of the list and written by the transport (once, first and last, as undici does).
 */
const SPECIAL: Record<string, 'fallback' | 'host' | 'length'> = {
  __proto__: null as never,
  host: 'host',
  'content-length': 'length',
  connection: 'fallback',
  'keep-alive': 'fallback',
  upgrade: 'fallback',
  'transfer-encoding': 'fallback',
  expect: 'fallback',
};

type NameKind = 'fallback' | 'host' | 'length' | 'plain' | 'invalid';
/** Kinds of the header names seen, by their spelling: the same few names come on every request. */
const kinds = new Map<string, NameKind>();
const MAX_KINDS = 2048;

/** What a header name is to this transport (checked once per spelling). */
function kindOf(name: string): NameKind {
  let kind = kinds.get(name);
  if (kind !== undefined) return kind;
  kind = !TOKEN.test(name) ? 'invalid' : (SPECIAL[name.toLowerCase()] ?? 'plain');
  // Bounded: names a client makes up on every request must not grow it without end.
  if (kinds.size < MAX_KINDS) kinds.set(name, kind);
  return kind;
}

/** Body length of a body known in full (-1: a stream). */
export function knownLength(body: H1Options['body']): number {
  if (body === null || body === undefined) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return -1;
}

/**
 * Builds the head of `options` for `defaultHost` (the target's `host:port`), or returns
 * null when the request is one undici should send. Throws `UND_ERR_INVALID_ARG` (and
 * `UND_ERR_REQ_CONTENT_LENGTH_MISMATCH`) like undici does.
 */
export function buildHead(options: H1Options, defaultHost: string): H1Head | null {
  const method = options.method;
  if (options.upgrade != null || method === 'CONNECT') return null;
  if (!TOKEN.test(method)) throw h1Error('UND_ERR_INVALID_ARG', 'invalid request method');
  const path = options.path;
  if (typeof path !== 'string' || (path[0] !== '/' && !(path === '*' && method === 'OPTIONS')) || BAD_PATH.test(path)) throw h1Error('UND_ERR_INVALID_ARG', 'invalid request path');
  const flat = Array.isArray(options.headers) ? (options.headers as unknown[]) : [];
  let host: string | null = null;
  let declared = -1;
  let fields = '';
  for (let i = 0; i < flat.length; i += 2) {
    const name = String(flat[i]);
    const value = String(flat[i + 1]);
    const special = kindOf(name);
    if (special === 'invalid') throw h1Error('UND_ERR_INVALID_ARG', 'invalid header key');
    if (BAD_VALUE.test(value)) throw h1Error('UND_ERR_INVALID_ARG', `invalid ${name} header`);
    if (special === 'plain') {
      fields += `${name}: ${value}\r\n`;
      continue;
    }
    if (special === 'fallback') return null;
    if (special === 'host') {
      if (host !== null) throw h1Error('UND_ERR_INVALID_ARG', 'duplicate host header');
      host = value;
    } else {
      if (declared !== -1) throw h1Error('UND_ERR_INVALID_ARG', 'duplicate content-length header');
      if (!/^\d{1,15}$/.test(value)) throw h1Error('UND_ERR_INVALID_ARG', 'invalid content-length header');
      declared = Number(value);
    }
  }
  const known = knownLength(options.body);
  let length: number;
  let framing: string;
  if (known === -1) {
    length = declared === -1 ? -1 : declared;
    framing = declared === -1 ? 'transfer-encoding: chunked\r\n' : `content-length: ${declared}\r\n`;
  } else {
    // undici's rule: a mismatch is refused for the methods that may carry a Content-Length.
    if (known > 0 && declared !== -1 && declared !== known && method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE') {
      throw h1Error('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header');
    }
    length = known;
    framing = known > 0 || EXPECTS_PAYLOAD.has(method) ? `content-length: ${known}\r\n` : '';
  }
  // A HEAD's connection is closed after its answer (a target may send a body anyway, as
  // undici fears too): the target is told, not left holding the socket.
  const connection = method === 'HEAD' ? 'close' : 'keep-alive';
  return { head: `${method} ${path} HTTP/1.1\r\nhost: ${host ?? defaultHost}\r\nconnection: ${connection}\r\n${fields}${framing}\r\n`, length };
}

/** A stream body (not a Buffer or string). */
export function isStreamBody(body: H1Options['body']): body is Readable | AsyncIterable<Buffer> {
  return body !== null && body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
}
