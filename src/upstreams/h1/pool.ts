/**
 * The lean HTTP/1.1 transport (`pool.transport: lean`): a pool of keep-alive `net`
 * connections to one `http://` target behind undici's `dispatch(options, handler)`, so the
 * upstream call does not know which pool it talks to. It exists to spend less per request
 * than undici's `Pool`: the head is one string written once, the answer is parsed by a
 * small strict parser (`parse.ts`) whose header fields are views of the bytes read, and
 * timeouts are deadlines swept four times a second instead of timers per request.
 *
 * Requests it does not send itself go to undici (`fallback`, built at first use): an
 * upgrade, CONNECT, and a request carrying framing or connection fields set by hand
 * (`Expect`, `Upgrade`, `Connection`, `Transfer-Encoding`). TLS and HTTP/2 targets never
 * get this pool (`createPool`).
 */
import { connect as netConnect } from 'node:net';
import type { Dispatcher } from 'undici';
import type { DispatchPool } from '../h2/negotiate.js';
import type { PoolStatsView } from '../h2/pool.js';
import { H1Connection, H1Exchange, type ConnectionOwner } from './connection.js';
import { buildHead, h1Error, type H1Handler, type H1Head, type H1Options } from './request.js';

/** Settings of a lean pool (from the upstream's `pool` and `timeouts`). */
export interface H1PoolOptions {
  readonly host: string;
  readonly port: number;
  /** Most connections to the target. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** An idle connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Most response header bytes accepted. */
  readonly maxHeaderSize: number;
}

export class H1Pool implements DispatchPool, ConnectionOwner {
  closed = false;
  destroyed = false;
  /** Open connections; the idle ones are also in `idle`, most recently used last. */
  private readonly open = new Set<H1Connection>();
  private readonly idleList: H1Connection[] = [];
  private connecting = 0;
  private readonly queue: H1Exchange[] = [];
  private readonly hostHeader: string;
  private fallbackPool: DispatchPool | null = null;
  private closeWaiters: (() => void)[] = [];

  constructor(
    private readonly options: H1PoolOptions,
    /** Builds undici's pool for the requests this one does not send. */
    private readonly fallback: () => DispatchPool,
  ) {
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.hostHeader = options.port === 80 ? host : `${host}:${options.port}`;
  }

  get stats(): PoolStatsView {
    const inner = this.fallbackPool?.stats;
    const free = this.idleList.length;
    return {
      connected: this.open.size + (inner?.connected ?? 0),
      free: free + (inner?.free ?? 0),
      pending: this.queue.length + (inner?.pending ?? 0),
      queued: this.queue.length + (inner?.queued ?? 0),
      running: this.open.size - free + (inner?.running ?? 0),
    };
  }

  /** Sends a request (undici's dispatch contract: the handler hears the rest). */
  dispatch(dispatchOptions: Dispatcher.DispatchOptions, dispatchHandler: Dispatcher.DispatchHandler): boolean {
    const options = dispatchOptions as H1Options;
    const handler = dispatchHandler as H1Handler;
    if (this.closed) {
      handler.onError?.(h1Error(this.destroyed ? 'UND_ERR_DESTROYED' : 'UND_ERR_CLOSED', this.destroyed ? 'The client is destroyed' : 'The client is closed'));
      return false;
    }
    let head: H1Head | null;
    try {
      head = buildHead(options, this.hostHeader);
    } catch (err) {
      handler.onError?.(err as Error);
      return false;
    }
    if (head === null) {
      this.fallbackPool ??= this.fallback();
      return this.fallbackPool.dispatch(dispatchOptions, dispatchHandler);
    }
    const o = this.options;
    const ex = new H1Exchange(options, handler, head, options.headersTimeout ?? o.headersTimeoutMs, options.bodyTimeout ?? o.bodyTimeoutMs);
    const c = this.takeIdle();
    if (c !== null) c.start(ex);
    else {
      this.queue.push(ex);
      this.maybeConnect();
    }
    return true;
  }

  released(c: H1Connection): void {
    // A closing pool still sends what was queued before it closed (as undici's does).
    const next = this.queue.shift();
    if (next !== undefined) {
      c.start(next);
      return;
    }
    if (this.closed) {
      c.close();
      return;
    }
    this.idleList.push(c);
    c.idle();
  }

  lost(c: H1Connection): void {
    this.open.delete(c);
    const i = this.idleList.indexOf(c);
    if (i !== -1) this.idleList.splice(i, 1);
    this.maybeConnect();
    this.closeIfIdle();
  }

  /** Takes no more requests; resolves once those in flight are done and the connections closed. */
  close(): Promise<void> {
    this.closed = true;
    const inner = this.fallbackPool?.close();
    for (const c of this.idleList.splice(0)) c.close();
    const own = new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve);
      this.closeIfIdle();
    });
    return inner === undefined ? own : Promise.all([own, inner]).then(() => undefined);
  }

  /** Cuts every connection and fails the requests queued or in flight. */
  async destroy(): Promise<void> {
    this.closed = true;
    this.destroyed = true;
    const err = h1Error('UND_ERR_DESTROYED', 'The client is destroyed');
    for (const ex of this.queue.splice(0)) ex.reject(err);
    const closing: Promise<void>[] = [];
    for (const c of this.open) {
      closing.push(new Promise<void>((resolve) => (c.socket.destroyed ? resolve() : c.socket.once('close', () => resolve()))));
      c.destroy(err);
    }
    await Promise.all(closing);
    await this.fallbackPool?.destroy();
    this.closeIfIdle();
  }

  /** The most recently used idle connection still open (the warmest, the least likely closed by the target). */
  private takeIdle(): H1Connection | null {
    for (;;) {
      const c = this.idleList.pop();
      if (c === undefined) return null;
      if (!c.socket.destroyed) return c;
    }
  }

  /** Opens connections while requests wait for one and the limit allows. */
  private maybeConnect(): void {
    while (!this.destroyed && this.queue.length > this.connecting && this.open.size + this.connecting < this.options.connections) this.connect();
  }

  private connect(): void {
    const o = this.options;
    this.connecting++;
    // TCP keep-alive probes find a target that vanished under an idle connection (undici's 60 s).
    const socket = netConnect({ host: o.host, port: o.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    let settled = false;
    const timer = setTimeout(() => {
      failed(h1Error('UND_ERR_CONNECT_TIMEOUT', `connect timeout after ${o.connectTimeoutMs}ms`));
    }, o.connectTimeoutMs);
    const failed = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      this.connecting--;
      // Each connection is opened for a waiting request: that one fails as undici's would
      // (a refused connection is retried elsewhere by the call); the others open their own.
      this.queue.shift()?.reject(err);
      this.maybeConnect();
      this.closeIfIdle();
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', failed);
      this.connecting--;
      const c = new H1Connection(socket, this, o.maxHeaderSize, o.keepAliveTimeoutMs);
      this.open.add(c);
      this.released(c);
    });
  }

  private closeIfIdle(): void {
    if (!this.closed || this.queue.length > 0 || this.open.size > 0 || this.connecting > 0) return;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
  }
}
