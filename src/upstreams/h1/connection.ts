/**
 * One keep-alive connection of the lean HTTP/1.1 transport and the request it carries:
 * writes the head in one write (with a body known in full: one `writev`), streams a body
 * with backpressure, feeds what it reads to the response parser and hands the events to
 * the request's undici-style handler. A connection is given back to its pool only after a
 * complete answer to a request that was sent whole, which allowed keep-alive; anything
 * else (an error, a timeout, an abort, an answer that came before the body was sent, a
 * HEAD, bytes nobody asked for) closes it.
 */
import type { Socket } from 'node:net';
import { drained } from '../dispatch-contract.js';
import { ResponseParser, type ResponseEvents } from './parse.js';
import { h1Error, isStreamBody, type H1Handler, type H1Head, type H1Options } from './request.js';
import { arm, type Timed } from './timers.js';

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The connection can carry another request. */
  released(c: H1Connection): void;
  /** The connection has closed. */
  lost(c: H1Connection): void;
}

/** One request: what was dispatched, and how far it got. */
export class H1Exchange {
  done = false;
  responded = false;
  paused = false;
  /** The whole request has been written. */
  sent = false;
  /** Some of the request has been written: the connection is no longer clean. */
  written = false;
  bodyIterator: AsyncIterator<unknown> | null = null;
  connection: H1Connection | null = null;
  readonly abort = (err?: Error): void => {
    this.connection?.fail(this, err ?? h1Error('UND_ERR_ABORTED', 'Request aborted'));
    if (this.connection === null) this.reject(err ?? h1Error('UND_ERR_ABORTED', 'Request aborted'));
  };
  readonly resume = (): void => this.connection?.resume(this);

  constructor(
    readonly options: H1Options,
    readonly handler: H1Handler,
    readonly head: H1Head,
    readonly headersTimeoutMs: number,
    readonly bodyTimeoutMs: number,
  ) {}

  /** Fails the request before it got a connection. */
  reject(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onError?.(err);
  }
}

const enum Wait {
  None = 0,
  Headers = 1,
  Body = 2,
  Idle = 3,
}

/** One socket to the target. */
export class H1Connection implements ResponseEvents, Timed {
  deadline = 0;
  /** Milliseconds an idle connection is kept; set from each answer's `Keep-Alive`. */
  keepAliveMs: number;
  private readonly parser: ResponseParser;
  private ex: H1Exchange | null = null;
  private wait = Wait.None;
  private shortTimer: NodeJS.Timeout | null = null;
  /** The answer completed inside a read: the connection is released when the read is parsed. */
  private completed = false;
  private closed = false;

  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner,
    maxHeadSize: number,
    private readonly idleMs: number,
  ) {
    this.keepAliveMs = idleMs;
    this.parser = new ResponseParser(this, maxHeadSize);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('end', () => this.onSocketEnd());
    socket.on('error', (err) => this.onSocketError(err));
    socket.on('close', () => this.onSocketClose());
  }

  get busy(): boolean {
    return this.ex !== null;
  }

  /** Sends `ex` on this connection (idle, open). */
  start(ex: H1Exchange): void {
    this.ex = ex;
    this.setWait(Wait.None, 0);
    this.socket.ref();
    this.parser.expect(ex.options.method === 'HEAD');
    // Not yet this connection's: an abort from onConnect leaves the connection untouched.
    ex.handler.onConnect?.(ex.abort);
    ex.connection = this;
    if (ex.done) {
      // Cancelled before a byte was written: the connection is as good as before.
      this.ex = null;
      this.owner.released(this);
      return;
    }
    const body = ex.options.body;
    if (isStreamBody(body)) {
      // The head waits for the body's first bytes (as undici's does): a body that fails
      // before any (a client that left, a size limit, a refused trailer) sends nothing.
      void this.pump(ex, body);
      return;
    }
    ex.written = true;
    if (ex.head.length > 0) {
      this.socket.cork();
      this.socket.write(ex.head.head, 'latin1');
      this.socket.write(body as string | Uint8Array);
      this.socket.uncork();
    } else this.socket.write(ex.head.head, 'latin1');
    ex.sent = true;
    if (!ex.responded) this.setWait(Wait.Headers, ex.headersTimeoutMs);
  }

  /** Ends `ex` with `err` and closes the connection (what was sent and read is unknown to the target). */
  fail(ex: H1Exchange, err: Error): void {
    if (ex.done || ex !== this.ex) return;
    ex.done = true;
    this.ex = null;
    this.setWait(Wait.None, 0);
    this.parser.halt();
    this.stopBody(ex);
    // Nothing was written nor read: the connection is as clean as before and goes back.
    if (!ex.written && !ex.responded && !this.closed && !this.socket.destroyed) this.owner.released(this);
    else this.close();
    ex.handler.onError?.(err);
  }

  /** The handler's `resume`: reading continues. */
  resume(ex: H1Exchange): void {
    if (ex.done || ex !== this.ex || !ex.paused) return;
    ex.paused = false;
    this.socket.resume();
    if (ex.responded) this.setWait(Wait.Body, ex.bodyTimeoutMs);
  }

  /** Cuts the connection; the request on it fails with `err`. */
  destroy(err: Error): void {
    const ex = this.ex;
    if (ex !== null) this.fail(ex, err);
    this.close();
  }

  /** Closes an idle connection (pool closing, keep-alive ended). */
  close(): void {
    this.setWait(Wait.None, 0);
    this.socket.destroy();
    this.gone();
  }

  /** Tells the pool once, at once (the socket's `close` event comes a turn later). */
  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.lost(this);
  }

  /** Waits, idle, for the next request; closed after the keep-alive time. */
  idle(): void {
    this.socket.unref();
    this.setWait(Wait.Idle, this.keepAliveMs);
    // Like the socket, a short keep-alive timer must not keep the process alive.
    this.shortTimer?.unref();
  }

  onDeadline(): void {
    this.shortTimer = null;
    const ex = this.ex;
    if (this.wait === Wait.Idle && ex === null) {
      this.close();
      return;
    }
    if (ex === null || ex.done) return;
    if (this.wait === Wait.Headers) this.fail(ex, h1Error('UND_ERR_HEADERS_TIMEOUT', `no response headers within ${ex.headersTimeoutMs}ms`));
    else if (this.wait === Wait.Body && !ex.paused) this.fail(ex, h1Error('UND_ERR_BODY_TIMEOUT', `no response body data within ${ex.bodyTimeoutMs}ms`));
  }

  onResponseHead(status: number, rawHeaders: Buffer[], statusText: string, interim: boolean): void {
    const ex = this.ex!;
    if (interim) {
      ex.handler.onHeaders?.(status, rawHeaders, noop, statusText);
      return;
    }
    ex.responded = true;
    this.setWait(Wait.Body, ex.bodyTimeoutMs);
    if (ex.handler.onHeaders?.(status, rawHeaders, ex.resume, statusText) === false && !ex.done) this.pause(ex);
  }

  onResponseBody(chunk: Buffer): void {
    const ex = this.ex!;
    if (ex.done) return;
    if (this.shortTimer !== null) this.shortTimer.refresh();
    else if (this.deadline !== 0) this.deadline = performance.now() + ex.bodyTimeoutMs;
    // Undici stops parsing when its handler asks; here the rest of the read (at most one
    // socket read, 64 KiB) is still handed over and the socket paused after it: memory
    // stays bounded by one read, and the parser needs no resumable state.
    if (ex.handler.onData?.(chunk) === false && !ex.done) this.pause(ex);
  }

  onResponseComplete(trailers: Buffer[] | null): void {
    const ex = this.ex!;
    if (ex.done) return;
    ex.done = true;
    this.setWait(Wait.None, 0);
    const reusable = this.parser.keepAlive && ex.sent && ex.options.method !== 'HEAD' && !this.closed;
    if (reusable) {
      const hint = this.parser.keepAliveHintMs;
      // The target's own keep-alive, less a second, so no request is sent on a connection it is closing (undici's margin).
      this.keepAliveMs = hint === 0 ? this.idleMs : Math.min(this.idleMs, hint - 1000);
    }
    if (!reusable || this.keepAliveMs <= 0) {
      this.ex = null;
      this.stopBody(ex);
      this.close();
    } else this.completed = true;
    if (ex.paused) this.socket.resume();
    ex.paused = false;
    ex.handler.onComplete?.(trailers);
  }

  private pause(ex: H1Exchange): void {
    ex.paused = true;
    this.socket.pause();
    // A paused body is the caller's doing (a slow client), not the target's: no body timeout meanwhile.
    this.setWait(Wait.None, 0);
  }

  private onSocketData(chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null || this.parser.idle) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      this.close();
      return;
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      // A malformed answer, bytes after its end, or a handler that threw.
      if (this.completed) this.completed = false;
      if (!ex.done) this.fail(ex, err as Error);
      else this.close();
      return;
    }
    if (this.completed) {
      this.completed = false;
      this.ex = null;
      this.owner.released(this);
    }
  }

  private onSocketEnd(): void {
    const ex = this.ex;
    if (ex !== null && !ex.done) {
      try {
        if (this.parser.untilClose) this.parser.finish();
      } catch (err) {
        this.fail(ex, err as Error);
      }
      if (!ex.done) this.fail(ex, h1Error('UND_ERR_SOCKET', 'other side closed'));
    }
    this.close();
  }

  private onSocketError(err: Error): void {
    const ex = this.ex;
    if (ex !== null && !ex.done) this.fail(ex, err);
  }

  private onSocketClose(): void {
    this.setWait(Wait.None, 0);
    const ex = this.ex;
    if (ex !== null && !ex.done) this.fail(ex, h1Error('UND_ERR_SOCKET', 'socket closed'));
    this.gone();
  }

  private setWait(wait: Wait, ms: number): void {
    this.wait = wait;
    if (this.shortTimer !== null) {
      clearTimeout(this.shortTimer);
      this.shortTimer = null;
    }
    if (wait === Wait.None) this.deadline = 0;
    else this.shortTimer = arm(this, ms);
  }

  private stopBody(ex: H1Exchange): void {
    const it = ex.bodyIterator;
    ex.bodyIterator = null;
    it?.return?.().catch(noop);
  }

  /**
   * Streams the request body with backpressure; framed by its `Content-Length` (which it
   * must match: `UND_ERR_REQ_CONTENT_LENGTH_MISMATCH`, as undici) or chunked. The answer
   * is read meanwhile. A failing body (the client left, a size limit) fails the request.
   */
  private async pump(ex: H1Exchange, body: NonNullable<H1Options['body']>): Promise<void> {
    const socket = this.socket;
    const declared = ex.head.length;
    // The iterator is ended without destroying a readable source: an abandoned try must
    // not destroy the client's stream, which a retry may still read.
    const readable = body as { iterator?: (o: { destroyOnReturn: boolean }) => AsyncIterable<unknown> };
    const source = typeof readable.iterator === 'function' ? readable.iterator({ destroyOnReturn: false }) : (body as AsyncIterable<unknown>);
    const iterator = source[Symbol.asyncIterator]();
    ex.bodyIterator = iterator;
    let written = 0;
    try {
      for (;;) {
        const next = await iterator.next();
        if (ex.done || socket.destroyed) return;
        if (next.done === true) break;
        const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : (next.value as Buffer);
        if (chunk.length === 0) continue;
        written += chunk.length;
        if (declared !== -1 && written > declared) throw h1Error('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header');
        socket.cork();
        if (!ex.written) {
          ex.written = true;
          socket.write(ex.head.head, 'latin1');
        }
        let ok: boolean;
        if (declared === -1) {
          socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
          socket.write(chunk);
          ok = socket.write('\r\n', 'latin1');
        } else ok = socket.write(chunk);
        socket.uncork();
        if (!ok) await drained(socket);
      }
      if (declared !== -1 && written !== declared) throw h1Error('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header');
      const last = declared === -1 ? '0\r\n\r\n' : '';
      if (!ex.written) {
        ex.written = true;
        socket.write(ex.head.head + last, 'latin1');
      } else if (last !== '') socket.write(last, 'latin1');
      ex.sent = true;
      if (!ex.responded) this.setWait(Wait.Headers, ex.headersTimeoutMs);
    } catch (err) {
      this.fail(ex, err as Error);
    } finally {
      ex.bodyIterator = null;
    }
  }
}

function noop(): void {}
