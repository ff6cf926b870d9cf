/**
 * The lean server's request: the members of node's `IncomingMessage` the request path
 * reads (`method`, `url`, `rawHeaders`, `headers`, `socket`, the version, `complete`), and,
 * only for a request with a body, a whole `Readable` (`LeanBodyRequest`). A bodiless request
 * — the common case — is one small object: no stream, no header object unless someone
 * reads `headers`.
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

/** What the connection needs of either kind of lean request. */
export interface LeanIncoming {
  readonly method: string;
  /** The body as it arrives (null: none). */
  readonly body: Readable | null;
  /** True once the whole request, body included, has been read. */
  readonly complete: boolean;
  /** Set by the connection when the last body byte arrived. */
  bodyReceived: boolean;
  /** Set by the connection: the body's reader asks for more (backpressure). */
  onRead: (() => void) | null;
}

/** The request for `head`: a plain object without a body, a `Readable` with one. */
export function leanRequest(head: LeanHead, socket: Socket): LeanIncoming {
  return head.contentLength > 0 ? new LeanBodyRequest(head, socket) : new LeanRequest(head, socket);
}

/** A bodiless request read by the lean server; see the module comment for what it offers. */
export class LeanRequest implements LeanIncoming {
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly body = null;
  readonly complete = true;
  readonly readableDidRead = false;
  bodyReceived = true;
  onRead: (() => void) | null = null;
  private headerCache: Record<string, string | string[]> | null = null;

  constructor(
    head: LeanHead,
    readonly socket: Socket,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.rawHeaders = head.rawHeaders;
  }

  get headers(): Record<string, string | string[]> {
    return (this.headerCache ??= headerObject(this.rawHeaders));
  }
}

/**
 * A request with a `Content-Length` body: a `Readable` of that body, as `IncomingMessage`
 * is, so every consumer (a replayed body, undici's pool, a pipe) reads it as it reads
 * node's, with backpressure to the client's socket.
 */
export class LeanBodyRequest extends Readable implements LeanIncoming {
  bodyReceived = false;
  onRead: (() => void) | null = null;
  /** The head's members, as the bodiless request has them. */
  private readonly plain: LeanRequest;

  constructor(head: LeanHead, socket: Socket) {
    super();
    this.plain = new LeanRequest(head, socket);
  }

  get method(): string { return this.plain.method; }
  get url(): string { return this.plain.url; }
  get rawHeaders(): string[] { return this.plain.rawHeaders; }
  get headers(): Record<string, string | string[]> { return this.plain.headers; }
  get socket(): Socket { return this.plain.socket; }
  get httpVersion(): string { return this.plain.httpVersion; }
  get httpVersionMajor(): number { return 1; }
  get httpVersionMinor(): number { return 1; }
  get body(): Readable { return this; }

  get complete(): boolean {
    return this.bodyReceived;
  }

  override _read(): void {
    this.onRead?.();
  }
}
