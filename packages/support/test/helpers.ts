/**
 * Helpers for the support chat's integration tests: a real Brisk process (the gateway's
 * CLI, built at the repository root), a stand-in IM receiver that records what it is
 * sent, a WebSocket client that collects frames, and waiting for a condition.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/** The gateway's CLI (the root package's build; this test runs from packages/support/dist/test). */
export const BRISK_CLI = fileURLToPath(new URL('../../../../dist/src/cli/main.js', import.meta.url));

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface BriskChild {
  child: ChildProcess;
  port: number;
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `brisk start` with a config routing `/support` (WebSockets included) to
 * `supportUrl`, and everything else to `siteUrl` when given (a page that includes the widget).
 */
export async function startBrisk(supportUrl: string, siteUrl?: string, extra: { upstreams?: Record<string, unknown>; routes?: unknown[] } = {}): Promise<BriskChild> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'brisk-support-'));
  const file = join(dir, 'brisk.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      listen: [{ address: `127.0.0.1:${port}` }],
      logging: { level: 'warn', format: 'json', accessLog: false },
      upstreams: { support: { targets: [{ url: supportUrl }] }, ...(siteUrl ? { site: { targets: [{ url: siteUrl }] } } : {}), ...extra.upstreams },
      routes: [{ name: 'support', match: { pathPrefix: '/support' }, upstream: 'support', upgrades: ['websocket'] }, ...(extra.routes ?? []), ...(siteUrl ? [{ name: 'site', upstream: 'site' }] : [])],
    }),
  );
  const child = spawn(process.execPath, [BRISK_CLI, 'start', '--config', file, '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await (await fetch(`${url}/support/widget.js`)).arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`brisk did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    child,
    port,
    url,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** An IM webhook receiver that records the JSON bodies posted to it. */
export async function startReceiver(): Promise<{ url: string; got: Record<string, unknown>[]; close(): Promise<void> }> {
  const got: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`, got, close: () => new Promise((r) => server.close(() => r())) };
}

/** A WebSocket client that keeps every frame it receives. */
export interface Client {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  send(frame: Record<string, unknown>): void;
  /** Waits for a frame matching `test` after the `from`-th frame, and returns it. */
  next(test: (f: Record<string, unknown>) => boolean, what: string, from?: number): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

export async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(JSON.stringify(frame)),
    next: async (test, what, from = 0) => {
      let found: Record<string, unknown> | undefined;
      await until(() => (found = frames.slice(from).find(test)) !== undefined, 20_000, `${what} (frames so far: ${JSON.stringify(frames).slice(-1500)})`);
      return found!;
    },
  };
}
