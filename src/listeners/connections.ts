import type { Socket } from 'node:net';
import type { Http2Session } from 'node:http2';

/**
 * Every open client connection, so shutdown can drain them: idle keep-alive connections
 * are closed at once, busy ones after their response, and whatever is left when the
 * drain timeout ends is cut.
 */
export class ConnectionTracker {
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private waiters: (() => void)[] = [];

  track(socket: Socket): void {
    // A connection handed back to the HTTP server after a declined upgrade is announced twice.
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.settle();
    });
  }

  trackSession(session: Http2Session): void {
    this.sessions.add(session);
    session.once('close', () => {
      this.sessions.delete(session);
      this.settle();
    });
  }

  get size(): number {
    return this.sockets.size + this.sessions.size;
  }

  /** Asks HTTP/2 clients to go away gracefully (GOAWAY, in-flight streams finish). */
  closeSessionsGracefully(): void {
    for (const s of this.sessions) if (!s.closed && !s.destroyed) s.close();
  }

  /** Resolves when no connection is left, or after `timeoutMs` (then returns false). */
  waitEmpty(timeoutMs: number): Promise<boolean> {
    if (this.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }

  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
  }

  private settle(): void {
    if (this.size !== 0 || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
