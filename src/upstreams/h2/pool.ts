import http2, { type ClientHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { openSocket, type ConnectTarget } from './connect.js';
import { H2Request, h2Error, type StreamHandler, type StreamOptions, type StreamOwner } from './stream.js';

/** Settings of an HTTP/2 pool (from the upstream's `pool` and `timeouts`). */
export interface H2PoolOptions {
  /** Most sessions (connections) to the target; a new one opens only when the others are full. */
  readonly connections: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** A session with no stream for this long is closed. */
  readonly keepAliveTimeoutMs: number;
  /** Most response header bytes accepted. */
  readonly maxHeaderSize: number;
}

/** Streams a session is assumed to allow until the target's SETTINGS say (RFC 9113 recommends at least 100). */
const DEFAULT_MAX_STREAMS = 100;
/**
 * Flow-control windows for answers from the target. HTTP/2's default (64 KiB, for the
 * connection and for each stream) lets one connection carry barely one 64 KiB answer per
 * round trip, whatever the number of streams; node reopens a window only as the proxy reads,
 * so the windows bound what a slow client can make the gateway buffer per stream and
 * connection.
 */
const STREAM_WINDOW = 256 * 1024;
const CONNECTION_WINDOW = 8 * 1024 * 1024;

interface Session {
  readonly session: ClientHttp2Session;
  streams: number;
  /** The target's SETTINGS_MAX_CONCURRENT_STREAMS. */
  maxStreams: number;
  /** GOAWAY received or closing: no new streams. */
  draining: boolean;
  idle: NodeJS.Timeout | null;
}

/** A connection pool's numbers, as undici's `Pool.stats` shows them (for the admin API). */
export interface PoolStatsView {
  readonly connected: number;
  readonly free: number;
  readonly pending: number;
  readonly queued: number;
  readonly running: number;
}

/**
 * The connections to one HTTP/2 target (`h2c://`, or `https://` where ALPN chose h2):
 * node:http2 sessions, multiplexed. undici's HTTP/2 client is not used for this: it gives
 * a non-idempotent request or one with a streamed body a connection of its own (every gRPC
 * call is a POST with a streamed body: no multiplexing at all), drops response data
 * buffered under backpressure when the trailers arrive, and fails every stream of a
 * connection on a graceful GOAWAY. This pool takes the same `dispatch(options, handler)`
 * as undici's, so the upstream call does not know which one it talks to.
 *
 * A request waits in the queue only while every session is full (`maxConcurrentStreams`)
 * and `connections` are open.
 */
export class H2Pool implements StreamOwner {
  closed = false;
  destroyed = false;
  private readonly sessions: Session[] = [];
  private connecting = 0;
  private readonly queue: H2Request[] = [];
  private readonly scheme: 'http' | 'https';
  private readonly authority: string;
  private closeWaiters: (() => void)[] = [];

  constructor(
    /** `http://host:port` or `https://host:port`: the `:scheme` and default `:authority`. */
    origin: string,
    private readonly target: ConnectTarget,
    private readonly options: H2PoolOptions,
    /** A socket already open and negotiated to h2 (ALPN), taken as the first session. */
    firstSocket?: Socket | TLSSocket,
  ) {
    const url = new URL(origin);
    this.scheme = url.protocol === 'https:' ? 'https' : 'http';
    this.authority = url.host;
    if (firstSocket !== undefined) this.addSession(firstSocket);
  }

  /** Streams it runs at once before a request waits: `connections` sessions of the target's stream limit. */
  get capacity(): number {
    return this.options.connections * (this.sessions[0]?.maxStreams ?? DEFAULT_MAX_STREAMS);
  }

  get stats(): PoolStatsView {
    let running = 0;
    let free = 0;
    for (const s of this.sessions) {
      running += s.streams;
      if (!s.draining && s.streams < s.maxStreams) free++;
    }
    return { connected: this.sessions.length, free, pending: this.queue.length, queued: this.queue.length, running };
  }

  /** Sends a request (undici's dispatch contract: the handler hears the rest). */
  dispatch(dispatchOptions: Dispatcher.DispatchOptions, dispatchHandler: Dispatcher.DispatchHandler): boolean {
    // The fields an HTTP/2 request uses; trailers are handed over as the same flat list of Buffers undici gives.
    const options = dispatchOptions as StreamOptions;
    const handler = dispatchHandler as StreamHandler;
    const request = new H2Request(this, options, handler, options.headersTimeout ?? this.options.headersTimeoutMs, options.bodyTimeout ?? this.options.bodyTimeoutMs);
    if (this.destroyed || this.closed) {
      request.reject(h2Error(this.destroyed ? 'UND_ERR_DESTROYED' : 'UND_ERR_CLOSED', this.destroyed ? 'The client is destroyed' : 'The client is closed'));
      return false;
    }
    this.place(request);
    return true;
  }

  /** Takes no more requests; resolves once those in flight are done and the sessions closed. */
  close(): Promise<void> {
    this.closed = true;
    return new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve);
      this.closeIfIdle();
    });
  }

  /** Cuts every session and fails queued requests. */
  async destroy(): Promise<void> {
    this.closed = true;
    this.destroyed = true;
    const queued = this.queue.splice(0);
    for (const r of queued) r.reject(h2Error('UND_ERR_DESTROYED', 'The client is destroyed'));
    const closing = this.sessions.map((s) => new Promise<void>((resolve) => (s.session.destroyed ? resolve() : s.session.once('close', () => resolve()))));
    for (const s of this.sessions) s.session.destroy();
    await Promise.all(closing);
    this.resolveClose();
  }

  /** A stream closed: its session has room again, and may go idle. */
  streamClosed(session: ClientHttp2Session): void {
    const s = this.sessions.find((x) => x.session === session);
    if (s !== undefined) {
      s.streams--;
      if (s.streams === 0) this.onSessionIdle(s);
    }
    this.drainQueue();
    this.closeIfIdle();
  }

  private place(request: H2Request): void {
    const s = this.available();
    if (s === null) {
      this.queue.push(request);
      this.maybeConnect();
      return;
    }
    this.startOn(s, request);
  }

  /** The least busy session with room, or null. */
  private available(): Session | null {
    let best: Session | null = null;
    for (const s of this.sessions) {
      if (s.draining || s.streams >= s.maxStreams || s.session.destroyed) continue;
      if (best === null || s.streams < best.streams) best = s;
    }
    return best;
  }

  private startOn(s: Session, request: H2Request): void {
    s.streams++;
    if (s.idle !== null) {
      clearTimeout(s.idle);
      s.idle = null;
    }
    s.session.ref();
    if (!request.start(s.session, this.scheme, this.authority)) {
      // The session got GOAWAY since it was picked: another one takes the request.
      s.streams--;
      s.draining = true;
      this.place(request);
      return;
    }
    if (!request.opened) {
      s.streams--;
      if (s.streams === 0) this.onSessionIdle(s);
    }
  }

  /** Opens another session when requests wait and the limit allows. */
  private maybeConnect(): void {
    if (this.closed || this.queue.length === 0 || this.connecting > 0) return;
    if (this.sessions.filter((s) => !s.draining).length >= this.options.connections) return;
    this.connecting++;
    openSocket(this.target).then(
      (socket) => {
        this.connecting--;
        if (this.closed) {
          socket.destroy();
          this.closeIfIdle();
          return;
        }
        if (this.target.tls !== null && (socket as TLSSocket).alpnProtocol !== 'h2') {
          socket.destroy();
          this.failQueued(h2Error('UND_ERR_H2_ALPN', `the target did not agree to HTTP/2 (ALPN chose ${String((socket as TLSSocket).alpnProtocol || 'nothing')})`));
          return;
        }
        this.addSession(socket);
        this.drainQueue();
      },
      (err: Error) => {
        this.connecting--;
        // With no session left to serve them, the waiting requests fail as undici's would.
        if (this.sessions.every((s) => s.draining)) this.failQueued(err);
        else this.maybeConnect();
      },
    );
  }

  private addSession(socket: Socket | TLSSocket): Session {
    const session = http2.connect(`${this.scheme}://${this.authority}`, {
      createConnection: () => socket,
      settings: { enablePush: false, maxHeaderListSize: this.options.maxHeaderSize, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: 32,
      peerMaxConcurrentStreams: DEFAULT_MAX_STREAMS,
    });
    const s: Session = { session, streams: 0, maxStreams: DEFAULT_MAX_STREAMS, draining: false, idle: null };
    session.once('connect', () => {
      if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW);
    });
    this.sessions.push(s);
    session.on('remoteSettings', (settings) => {
      s.maxStreams = settings.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
      this.drainQueue();
    });
    // GOAWAY: node closes the session once its streams are done; streams it will not
    // process fail with a refusal, which the upstream call may send elsewhere.
    session.on('goaway', () => {
      s.draining = true;
      this.maybeConnect();
    });
    session.on('error', noop);
    session.on('frameError', noop);
    session.on('close', () => {
      s.draining = true;
      if (s.idle !== null) clearTimeout(s.idle);
      const i = this.sessions.indexOf(s);
      if (i !== -1) this.sessions.splice(i, 1);
      this.maybeConnect();
      this.closeIfIdle();
    });
    this.onSessionIdle(s);
    return s;
  }

  /** A session without streams lets the process exit and closes after the keep-alive timeout. */
  private onSessionIdle(s: Session): void {
    if (s.session.destroyed) return;
    s.session.unref();
    if (this.closed) {
      s.session.close();
      return;
    }
    if (s.idle !== null) clearTimeout(s.idle);
    s.idle = setTimeout(() => {
      s.idle = null;
      if (s.streams === 0) {
        s.draining = true;
        s.session.close();
      }
    }, this.options.keepAliveTimeoutMs);
    s.idle.unref();
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const s = this.available();
      if (s === null) {
        this.maybeConnect();
        return;
      }
      this.startOn(s, this.queue.shift()!);
    }
  }

  private failQueued(err: Error): void {
    for (const r of this.queue.splice(0)) r.reject(err);
    this.closeIfIdle();
  }

  private closeIfIdle(): void {
    if (!this.closed || this.queue.length > 0) return;
    for (const s of this.sessions) {
      if (s.streams > 0) return;
    }
    for (const s of this.sessions) if (!s.session.closed) s.session.close();
    if (this.sessions.length === 0 && this.connecting === 0) this.resolveClose();
  }

  private resolveClose(): void {
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
  }
}

function noop(): void {}
