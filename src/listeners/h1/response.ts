/**
 * The lean server's response: the members of node's `ServerResponse` the request path uses
 * (`writeHead` with a flat list or an object, `write`, `end`, `destroy`, `flushHeaders`,
 * `addTrailers`, `writeEarlyHints`, `writeProcessing`, `headersSent`, `destroyed`,
 * `writableEnded`, `chunkedEncoding`, `shouldKeepAlive`, `statusCode`, and the `drain` and
 * `close` events), framed as node frames them: the head is held until the first body bytes
 * (or the end) so that head and body leave in one `writev`; `Content-Length` when the head
 * has one, no body for HEAD, 1xx, 204 and 304, chunked otherwise; `Date`, `Connection` and
 * `Keep-Alive` added as node adds them. Fields are checked as node checks them (a name that
 * is not a token, a value with a control byte: the `writeHead` call throws), so a field a
 * target or a middleware set can never split the answer.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { isToken } from '../../core/http-token.js';

/** What a response tells its connection. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** `Keep-Alive: timeout=N` (seconds), as node writes it. */
  readonly keepAliveSeconds: number;
  /** True while the listener drains: every answer closes its connection. */
  readonly draining: boolean;
  /** The response has been handed whole to the socket. */
  responseDone(res: LeanResponse): void;
}

type Listener = (...args: unknown[]) => void;

/** A field value with a byte node would refuse. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Names already checked, so a target's usual fields are checked once per process (bounded). */
const validNames = new Set<string>();

function checkField(name: string, value: string): void {
  if (!validNames.has(name)) {
    if (!isToken(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    if (validNames.size < 1024) validNames.add(name);
  }
  if (INVALID_VALUE.test(value)) throw new TypeError(`invalid character in the value of header ${JSON.stringify(name)}`);
}

let date = '';
function utcDate(): string {
  if (date === '') {
    date = new Date().toUTCString();
    // Node caches its Date value for the rest of the second too.
    setTimeout(() => (date = ''), 1000 - (Date.now() % 1000)).unref();
  }
  return date;
}

/** One answer on a lean connection (see the module comment). */
export class LeanResponse {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  writableFinished = false;
  chunkedEncoding = false;
  shouldKeepAlive: boolean;
  /** The head, built and held until the first body bytes or the end. */
  private head: string | null = null;
  /** The answer may carry a body (not HEAD, 1xx, 204, 304). */
  private hasBody = true;
  private trailers = '';
  private closeListeners: Listener[] | null = null;
  private corked = false;

  constructor(
    private readonly owner: ResponseOwner,
    private readonly isHead: boolean,
    keepAlive: boolean,
  ) {
    this.shouldKeepAlive = keepAlive;
  }

  /** `writeHead(status, [statusText], headers)`, headers flat (`[name, value, …]`) or an object. */
  writeHead(status: number, textOrHeaders?: string | readonly string[] | Record<string, string | number | readonly string[]>, maybeHeaders?: readonly string[] | Record<string, string | number | readonly string[]>): this {
    if (this.headersSent) throw new Error('ERR_HTTP_HEADERS_SENT: the head was already written');
    const statusText = typeof textOrHeaders === 'string' ? textOrHeaders : undefined;
    // As node: `writeHead(status, undefined, headers)` is `writeHead(status, headers)`.
    const headers = typeof textOrHeaders === 'string' ? maybeHeaders : (maybeHeaders ?? textOrHeaders);
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid status code ${status}`);
    const reason = statusText ?? STATUS_CODES[status] ?? 'unknown';
    if (INVALID_VALUE.test(reason)) throw new TypeError('invalid character in the status message');
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    let length = false;
    let chunked = false;
    let hasDate = false;
    let close = false;
    const field = (name: string, value: string): void => {
      checkField(name, value);
      head += `${name}: ${value}\r\n`;
      const n = name.length;
      if (n === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (n === 17 && name.toLowerCase() === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      else if (n === 4 && name.toLowerCase() === 'date') hasDate = true;
      else if (n === 10 && name.toLowerCase() === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(value)) close = true;
    };
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) field(headers[i] as string, String(headers[i + 1]));
    } else if (headers !== undefined) {
      for (const [name, value] of Object.entries(headers as Record<string, string | number | readonly string[]>)) {
        if (Array.isArray(value)) for (const v of value as readonly string[]) field(name, String(v));
        else field(name, String(value));
      }
    }
    if (!hasDate) head += `Date: ${utcDate()}\r\n`;
    if (close || this.owner.draining) this.shouldKeepAlive = false;
    head += this.shouldKeepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${this.owner.keepAliveSeconds}\r\n` : 'Connection: close\r\n';
    this.hasBody = !(this.isHead || status < 200 || status === 204 || status === 304);
    if (this.hasBody && !length) {
      if (!chunked) head += 'Transfer-Encoding: chunked\r\n';
      this.chunkedEncoding = true;
    }
    this.statusCode = status;
    this.head = `${head}\r\n`;
    this.headersSent = true;
    return this;
  }

  /** Sends the held head now (a streamed answer whose body starts later). */
  flushHeaders(): void {
    if (!this.headersSent) this.writeHead(this.statusCode);
    if (this.head !== null && !this.destroyed) {
      this.owner.socket.write(this.head, 'latin1');
      this.head = null;
    }
  }

  write(chunk: Buffer | string, encoding?: BufferEncoding): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    if (!this.hasBody || chunk.length === 0) return true;
    return this.send(chunk, encoding);
  }

  end(chunk?: Buffer | string, encoding?: BufferEncoding): this {
    if (this.writableEnded || this.destroyed) return this;
    if (!this.headersSent) this.writeHead(this.statusCode, chunk === undefined ? [] : ['Content-Length', String(Buffer.byteLength(chunk, encoding))]);
    this.writableEnded = true;
    const socket = this.owner.socket;
    // Head and body in one writev: corked until the last write of this call (or, when a
    // write earlier in this turn corked, until the end of the turn).
    const cork = !this.corked;
    if (cork) {
      socket.cork();
      this.corked = true;
    }
    if (chunk !== undefined && chunk.length > 0 && this.hasBody) this.send(chunk, encoding);
    else if (this.head !== null) {
      socket.write(this.head, 'latin1');
      this.head = null;
    }
    if (this.chunkedEncoding) socket.write(`0\r\n${this.trailers}\r\n`, 'latin1');
    if (cork) {
      this.corked = false;
      socket.uncork();
    }
    this.writableFinished = true;
    this.owner.responseDone(this);
    if (this.closeListeners !== null) process.nextTick(emitClose, this);
    return this;
  }

  /** Trailers for a chunked answer (node sends them only then). */
  addTrailers(fields: Record<string, string>): void {
    let out = '';
    for (const [name, value] of Object.entries(fields)) {
      checkField(name, value);
      out += `${name}: ${value}\r\n`;
    }
    this.trailers += out;
  }

  writeEarlyHints(hints: Record<string, string | readonly string[]>): void {
    let head = 'HTTP/1.1 103 Early Hints\r\n';
    for (const [name, value] of Object.entries(hints)) {
      const joined = Array.isArray(value) ? (value as readonly string[]).join(', ') : (value as string);
      checkField(name, joined);
      head += `${name === 'link' ? 'Link' : name}: ${joined}\r\n`;
    }
    this.owner.socket.write(`${head}\r\n`, 'latin1');
  }

  writeProcessing(): void {
    this.owner.socket.write('HTTP/1.1 102 Processing\r\n\r\n', 'latin1');
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.owner.socket.destroy();
    return this;
  }

  on(event: string, listener: Listener): this {
    if (event === 'close') (this.closeListeners ??= []).push(listener);
    else if (event === 'drain') this.owner.socket.on('drain', listener);
    return this;
  }

  once(event: string, listener: Listener): this {
    if (event === 'close') {
      const wrapped: Listener = (...args) => {
        this.off('close', wrapped);
        listener(...args);
      };
      return this.on('close', wrapped);
    }
    if (event === 'drain') this.owner.socket.once('drain', listener);
    return this;
  }

  off(event: string, listener: Listener): this {
    if (event === 'close' && this.closeListeners !== null) {
      const i = this.closeListeners.indexOf(listener);
      if (i !== -1) this.closeListeners.splice(i, 1);
    } else if (event === 'drain') this.owner.socket.off('drain', listener);
    return this;
  }

  removeListener(event: string, listener: Listener): this {
    return this.off(event, listener);
  }

  /** @internal The connection closed before this answer was whole (the client left, or a cut). */
  closed(): void {
    this.destroyed = true;
    if (this.closeListeners !== null) emitClose(this);
  }

  /** @internal */
  emitClose(): void {
    const listeners = this.closeListeners;
    if (listeners === null) return;
    this.closeListeners = null;
    for (const l of [...listeners]) l.call(this);
  }

  /** Body bytes, with the held head in front and chunk framing when chunked. */
  private send(chunk: Buffer | string, encoding?: BufferEncoding): boolean {
    const socket = this.owner.socket;
    if (!this.corked) {
      // Everything written in this turn leaves as one writev (node corks the same way).
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this);
    }
    if (this.head !== null) {
      socket.write(this.head, 'latin1');
      this.head = null;
    }
    if (!this.chunkedEncoding) return socket.write(chunk, encoding as BufferEncoding);
    socket.write(`${Buffer.byteLength(chunk, encoding).toString(16)}\r\n`, 'latin1');
    socket.write(chunk, encoding as BufferEncoding);
    return socket.write('\r\n', 'latin1');
  }

  /** @internal */
  uncork(): void {
    this.corked = false;
    this.owner.socket.uncork();
  }
}

function uncork(res: LeanResponse): void {
  res.uncork();
}

function emitClose(res: LeanResponse): void {
  res.emitClose();
}
