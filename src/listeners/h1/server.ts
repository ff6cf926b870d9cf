/**
 * The lean HTTP/1.1 server (`transport: lean` on a plain listener, or
 * the environment variable BRISK_SERVER_TRANSPORT=lean): a fast path in front of node:http, with node:http as the
 * safe fallback. Each plain connection is read first by the lean server, which serves the
 * requests it fully understands with small request and response objects of its own (no
 * `IncomingMessage`, no `ServerResponse`, one `writev` for head and body) and hands the
 * connection, at a request boundary and with its unread bytes, to node:http at the first one
 * it does not (see `parse.ts` for the subset). Node then answers as it always has — the
 * 400s of the hostile-input tests, upgrades, chunked uploads, `Expect`, HTTP/1.0.
 */
import type { Socket } from 'node:net';
import type { Config } from '../../config/types.js';
import type { Logger } from '../../observability/logger.js';
import { answerClientError } from '../client-error.js';
import { LeanConnection, type ConnectionHost } from './connection.js';
import type { LeanIncoming } from './request.js';
import type { LeanResponse } from './response.js';

/** What a listener gives its lean server. */
export interface LeanServerOptions {
  readonly limits: Config['limits'];
  readonly listener: string;
  readonly logger: Logger;
  request(req: LeanIncoming, res: LeanResponse): void;
  /** node:http takes the connection, reading `bytes` first. */
  handOff(socket: Socket, bytes: Buffer | null): void;
}

/** One listener's lean server: its connections, their timeout sweep, the drain. */
export class LeanServer implements ConnectionHost {
  readonly maxHead: number;
  readonly maxFields: number;
  readonly bodies = true;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly keepAliveSeconds: number;
  draining = false;
  /** Requests the lean server answered, and connections it handed to node:http. */
  readonly stats = { served: 0, handedOff: 0 };
  private readonly connections = new Set<LeanConnection>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly sweepMs: number;

  constructor(private readonly options: LeanServerOptions) {
    const limits = options.limits;
    // Half of node's limits: a head near a limit is node's to judge (its 431), never ours.
    this.maxHead = Math.floor(limits.maxHeaderSize / 2);
    this.maxFields = limits.maxHeaderCount;
    this.headersTimeoutMs = limits.headersTimeoutMs;
    this.requestTimeoutMs = limits.requestTimeoutMs;
    this.keepAliveTimeoutMs = limits.keepAliveTimeoutMs;
    this.keepAliveSeconds = Math.floor(limits.keepAliveTimeoutMs / 1000);
    // As node:http's connectionsCheckingInterval in the listener: one sweep, no timer per request.
    this.sweepMs = Math.min(1000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4)));
  }

  /** Serves a new plain connection. */
  readonly serve = (socket: Socket): void => {
    this.connections.add(new LeanConnection(this, socket));
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
      this.sweeper.unref();
    }
  };

  request(req: LeanIncoming, res: LeanResponse): void {
    this.stats.served++;
    this.options.request(req, res);
  }

  handOff(socket: Socket, bytes: Buffer | null): void {
    this.stats.handedOff++;
    this.options.handOff(socket, bytes);
  }

  timedOut(socket: Socket, code: 'HPE_HEADERS_TIMEOUT' | 'ERR_HTTP_REQUEST_TIMEOUT'): void {
    answerClientError(Object.assign(new Error(code), { code }), socket, this.options.listener, this.options.logger);
  }

  failed(err: unknown): void {
    this.options.logger.error({ err, listener: this.options.listener }, 'request handler failed');
  }

  dropped(conn: LeanConnection): void {
    this.connections.delete(conn);
  }

  /** Closes the connections that wait for a next request (shutdown; node's `closeIdleConnections`). */
  closeIdle(): void {
    for (const c of this.connections) if (c.idle) c.socket.destroy();
  }

  /** Shutdown: answers from now on close their connections; the sweep stops once none is left. */
  stop(): void {
    this.draining = true;
    this.closeIdle();
  }

  private sweep(): void {
    const now = performance.now();
    let due: LeanConnection[] | null = null;
    for (const c of this.connections) if (c.deadline !== 0 && c.deadline <= now) (due ??= []).push(c);
    // Expired after the poll phase, not in this timer: after a stall of the event loop (a long
    // GC, a starved CPU) the timers run before the sockets are read, and a keep-alive
    // connection whose next request arrived during the stall would be cut with that request
    // unread (the client sees a reset). Read first, then only what is still due expires.
    if (due !== null) setImmediate(expireDue, this.connections, due, now);
    if (this.connections.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

/** Expires the connections still open and still due at `now` (their deadline moved if a request arrived meanwhile). */
function expireDue(open: ReadonlySet<LeanConnection>, due: readonly LeanConnection[], now: number): void {
  for (const c of due) if (open.has(c) && c.deadline !== 0 && c.deadline <= now) c.expire();
}
