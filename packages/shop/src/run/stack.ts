/**
 * The whole shop as one call: its data (embedded or real), the demo IM group, and Brisk
 * started with packages/shop/brisk.yaml — Brisk then starts and supervises the services
 * itself (`services:`), and opens its listener once they are ready.
 *
 * Brisk runs as a process (`dist/src/cli/main.js start`), never imported: the shop, like
 * any service behind Brisk, does not reach into the gateway's code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startIm } from './im.js';
import { startEmbeddedData, startRealData, type ShopData } from './databases.js';

/** The repository's root and the shop's folder (from dist/src/run/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
export const SHOP_DIR = fileURLToPath(new URL('../../../', import.meta.url));
export const GATEWAY_ENTRY = `${REPO_ROOT}dist/src/cli/main.js`;
export const SHOP_CONFIG = `${SHOP_DIR}brisk.yaml`;

export interface StackOptions {
  real?: boolean;
  /** Storefront and API (default 8080), admin and dashboard (9901), IM receiver (7401). */
  port?: number;
  adminPort?: number;
  imPort?: number;
  /** Where Brisk's and the services' output goes (default: inherited; a number: an open file descriptor). */
  output?: 'inherit' | 'ignore' | 'pipe' | number;
  /** Lines from the IM group. */
  print?: (line: string) => void;
  /** More environment for Brisk and the services (e.g. SHOP_LOG_LEVEL). */
  env?: Record<string, string>;
  /** How long to wait for Brisk to open its listener (default 90 s). */
  readyTimeoutMs?: number;
  /** Brisk's data-plane workers (`brisk start --workers N`; default: the config's, i.e. 1). */
  workers?: number;
  /** Another Brisk config than packages/shop/brisk.yaml (a game day's unprotected run). */
  config?: string;
  /**
   * Starts the services outside Brisk, before Brisk, with the environment Brisk would give
   * them (a config without `services:`); its `stop` runs after Brisk's.
   */
  startServices?: (env: Record<string, string>) => Promise<{ stop(): Promise<void> }>;
}

export interface Stack {
  url: string;
  adminUrl: string;
  imUrl: string;
  data: ShopData;
  gateway: ChildProcess;
  /** The key services use on /internal/* through Brisk (a game day injects faults with it). */
  internalKey: string;
  /** The support agents' shared secret (the agent page at /support/agent asks for it). */
  agentToken: string;
  im: Awaited<ReturnType<typeof startIm>>;
  stop(): Promise<void>;
}

/** Whether 127.0.0.1:port is free to listen on. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function waitFor(url: string, timeoutMs: number, gaveUp: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = gaveUp();
    if (reason !== undefined) throw new Error(reason);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  if (!existsSync(GATEWAY_ENTRY)) throw new Error(`Brisk is not built (${GATEWAY_ENTRY} is missing): run npm run build`);
  const port = options.port ?? 8080;
  const adminPort = options.adminPort ?? 9901;
  const print = options.print ?? ((line: string) => process.stdout.write(`[im] ${line}\n`));
  // A Brisk left over from an earlier run would answer the readiness probe below for this one.
  for (const p of [port, adminPort]) if (!(await canBind(p))) throw new Error(`port 127.0.0.1:${p} is in use (another shop still running?)`);
  const im = await startIm(options.imPort ?? 7401, print);
  let data: ShopData;
  try {
    data = options.real === true ? await startRealData() : await startEmbeddedData();
  } catch (error) {
    await im.stop();
    throw error;
  }
  // The support chat's conversations journal: kept across restarts of its instance, for the
  // life of this shop (like the embedded databases).
  const supportData = mkdtempSync(join(tmpdir(), 'brisk-shop-support-'));
  const internalKey = randomBytes(24).toString('base64url');
  const agentToken = randomBytes(12).toString('base64url');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    SHOP_PORT: String(port),
    SHOP_ADMIN_PORT: String(adminPort),
    SHOP_IM_PORT: new URL(im.url).port,
    SHOP_USERS_DB: data.urls.users,
    SHOP_PRODUCTS_DB: data.urls.products,
    SHOP_ORDERS_DB: data.urls.orders,
    SHOP_PAYMENTS_DB: data.urls.payments,
    REDIS_URL: data.redisUrl ?? '',
    // A fresh secret per run: tokens from an earlier run are refused, as after a key rotation.
    SHOP_JWT_SECRET: randomBytes(32).toString('base64url'),
    SHOP_INTERNAL_KEY: internalKey,
    SHOP_INTERNAL_KEY_SHA256: createHash('sha256').update(internalKey).digest('hex'),
    SHOP_INTERNAL_URL: `http://127.0.0.1:${port}`,
    SUPPORT_AGENT_TOKEN: agentToken,
    SHOP_SUPPORT_DATA: supportData,
    SHOP_DRAIN_DELAY_MS: '1500',
    // The services' own request lines would drown Brisk's; warnings and errors still show.
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
    ...options.env,
  };
  delete env['DATABASE_URL'];
  let outside: { stop(): Promise<void> } | undefined;
  try {
    outside = await options.startServices?.(env);
  } catch (error) {
    await data.stop();
    await im.stop();
    rmSync(supportData, { recursive: true, force: true });
    throw error;
  }
  const args = [GATEWAY_ENTRY, 'start', '--config', options.config ?? SHOP_CONFIG, ...(options.workers === undefined ? [] : ['--workers', String(options.workers)])];
  const gateway = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', options.output ?? 'inherit', options.output ?? 'inherit'], detached: process.platform !== 'win32' });
  // If this process dies without stop(), Brisk (in its own process group) must not outlive
  // it with databases that are gone: SIGTERM makes it drain and stop its services.
  const orphanGuard = () => {
    if (gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGTERM');
  };
  process.once('exit', orphanGuard);
  let exited: string | undefined;
  gateway.once('exit', (code, signal) => (exited = `Brisk exited ${signal ? `on ${signal}` : `with code ${code}`} before the shop was ready`));
  const stop = async () => {
    process.off('exit', orphanGuard);
    if (gateway.exitCode === null && gateway.signalCode === null) {
      const gone = new Promise((resolve) => gateway.once('exit', resolve));
      gateway.kill('SIGTERM');
      const timer = setTimeout(() => gateway.kill('SIGKILL'), 25_000);
      await gone;
      clearTimeout(timer);
    }
    await outside?.stop();
    await data.stop();
    await im.stop();
    rmSync(supportData, { recursive: true, force: true });
  };
  try {
    await waitFor(`http://127.0.0.1:${port}/api/products`, options.readyTimeoutMs ?? 90_000, () => exited);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}`, imUrl: im.url, data, gateway, internalKey, agentToken, im, stop };
}
