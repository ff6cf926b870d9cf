/**
 * Loopback ports for instances. A port is picked by binding 127.0.0.1:0 (the kernel hands
 * out a free one), closing, and handing it to the instance in `$PORT`. Another process may
 * take it in between, which is rare but real: the instance then cannot bind and exits, the
 * supervisor sees the port taken (`canBind` false) and starts it again on a new port
 * without counting a crash. Written by hand: two dozen lines of node:net.
 */
import { createServer, connect } from 'node:net';

/** Where instances listen and targets point. */
export const INSTANCE_HOST = '127.0.0.1';

/**
 * A port free right now on 127.0.0.1, not one of `avoid` (ports of instances still
 * running or stopping, which the kernel may hand out again once they exit).
 *
 * @example
 * const port = await pickFreePort(new Set([41234]));
 */
export async function pickFreePort(avoid: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindAndRelease(0);
    if (port !== null && !avoid.has(port)) return port;
  }
  throw new Error('no free loopback port after 20 attempts');
}

/** Whether `port` can be bound on 127.0.0.1 now (false: someone holds it). */
export async function canBind(port: number): Promise<boolean> {
  return (await bindAndRelease(port)) !== null;
}

function bindAndRelease(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(null));
    server.listen({ host: INSTANCE_HOST, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (within `timeoutMs`). */
export function isListening(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: INSTANCE_HOST, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
