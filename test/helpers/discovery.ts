/**
 * Helpers for the discovery tests: a gateway whose upstream `app` gets its targets from a
 * `discovery` block (health-checked quickly, snapshot under a directory the test keeps
 * across restarts), backends that say who they are, and readers of the admin API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, type TestGateway } from './gateway.js';

/** A backend that answers `name` (and 200 on /healthz), optionally slowly on `/slow`. */
export interface NamedBackend {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Proxied requests it answered (health probes not counted). */
  hits: number;
  /** Milliseconds `/slow` waits before answering. */
  slowMs: number;
  close(): Promise<void>;
}

export async function namedBackend(name: string, host = '127.0.0.1', listenPort = 0): Promise<NamedBackend> {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    b.hits++;
    const answer = () => {
      res.setHeader('content-type', 'text/plain');
      res.end(name);
    };
    if (req.url?.startsWith('/slow') === true) setTimeout(answer, b.slowMs);
    else answer();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const b: NamedBackend = {
    name,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    hits: 0,
    slowMs: 1000,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return b;
}

/** A member of `app` as the admin API lists it. */
export interface Member {
  readonly url: string;
  readonly state: string;
  readonly sources: readonly string[];
  readonly health: string;
}

export async function members(tg: TestGateway, upstream = 'app'): Promise<Member[]> {
  const res = await fetch(`${tg.adminUrl}/api/upstreams/${upstream}/targets`);
  return ((await res.json()) as { targets: Member[] }).targets;
}

/** `/api/discovery` of the gateway, by upstream. */
export async function discoveryState(tg: TestGateway): Promise<Record<string, { provider: string; targets: number; stalenessS: number; from: string; problem: { code: string; message: string } | null; updates: Record<string, number> }>> {
  const res = await fetch(`${tg.adminUrl}/api/discovery`);
  const list = ((await res.json()) as { discovery: { upstream: string }[] }).discovery;
  return Object.fromEntries(list.map((d) => [d.upstream, d])) as never;
}

/** Polls `check` every 50 ms until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${(last as Error).message})`}`);
    await sleep(50);
  }
}

/** The sorted URLs of `app`'s routable (active) members. */
export async function activeUrls(tg: TestGateway, upstream = 'app'): Promise<string[]> {
  return (await members(tg, upstream))
    .filter((m) => m.state === 'active')
    .map((m) => m.url)
    .sort();
}

/** A config whose upstream `app` takes its targets from `discovery`, health-checked every 200 ms. */
export function discoveryConfig(discovery: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: {
      app: {
        discovery,
        healthCheck: { path: '/healthz', interval: '200ms', timeout: '500ms', healthyThreshold: 1, unhealthyThreshold: 2 },
        drainTimeout: '10s',
        balancer: 'round-robin',
        retry: { attempts: 0 },
        hedge: 'off',
        ...extra,
      },
    },
    routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
  };
}

/** A temporary directory the test removes in `after()`. */
export function tempDir(prefix: string): { readonly path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A GET through the gateway: status and body. */
export async function get(tg: TestGateway, path = '/'): Promise<{ status: number; body: string }> {
  const res = await fetch(`${tg.url}${path}`);
  return { status: res.status, body: await res.text() };
}

export { startGateway };
