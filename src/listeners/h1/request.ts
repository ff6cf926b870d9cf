/**
 * The lean server's request: the members of node's `IncomingMessage` the request path
 * reads (`method`, `url`, `rawHeaders`, `headers`, `socket`, the version, `complete`), and,
 * only for a request with a body, the readable side (`pipe`, `iterator`, `readableDidRead`)
 * from a `Readable` made for that body. A bodiless request — the common case — is one small
 * object: no stream, no header object unless someone reads `headers`.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { LeanHead } from './parse.js';

/** Fields node keeps the first of when repeated (`IncomingMessage` with `joinDuplicateHeaders: false`). */
const FIRST_WINS = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization', 'if-modified-since',
  'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires',
]);

/**
 * The header object node builds from raw headers: names in lower case, repeats joined with
 * ", " (`cookie` with "; "), `set-cookie` an array, the fields of {@link FIRST_WINS} once.
 * Routing by header reads this, so it must be node's exactly.
 */
export function headerObject(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (prev as string[]).push(value);
    else if (FIRST_WINS.has(name)) continue;
    else out[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out;
}

/** A request read by the lean server; see the module comment for what it offers. */
export class LeanRequest {
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  /** The body as it arrives (null: none). */
  readonly body: Readable | null;
  private headerCache: Record<string, string | string[]> | null = null;

  constructor(
    head: LeanHead,
    readonly socket: Socket,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.rawHeaders = head.rawHeaders;
    this.body = head.contentLength > 0 ? new Readable({ read: () => this.onRead?.() }) : null;
  }

  /** Set by the connection: the body's reader asks for more (backpressure). */
  onRead: (() => void) | null = null;

  get headers(): Record<string, string | string[]> {
    return (this.headerCache ??= headerObject(this.rawHeaders));
  }

  /** True once the whole request, body included, has been read. */
  get complete(): boolean {
    return this.body === null || this.body.readableEnded || this.bodyReceived;
  }

  /** Set by the connection when the last body byte arrived. */
  bodyReceived = false;

  get readableDidRead(): boolean {
    return this.body?.readableDidRead ?? false;
  }

  pipe<T extends NodeJS.WritableStream>(destination: T): T {
    return this.body!.pipe(destination);
  }

  iterator(options?: { destroyOnReturn?: boolean }): AsyncIterableIterator<unknown> {
    return this.body!.iterator(options);
  }
}
