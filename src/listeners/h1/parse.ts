/**
 * The lean server's request-head reader: a *strict subset* of HTTP/1.1, not a parser of the
 * whole language. It reads only what it fully understands — `METHOD /origin-form HTTP/1.1`,
 * token names, visible-ASCII values, CRLF line ends, at most one plain `Content-Length`,
 * `Connection: keep-alive|close` — and says {@link FALLBACK} for everything else
 * (Transfer-Encoding, Upgrade, Expect, HTTP/1.0, obsolete folding, bare CR or LF, controls or
 * non-ASCII bytes, absolute-form or `*` targets, CONNECT, the HTTP/2 preface, long heads,
 * many fields). Those connections go to node:http, whose llhttp parser then answers exactly
 * as it does without the lean server (the 400s of the smuggling tests included). So a head
 * this reader accepts is one llhttp accepts and frames the same way; the reverse is not
 * needed. Written by hand because node's own parser binding is reachable only through the
 * deprecated `process.binding` or `_http_common` internals, and a subset this small is
 * easier to prove than a binding is to keep working.
 */
import { TCHAR } from '../../core/http-token.js';

/** A head this reader accepted. */
export interface LeanHead {
  readonly method: string;
  readonly url: string;
  /** Names and values as sent (latin1, values without surrounding white space), flat. */
  readonly rawHeaders: string[];
  /** Offset just past the blank line that ends the head. */
  readonly end: number;
  /** The body's length (0: none). */
  readonly contentLength: number;
  /** The client sent `Connection: close`. */
  readonly close: boolean;
}

/** The head is not complete yet (and nothing read so far is outside the subset). */
export const INCOMPLETE = 0;
/** Outside the subset: node:http reads this connection from here on. */
export const FALLBACK = 1;

/** Methods served, with the byte after them (SP); any other goes to node:http. */
const METHODS: readonly (readonly [Buffer, string])[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].map((m) => [Buffer.from(`${m} `, 'latin1'), m] as const);

/** Request-target bytes taken: visible ASCII but `#` (a fragment is never sent; node would pass it on). */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;
TARGET[0x23] = 0;

/** Field-value bytes taken: HTAB, SP and visible ASCII (no obs-text, no controls). */
const VALUE = new Uint8Array(256);
VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;

const VERSION = Buffer.from(' HTTP/1.1\r\n', 'latin1');
/** Longest Content-Length taken (digits): 15 digits stay exact in a double. */
const MAX_LENGTH_DIGITS = 15;

/**
 * Reads the head that starts at `start` in `buf` (bytes up to `buf.length`). Heads longer than
 * `maxHead` bytes or with more than `maxFields` fields are left to node:http (its limits,
 * its 431). `bodies` false: a request announcing a body is left to node:http too.
 */
export function readHead(buf: Buffer, start: number, maxHead: number, maxFields: number, bodies: boolean): LeanHead | typeof INCOMPLETE | typeof FALLBACK {
  const length = buf.length - start;
  let method: string | null = null;
  let p = start;
  for (const [bytes, name] of METHODS) {
    const n = Math.min(bytes.length, length);
    if (buf.compare(bytes, 0, n, start, start + n) !== 0) continue;
    if (n < bytes.length) return INCOMPLETE;
    method = name;
    p = start + bytes.length;
    break;
  }
  if (method === null) return FALLBACK;
  const blank = buf.indexOf('\r\n\r\n', p, 'latin1');
  if (blank === -1) return length > maxHead || !plausiblePrefix(buf, p) ? FALLBACK : INCOMPLETE;
  const end = blank + 4;
  if (end - start > maxHead) return FALLBACK;

  // Request line: an origin-form target, then exactly " HTTP/1.1\r\n".
  if (buf[p] !== 0x2f /* '/' */) return FALLBACK;
  const targetStart = p;
  while (TARGET[buf[p]!] === 1) p++;
  if (p + VERSION.length > blank + 2 || buf.compare(VERSION, 0, VERSION.length, p, p + VERSION.length) !== 0) return FALLBACK;
  const url = buf.toString('latin1', targetStart, p);
  p += VERSION.length;

  const rawHeaders: string[] = [];
  let contentLength = -1;
  let connection = -1;
  while (p < blank + 2) {
    const nameStart = p;
    while (TCHAR[buf[p]!] === 1) p++;
    // An empty name, a space before the colon, a folded line: not ours.
    if (p === nameStart || buf[p] !== 0x3a /* ':' */) return FALLBACK;
    const nameEnd = p++;
    while (buf[p] === 0x20 || buf[p] === 0x09) p++;
    const valueStart = p;
    while (VALUE[buf[p]!] === 1) p++;
    // Anything but CRLF here is a control, a bare CR or LF, or a byte outside ASCII.
    if (buf[p] !== 0x0d || buf[p + 1] !== 0x0a) return FALLBACK;
    let valueEnd = p;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === 0x20 || buf[valueEnd - 1] === 0x09)) valueEnd--;
    p += 2;
    if (rawHeaders.length >= maxFields * 2) return FALLBACK;
    const special = specialField(buf, nameStart, nameEnd);
    if (special === Special.Refused) return FALLBACK;
    if (special === Special.ContentLength) {
      // One plain decimal length; a second line (even an equal one) is node's to refuse.
      if (contentLength !== -1) return FALLBACK;
      const digits = valueEnd - valueStart;
      if (digits === 0 || digits > MAX_LENGTH_DIGITS) return FALLBACK;
      contentLength = 0;
      for (let i = valueStart; i < valueEnd; i++) {
        const d = buf[i]! - 0x30;
        if (d < 0 || d > 9) return FALLBACK;
        contentLength = contentLength * 10 + d;
      }
      if (contentLength > 0 && !bodies) return FALLBACK;
    } else if (special === Special.Connection) {
      if (connection !== -1) return FALLBACK;
      connection = connectionValue(buf, valueStart, valueEnd);
      if (connection === -1) return FALLBACK;
    }
    rawHeaders.push(buf.toString('latin1', nameStart, nameEnd), buf.toString('latin1', valueStart, valueEnd));
  }
  return { method, url, rawHeaders, end, contentLength: contentLength === -1 ? 0 : contentLength, close: connection === 1 };
}

/**
 * False when the bytes of an unfinished head already break the subset: a bare CR or LF, a
 * control or a byte outside ASCII. node:http refuses such a head at once (a bare-LF head
 * would otherwise wait here for its blank line until the header timeout).
 */
function plausiblePrefix(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === 0x0d) {
      if (i + 1 < buf.length && buf[i + 1] !== 0x0a) return false;
    } else if (b === 0x0a) {
      if (buf[i - 1] !== 0x0d) return false;
    } else if (VALUE[b] !== 1) return false;
  }
  return true;
}

const enum Special {
  None = 0,
  /** Framing or protocol fields the lean server leaves to node:http. */
  Refused = 1,
  ContentLength = 2,
  Connection = 3,
}

const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const CONNECTION = Buffer.from('connection', 'latin1');
/** Transfer-Encoding (chunked bodies), Upgrade (WebSocket, h2c), Expect (100-continue), HTTP2-Settings. */
const REFUSED = ['transfer-encoding', 'upgrade', 'expect', 'http2-settings'].map((n) => Buffer.from(n, 'latin1'));

function specialField(buf: Buffer, start: number, end: number): Special {
  const n = end - start;
  if (n === CONTENT_LENGTH.length && equalsLower(buf, start, CONTENT_LENGTH)) return Special.ContentLength;
  if (n === CONNECTION.length && equalsLower(buf, start, CONNECTION)) return Special.Connection;
  for (const name of REFUSED) if (n === name.length && equalsLower(buf, start, name)) return Special.Refused;
  return Special.None;
}

/** ASCII case-insensitive comparison of `buf[start…]` with a lower-case name (token bytes only). */
function equalsLower(buf: Buffer, start: number, lower: Buffer): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[start + i]! | 0x20) !== lower[i]) return false;
  return true;
}

const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');
const CLOSE = Buffer.from('close', 'latin1');

/** `Connection`: 0 keep-alive, 1 close, -1 anything else (a list, `upgrade`: node's). */
function connectionValue(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n === KEEP_ALIVE.length && equalsLower(buf, start, KEEP_ALIVE)) return 0;
  if (n === CLOSE.length && equalsLower(buf, start, CLOSE)) return 1;
  return -1;
}
