/**
 * HTTP/2 without TLS ("h2c", prior knowledge: RFC 9113 §3.3) beside HTTP/1.1 on the same
 * plain port. Node's `http2.createServer` speaks only HTTP/2 on a plain socket
 * (`allowHTTP1` works with ALPN, so only over TLS), so the connection's first bytes
 * decide: the HTTP/2 client preface (`PRI * HTTP/2.0…`) goes to an HTTP/2 server,
 * anything else to the HTTP/1.1 server, both fed through their documented `connection`
 * event with the bytes read so far put back. `Upgrade: h2c` stays refused (served as
 * HTTP/1.1, see `proxy/upgrade-policy.ts`): only prior knowledge starts HTTP/2.
 */
import type http2 from 'node:http2';
import net, { type Socket } from 'node:net';

/** The HTTP/2 connection preface a client sends first (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** How a connection's first bytes read. */
export const enum Sniffed {
  /** Too few bytes to tell yet (a prefix of the preface). */
  Undecided = 0,
  Http1 = 1,
  Http2 = 2,
}

/**
 * Whether `bytes` (the start of a connection) are the HTTP/2 preface, something else, or
 * too short to tell. HTTP/1.1 requests start with a method; none is `PRI`.
 */
export function sniffPreface(bytes: Buffer): Sniffed {
  const n = Math.min(bytes.length, PREFACE.length);
  if (bytes.compare(PREFACE, 0, n, 0, n) !== 0) return Sniffed.Http1;
  return n === PREFACE.length ? Sniffed.Http2 : Sniffed.Undecided;
}

/**
 * A plain TCP server that hands each connection to `http1` (paused, the bytes read so far
 * put back) or `h2` by its first bytes. A
 * connection that sends nothing to decide on within `decideWithinMs` is closed (the
 * HTTP/1.1 server's own header timeout only starts once it has the connection).
 */
export function createSniffingServer(http1: (socket: Socket) => void, h2: http2.Http2Server, decideWithinMs: number, onConnection: (socket: Socket) => void): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    onConnection(socket);
    let seen: Buffer | null = null;
    const timer = setTimeout(() => socket.destroy(), decideWithinMs);
    timer.unref();
    const onData = (chunk: Buffer): void => {
      seen = seen === null ? chunk : Buffer.concat([seen, chunk]);
      const kind = sniffPreface(seen);
      if (kind === Sniffed.Undecided) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.pause();
      socket.unshift(seen);
      if (kind === Sniffed.Http2) {
        // Node's HTTP/2 session reads the bytes put back before those still to come.
        h2.emit('connection', socket);
      } else http1(socket);
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('close', () => clearTimeout(timer));
  });
}
