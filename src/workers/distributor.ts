import type { Worker as ClusterWorker } from 'node:cluster';
import net, { type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../config/types.js';
import { bindListener } from '../listeners/server.js';
import type { Logger } from '../observability/logger.js';
import type { ToWorker } from './protocol.js';

/** A worker with connections unacknowledged that acknowledged none for this long is not reading its messages (stuck): the others take new connections first. */
export const SLOW_ACK_MS = 250;
/** A connection no worker took within this long is closed (the client sees a closed connection, not a hang). */
export const WAIT_MS = 10_000;

/** A connection on its way to a worker, or waiting for one. */
interface Conn {
  readonly socket: Socket;
  readonly listener: string;
  /** `performance.now()` when the primary accepted it. */
  readonly acceptedAt: number;
  /** Handed to a worker that died before taking it. */
  readonly rescued: boolean;
}

/** What the primary knows of one worker's connections. */
interface Book {
  /** Connections sent to it. */
  sent: number;
  /** Of those, the ones that closed (its own count, told within 20 ms of a close, with each acknowledgement and report). */
  closed: number;
  /** Sent and not yet acknowledged, in the order sent: id → the connection and when it was sent. */
  readonly pending: Map<number, { readonly conn: Conn; readonly sentAt: number }>;
  /** `performance.now()` of its last acknowledgement. */
  lastAckAt: number;
}

const ignore = (): void => {};

/**
 * The primary's listeners, and which worker serves each new connection.
 *
 * Why not node:cluster's round robin: its `RoundRobinHandle` hands a connection to the
 * next worker that has acknowledged the previous one, so a burst of new connections goes
 * to whichever worker answers its messages first, and a worker busy at that instant gets
 * fewer (33 against 17 of 50 connections opened at once). Keep-alive connections then stay
 * where they landed.
 *
 * Here the primary binds every listener itself (`pauseOnConnect`: it never reads a byte)
 * and sends each connection at once to the serving worker with the fewest open
 * connections (sent to it minus closed, as the worker counts them), ties in turn, never
 * waiting for one acknowledgement before sending the next: 50 connections opened at once
 * split 25/25, and a fresh worker (a replacement) takes new connections until it has its
 * share. A worker with connections unacknowledged that has acknowledged none for
 * `SLOW_ACK_MS` (a stuck event loop) gets none while another takes them promptly.
 *
 * The primary keeps its copy of each connection until the worker acknowledges it, which
 * the worker does as it takes it, before it reads a byte. A worker that dies first (SIGKILL,
 * a crash, a stuck worker killed by the watchdog) leaves its unacknowledged connections
 * whole, with their requests unread: once its channel is closed (every acknowledgement it
 * sent has been read), they are sent to another worker. With no worker serving, a
 * connection waits for the next one, at most `WAIT_MS`, then is closed.
 *
 * Cost: per new connection, one message with its handle to the worker and one
 * acknowledgement back (Node's cluster also sends two, plus its handle acknowledgement, as
 * here); nothing per request on a keep-alive connection.
 */
export class Distributor {
  /** The listeners as bound (port 0 replaced by the port the system chose): what every worker serves. */
  readonly listeners: ListenerConfig[] = [];
  /** Connections handed to a worker that died before taking them, then sent to another (monotonic). */
  rescued = 0;
  /** Connections closed because no worker could take them within `WAIT_MS` (monotonic). */
  closedUntaken = 0;
  private readonly servers: Server[] = [];
  private readonly books = new Map<ClusterWorker, Book>();
  private waiting: Conn[] = [];
  private seq = 0;
  private turn = 0;
  private closed = false;
  /** New connections held for two turns of the event loop while the workers' unread messages (their closed counts) are read. */
  private deferred: Conn[] | null = null;

  constructor(
    /** The workers that take new connections now (serving, not draining). */
    private readonly serving: () => readonly ClusterWorker[],
    private readonly logger: Logger,
    private readonly channels: {
      /** Reads every worker's channel as messages come; true when some were read only on the primary's tick (src/workers/channel-reads.ts). */
      readonly wakeAll: () => boolean;
      /** A connection goes to this worker: its acknowledgement must be read at once. */
      readonly sending: (worker: ClusterWorker) => void;
    } = { wakeAll: () => false, sending: () => {} },
  ) {}

  /** Binds every listener (a `BRISK_LISTEN_FAILED` error names the one that could not be bound). */
  async bind(listen: readonly ListenerConfig[]): Promise<void> {
    try {
      for (const cfg of listen) {
        const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
          // Nothing is read or written here; an error would only come from a bug, and must not take the primary down.
          socket.on('error', ignore);
          this.accepted({ socket, listener: cfg.name, acceptedAt: performance.now(), rescued: false });
        });
        const port = await bindListener(server, cfg);
        server.on('error', (err) => this.logger.error({ err, listener: cfg.name }, 'listener error'));
        this.servers.push(server);
        this.listeners.push({ ...cfg, port });
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** A worker was forked: connections may be sent to it once it serves. */
  add(worker: ClusterWorker): void {
    this.books.set(worker, { sent: 0, closed: 0, pending: new Map(), lastAckAt: 0 });
  }

  /** The worker took connection `id`: its copy serves, the primary's goes (closing one of two descriptors leaves the connection open). */
  took(worker: ClusterWorker, id: number, closed: number): void {
    const book = this.books.get(worker);
    if (book === undefined) return;
    book.closed = Math.max(book.closed, closed);
    book.lastAckAt = performance.now();
    const p = book.pending.get(id);
    if (p === undefined) return;
    book.pending.delete(id);
    p.conn.socket.destroy();
  }

  /** The worker's count of closed connections, from its report. */
  reported(worker: ClusterWorker, closed: number): void {
    const book = this.books.get(worker);
    if (book !== undefined) book.closed = Math.max(book.closed, closed);
  }

  /** A worker started serving: connections waiting for one go now. */
  flush(): void {
    if (this.waiting.length === 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const conn of waiting) this.dispatch(conn);
  }

  /**
   * A worker is gone: exited, and its channel closed (so every acknowledgement it sent has
   * been read). The connections it never took go to another worker.
   */
  gone(worker: ClusterWorker): void {
    const book = this.books.get(worker);
    this.books.delete(worker);
    if (book === undefined || book.pending.size === 0) return;
    this.logger.warn({ workerPid: worker.process.pid, connections: book.pending.size }, 'connections sent to a worker that died before taking them go to another worker');
    for (const { conn } of book.pending.values()) this.dispatch({ ...conn, rescued: true });
  }

  /** Stops accepting; connections waiting for a worker are closed. Those sent stay the workers' to take. */
  close(): void {
    this.closed = true;
    for (const server of this.servers) server.close();
    for (const conn of this.waiting) conn.socket.destroy();
    this.waiting = [];
  }

  /** Closes every copy the primary still holds (the node stopped; no worker will take them). */
  destroyAll(): void {
    this.close();
    for (const book of this.books.values()) for (const { conn } of book.pending.values()) conn.socket.destroy();
  }

  /** Open connections per worker as the primary counts them (sent minus closed), for tests and the proof. */
  load(worker: ClusterWorker): number {
    const book = this.books.get(worker);
    return book === undefined ? 0 : book.sent - book.closed;
  }

  /** Open connections on their way to this worker (sent, not yet acknowledged). */
  pendingCount(worker: ClusterWorker): number {
    return this.books.get(worker)?.pending.size ?? 0;
  }

  /**
   * A new connection. When the workers' channels were read only on the primary's tick,
   * their unread messages (closed connections among them) are read first: they are read
   * in the next poll of the event loop, so the connections accepted meanwhile wait two
   * turns (well under a millisecond) and are then sent by the counts of now.
   */
  private accepted(conn: Conn): void {
    if (this.deferred !== null) {
      this.deferred.push(conn);
      return;
    }
    if (!this.channels.wakeAll()) {
      this.dispatch(conn);
      return;
    }
    this.deferred = [conn];
    setImmediate(() =>
      setImmediate(() => {
        const conns = this.deferred ?? [];
        this.deferred = null;
        for (const c of conns) this.dispatch(c);
      }),
    );
  }

  private dispatch(conn: Conn, not: ClusterWorker | null = null): void {
    if (conn.socket.destroyed) return;
    const to = this.closed ? null : this.pick(not);
    if (to === null) {
      if (this.closed) conn.socket.destroy();
      else this.waiting.push(conn);
      return;
    }
    if (conn.rescued) this.rescued++;
    this.send(to, conn);
  }

  /** The serving worker with the fewest open connections; prompt ones before slow ones; ties in turn. */
  private pick(not: ClusterWorker | null): ClusterWorker | null {
    const list = this.serving();
    const n = list.length;
    const now = performance.now();
    let best: ClusterWorker | null = null;
    let bestLoad = Infinity;
    let bestSlow = true;
    for (let k = 0; k < n; k++) {
      const w = list[(this.turn + k) % n]!;
      const book = this.books.get(w);
      if (w === not || book === undefined) continue;
      // Node passes a worker one handle at a time, each after the previous one's acknowledgement:
      // a worker working through a burst acknowledges steadily; a stuck one not at all.
      const first = book.pending.values().next();
      const slow = !first.done && now - Math.max(first.value.sentAt, book.lastAckAt) > SLOW_ACK_MS;
      const load = book.sent - book.closed;
      if ((bestSlow && !slow) || (slow === bestSlow && load < bestLoad)) {
        best = w;
        bestLoad = load;
        bestSlow = slow;
      }
    }
    this.turn = (this.turn + 1) % Math.max(1, n);
    return best;
  }

  private send(worker: ClusterWorker, conn: Conn): void {
    const book = this.books.get(worker)!;
    // The raw handle, as node:cluster sends connections: a `net.Socket` would tie the primary's server to the worker's sockets.
    const handle = (conn.socket as unknown as { _handle: object | null })._handle;
    if (handle === null) return;
    const id = ++this.seq;
    book.pending.set(id, { conn, sentAt: performance.now() });
    book.sent++;
    this.channels.sending(worker);
    const failed = (): void => {
      if (!book.pending.delete(id)) return;
      book.sent--;
      this.dispatch(conn, worker);
    };
    try {
      worker.send({ t: 'conn', id, listener: conn.listener } satisfies ToWorker, handle as Parameters<ClusterWorker['send']>[1], {}, (err) => {
        if (err !== null && err !== undefined) failed();
      });
    } catch {
      failed();
    }
  }

  /**
   * Every second (the pool's watch calls it): a connection waiting for a worker longer than `WAIT_MS` is closed; one
   * sent to a worker that is alive but never acknowledged it in that time never reached it
   * (a handle the worker could not receive): it goes to another worker.
   */
  sweep(): void {
    const now = performance.now();
    if (this.waiting.length > 0 && now - this.waiting[0]!.acceptedAt > WAIT_MS) {
      const keep: Conn[] = [];
      for (const conn of this.waiting) {
        if (now - conn.acceptedAt <= WAIT_MS) keep.push(conn);
        else {
          this.closedUntaken++;
          conn.socket.destroy();
        }
      }
      this.waiting = keep;
      this.logger.warn('connections no worker could take in time were closed');
    }
    for (const [worker, book] of this.books) {
      if (!worker.isConnected()) continue;
      for (const [id, p] of book.pending) {
        if (now - p.sentAt <= WAIT_MS) break;
        book.pending.delete(id);
        book.sent--;
        this.logger.warn({ workerPid: worker.process.pid }, 'a connection sent to a worker was never acknowledged; sending it to another');
        this.dispatch(p.conn, worker);
      }
    }
  }
}
