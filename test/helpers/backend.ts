/**
 * A real HTTP backend on 127.0.0.1, port 0, for tests that put the gateway in front of
 * something. The default handler echoes what it received as JSON, so a test can check
 * what the gateway forwarded (method, path, headers, body size).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the default handler answers with. */
export interface EchoBody {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyLength: number;
}

export type BackendHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface Backend {
  port: number;
  /** `http://127.0.0.1:PORT`, no trailing slash: the `url` of a config target. */
  url: string;
  server: Server;
  /** Stops listening and cuts open connections (keep-alive ones included). */
  close(): Promise<void>;
}

/** Answers 200 with an {@link EchoBody} once the whole request body was read. */
export const echoHandler: BackendHandler = (req, res) => {
  let bodyLength = 0;
  req.on('data', (chunk: Buffer) => {
    bodyLength += chunk.length;
  });
  req.on('end', () => {
    const body: EchoBody = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyLength };
    const json = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  });
  req.on('error', () => res.destroy());
};

/**
 * @example
 * const backend = await startBackend();
 * after(() => backend.close());
 * const res = await fetch(`${backend.url}/x`, { method: 'POST', body: 'abc' });
 * assert.equal((await res.json()).bodyLength, 3);
 */
export async function startBackend(handler: BackendHandler = echoHandler): Promise<Backend> {
  const server = createServer((req, res) => {
    // A throwing or rejecting handler answers 500 instead of taking the test process down.
    const fail = (error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`backend handler failed: ${error instanceof Error ? error.message : String(error)}`);
      } else res.destroy();
    };
    try {
      const result = handler(req, res);
      if (result instanceof Promise) result.catch(fail);
    } catch (error) {
      fail(error);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
