/**
 * The storefront's files: a small static server (plain node:http) for the page in
 * `storefront/`, run by Brisk like the other services. No framework and no build step:
 * the page must work with no internet access, and it is three files.
 *
 * Every answer carries a strict Content-Security-Policy (no inline script or style,
 * nothing from another origin), which the page is written to satisfy.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `storefront/` beside `dist/`: read from the source tree, so tsc needs no copy step. */
export const STOREFRONT_DIR = fileURLToPath(new URL('../../../storefront/', import.meta.url));

export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

export interface WebOptions {
  port?: number;
  dir?: string;
  handleSignals?: boolean;
}

export async function startWeb(options: WebOptions = {}): Promise<{ server: Server; url: string; stop(): Promise<void> }> {
  const dir = options.dir ?? STOREFRONT_DIR;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end('{"error":{"code":"SHOP_BAD_INPUT","message":"the storefront only answers GET"}}');
      return;
    }
    let file: string;
    try {
      file = path === '/' ? 'index.html' : normalize(decodeURIComponent(path)).replace(/^[/\\]+/, '');
    } catch {
      file = '\0';
    }
    const type = TYPES[extname(file)];
    if (file.startsWith('..') || file.includes('\0') || type === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"SHOP_NOT_FOUND","message":"no such file"}}');
      return;
    }
    readFile(join(dir, file)).then(
      (body) => {
        res.writeHead(200, {
          'content-type': type,
          'content-length': body.length,
          'cache-control': 'no-cache',
          'content-security-policy': CONTENT_SECURITY_POLICY,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"SHOP_NOT_FOUND","message":"no such file"}}'),
    );
  });
  const port = options.port ?? Number(process.env['PORT'] ?? 0);
  await new Promise<void>((resolve) => server.listen(port, process.env['HOST'] ?? '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  if (options.handleSignals ?? true) {
    const onSignal = () => void stop().then(() => process.exit(0));
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  process.stdout.write(`storefront: listening on ${url}\n`);
  return { server, url, stop };
}
