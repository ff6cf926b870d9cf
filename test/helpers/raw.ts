import { connect } from 'node:net';

/** A raw HTTP exchange: what the server wrote back before closing (or before `timeoutMs`). */
export interface RawReply {
  readonly text: string;
  readonly status: number;
  /** True when the server closed the connection. */
  readonly closed: boolean;
}

/**
 * Writes bytes as they are onto a fresh TCP connection and collects the reply, for
 * requests no well-behaved client would send (smuggling attempts, bad framing).
 * Resolves when the server closes, or after `timeoutMs` with what arrived.
 */
export function rawRequest(port: number, payload: string | Buffer, timeoutMs = 2000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      socket.destroy();
      resolve({ text, status: m ? Number(m[1]) : 0, closed });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', (err) => {
      if (chunks.length > 0) finish();
      else reject(err);
    });
    socket.write(payload);
  });
}
