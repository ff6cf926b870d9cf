import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { openSocket, type ConnectTarget } from './connect.js';
import type { Dispatcher } from 'undici';
import type { PoolStatsView } from './pool.js';

/** What both kinds of pool offer (undici's `Pool` and `H2Pool`). */
export interface DispatchPool {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
  readonly stats: PoolStatsView;
  readonly closed: boolean;
  readonly destroyed: boolean;
  /** Requests it runs at once before one has to wait (HTTP/2: streams over all connections); undefined: one per connection. */
  readonly capacity?: number;
}

/** Builds the pool for the protocol ALPN chose, taking the socket that negotiated it. */
export type PoolForProtocol = (protocol: 'h2' | 'http/1.1', socket: Socket | TLSSocket) => DispatchPool;

const EMPTY_STATS: PoolStatsView = Object.freeze({ connected: 0, free: 0, pending: 0, queued: 0, running: 0 });

/**
 * `http2: auto` for an `https://` target: the first connection offers `h2` and
 * `http/1.1` by ALPN, and the target's choice decides the pool (HTTP/2 sessions, or
 * undici's HTTP/1.1 pool), which takes that first connection. Requests sent meanwhile
 * wait for it; when the connection fails they fail with its error, and the next request
 * negotiates again. The choice holds for the pool's life (a reload that changes the
 * upstream's pool settings negotiates anew).
 */
export class NegotiatingPool implements DispatchPool {
  closed = false;
  destroyed = false;
  private inner: DispatchPool | null = null;
  private negotiating = false;
  private waiting: { options: Dispatcher.DispatchOptions; handler: Dispatcher.DispatchHandler }[] = [];

  constructor(
    private readonly target: ConnectTarget,
    private readonly build: PoolForProtocol,
  ) {}

  /** The protocol chosen, once known. */
  protocol: 'h2' | 'http/1.1' | null = null;

  get capacity(): number | undefined {
    return this.inner?.capacity;
  }

  get stats(): PoolStatsView {
    if (this.inner !== null) return this.inner.stats;
    return this.waiting.length === 0 ? EMPTY_STATS : { ...EMPTY_STATS, pending: this.waiting.length, queued: this.waiting.length };
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.inner !== null) return this.inner.dispatch(options, handler);
    if (this.closed) {
      handler.onError?.(Object.assign(new Error('The client is closed'), { code: this.destroyed ? 'UND_ERR_DESTROYED' : 'UND_ERR_CLOSED' }));
      return false;
    }
    this.waiting.push({ options, handler });
    if (!this.negotiating) this.negotiate();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.inner !== null) await this.inner.close();
  }

  async destroy(): Promise<void> {
    this.closed = true;
    this.destroyed = true;
    this.fail(Object.assign(new Error('The client is destroyed'), { code: 'UND_ERR_DESTROYED' }));
    if (this.inner !== null) await this.inner.destroy();
  }

  private negotiate(): void {
    this.negotiating = true;
    openSocket(this.target).then(
      (socket) => {
        this.negotiating = false;
        if (this.closed) {
          socket.destroy();
          this.fail(Object.assign(new Error('The client is closed'), { code: 'UND_ERR_CLOSED' }));
          return;
        }
        const protocol = (socket as TLSSocket).alpnProtocol === 'h2' ? 'h2' : 'http/1.1';
        this.protocol = protocol;
        this.inner = this.build(protocol, socket);
        const waiting = this.waiting;
        this.waiting = [];
        for (const w of waiting) this.inner.dispatch(w.options, w.handler);
      },
      (err: Error) => {
        this.negotiating = false;
        this.fail(err);
      },
    );
  }

  private fail(err: Error): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.handler.onError?.(err);
  }
}
