/**
 * One client connection on the lean server: reads heads with the strict subset reader,
 * serves one request at a time (pipelined requests wait in the buffer and are answered in
 * order; a request is read only once the answer before it is whole, so nothing behind an
 * answer that closes the connection is ever processed), feeds a `Content-Length` body to
 * its request, and keeps the timeouts node:http keeps (`headersTimeout` for a head,
 * `requestTimeout` for a whole request, `keepAliveTimeout` between requests). The first head
 * it does not fully understand hands the connection to node:http at that request's first
 * byte, with every byte not yet consumed put back.
 */
import type { Socket } from 'node:net';
import { FALLBACK, INCOMPLETE, readHead } from './parse.js';
import { leanRequest, type LeanIncoming } from './request.js';
import { LeanResponse, type ResponseOwner } from './response.js';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly maxHead: number;
  readonly maxFields: number;
  readonly bodies: boolean;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly keepAliveSeconds: number;
  readonly draining: boolean;
  /** Serves a request (the proxy's handler). */
  request(req: LeanIncoming, res: LeanResponse): void;
  /** node:http takes the connection from here on, reading `bytes` first. */
  handOff(socket: Socket, bytes: Buffer | null): void;
  /** A head or a whole request took too long: a 408 and a close (node's own answer). */
  timedOut(socket: Socket, code: 'HPE_HEADERS_TIMEOUT' | 'ERR_HTTP_REQUEST_TIMEOUT'): void;
  /** A handler threw: logged, the connection cut. */
  failed(err: unknown): void;
  dropped(conn: LeanConnection): void;
}

/** What the deadline guards. */
const enum Wait {
  None = 0,
  /** The head of a request (from its first byte, or from the connection's start). */
  Head = 1,
  /** The rest of a request's body. */
  Body = 2,
  /** The next request on a kept-alive connection. */
  Idle = 3,
}

/** Unread pipelined bytes past which the socket is paused until the current answer is whole. */
const MAX_AHEAD = 64 * 1024;

/** One client connection on the lean server (see the module comment). */
export class LeanConnection implements ResponseOwner {
  /** `performance.now()` past which the current wait has taken too long (0: none). */
  deadline = 0;
  private wait = Wait.None;
  /** Bytes read and not consumed yet (a head in progress, pipelined requests). */
  private buf: Buffer | null = null;
  private res: LeanResponse | null = null;
  private req: LeanIncoming | null = null;
  private bodyLeft = 0;
  /** A read of buffered requests is under way (keeps a burst of pipelined answers iterative). */
  private reading = false;
  private gone = false;

  constructor(
    private readonly host: ConnectionHost,
    readonly socket: Socket,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.expect(Wait.Head, host.headersTimeoutMs);
    // A connection the h2c sniffer passes on is paused, its first bytes put back.
    socket.resume();
  }

  get keepAliveSeconds(): number {
    return this.host.keepAliveSeconds;
  }

  get draining(): boolean {
    return this.host.draining;
  }

  /** No request in progress and nothing buffered: may be closed at once when draining. */
  get idle(): boolean {
    return this.res === null && this.buf === null;
  }

  /** The sweep found the deadline passed. */
  expire(): void {
    const wait = this.wait;
    this.expect(Wait.None, 0);
    if (wait === Wait.Idle) this.socket.destroy();
    else if (wait === Wait.Head) {
      // Nothing after the head that timed out is read any more.
      this.detach(true);
      this.host.timedOut(this.socket, 'HPE_HEADERS_TIMEOUT');
    } else if (wait === Wait.Body) {
      this.detach(true);
      // Node's requestTimeout: a 408 unless an answer has started, then only a cut is honest.
      if (this.res !== null && this.res.headersSent) this.socket.destroy();
      else this.host.timedOut(this.socket, 'ERR_HTTP_REQUEST_TIMEOUT');
    }
  }

  private expect(wait: Wait, ms: number): void {
    this.wait = ms > 0 ? wait : Wait.None;
    this.deadline = ms > 0 ? performance.now() + ms : 0;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.bodyLeft > 0) chunk = this.feedBody(chunk);
    if (chunk.length === 0) return;
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.res === null) this.readRequests();
    else if (this.buf.length > MAX_AHEAD) this.socket.pause();
  };

  /** Gives the body its bytes; returns what follows the body (the next request's). */
  private feedBody(chunk: Buffer): Buffer {
    const req = this.req!;
    const take = Math.min(chunk.length, this.bodyLeft);
    this.bodyLeft -= take;
    const body = req.body!;
    const more = body.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    if (this.bodyLeft === 0) {
      req.bodyReceived = true;
      body.push(null);
      if (this.wait === Wait.Body) this.expect(Wait.None, 0);
    } else if (!more) this.socket.pause();
    return take === chunk.length ? EMPTY : chunk.subarray(take);
  }

  /** Serves the buffered requests, one at a time, until one is in progress or none is whole. */
  private readRequests(): void {
    if (this.reading) return;
    this.reading = true;
    try {
      while (this.buf !== null && this.res === null && !this.gone) {
        if (this.wait !== Wait.Head) this.expect(Wait.Head, this.host.headersTimeoutMs);
        const head = readHeadSafely(this.buf, this.host);
        if (head === INCOMPLETE) return;
        if (head === FALLBACK) {
          this.handOff();
          return;
        }
        const rest = head.end === this.buf.length ? null : this.buf.subarray(head.end);
        this.buf = null;
        this.dispatch(leanRequest(head, this.socket), head.contentLength, head.close, rest);
      }
    } finally {
      this.reading = false;
    }
  }

  private dispatch(req: LeanIncoming, contentLength: number, close: boolean, rest: Buffer | null): void {
    const res = new LeanResponse(this, req.method === 'HEAD', !close);
    this.req = req;
    this.res = res;
    this.expect(Wait.None, 0);
    if (req.body !== null) {
      this.bodyLeft = contentLength;
      req.onRead = this.resumeBody;
      if (this.host.requestTimeoutMs > 0) this.expect(Wait.Body, this.host.requestTimeoutMs);
    }
    // The handler runs before the body bytes already read are given to the request, as with
    // node (whose parser emits the request at the end of the head): a request refused at once
    // is not complete, so its answer closes the connection instead of reading on past a body
    // nobody wanted (the 413 of a too-large body, RFC 9112 §9.6).
    try {
      this.host.request(req, res);
    } catch (err) {
      this.host.failed(err);
      this.socket.destroy();
      return;
    }
    if (this.gone || rest === null) return;
    if (this.bodyLeft > 0) rest = this.feedBody(rest);
    if (rest.length > 0) {
      this.buf = rest;
      if (this.res !== null && rest.length > MAX_AHEAD) this.socket.pause();
    }
  }

  private readonly resumeBody = (): void => {
    if (this.bodyLeft > 0 && this.socket.isPaused()) this.socket.resume();
  };

  /** @internal The answer has been handed whole to the socket. */
  responseDone(res: LeanResponse): void {
    if (res !== this.res || this.gone) return;
    this.res = null;
    const req = this.req!;
    this.req = null;
    // A body not read to its end leaves the connection where no next request can be found.
    if (!res.shouldKeepAlive || this.host.draining || !req.complete) {
      this.bodyLeft = 0;
      this.close();
      return;
    }
    this.expect(Wait.Idle, this.host.keepAliveTimeoutMs);
    if (this.buf !== null) {
      if (this.socket.isPaused()) this.socket.resume();
      this.readRequests();
    }
  }

  /** Ends the connection once the answers written are sent (node's `destroySoon`). */
  private close(): void {
    this.detach(true);
    this.buf = null;
    this.socket.destroySoon();
  }

  private handOff(): void {
    const bytes = this.buf;
    this.buf = null;
    this.socket.pause();
    this.detach(false);
    this.host.handOff(this.socket, bytes);
  }

  /**
   * The lean server lets go of the socket: handed to node:http (whose own error listener
   * answers), or closing (an error listener stays: an unheard 'error' would crash Brisk).
   */
  private detach(closing: boolean): void {
    if (this.gone) return;
    this.gone = true;
    this.expect(Wait.None, 0);
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    // Closing, the listeners stay: an unheard 'error' would crash Brisk, and an answer in
    // progress must hear of the close.
    if (!closing) {
      socket.off('error', this.onError);
      socket.off('close', this.onClose);
    }
    this.host.dropped(this);
  }

  private readonly onEnd = (): void => {
    // The client will send nothing more. A request in progress cannot be told apart from a
    // client that left (node:http aborts it too); an idle connection ends by itself once
    // what was written is sent (no half-open sockets on this server).
    if (this.res !== null) this.socket.destroy();
    else this.detach(true);
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    const res = this.res;
    this.res = null;
    this.buf = null;
    if (this.req?.body != null && this.bodyLeft > 0) this.req.body.destroy();
    this.req = null;
    this.detach(true);
    this.buf = null;
    if (res !== null && !res.writableEnded) res.closed();
  };
}

const EMPTY = Buffer.alloc(0);

/** The reader's verdict; should it ever throw, node:http reads the request instead (it never crashes Brisk). */
function readHeadSafely(buf: Buffer, host: ConnectionHost): ReturnType<typeof readHead> {
  try {
    return readHead(buf, 0, host.maxHead, host.maxFields, host.bodies);
  } catch {
    return FALLBACK;
  }
}
