import { readFileSync, statSync } from 'node:fs';
import { buildConnector, newUndiciPool, type Pool } from '../core/undici.js';
import type * as Undici from 'undici';
import type { UpstreamConfig, UpstreamTlsConfig } from '../config/types.js';
import { hostPortOf, tlsOptions, type ConnectTarget, type TlsMaterial } from './h2/connect.js';
import { NegotiatingPool, type DispatchPool } from './h2/negotiate.js';
import { H2Pool } from './h2/pool.js';
import type { H1Pool as H1PoolClass } from './h1/pool.js';

export type { DispatchPool } from './h2/negotiate.js';

/** Response header bytes accepted from a target: Brisk limits what clients send; targets are trusted up to this. */
const MAX_RESPONSE_HEADER_SIZE = 64 * 1024;

/**
 * The settings a target's connection pool is built from; a target keeps its pool (and its
 * warm keep-alive connections) while this key is unchanged across reloads. TLS files are
 * keyed with their modification time, so a certificate renewed in place is picked up by
 * the next reload.
 */
export function poolKeyOf(upstream: UpstreamConfig): string {
  const { connections, keepAliveTimeoutMs } = upstream.pool;
  const { connectMs, responseMs, idleMs } = upstream.timeouts;
  const tls = upstream.tls;
  const transport = transportOf(upstream);
  const tlsKey = tls === null ? '' : [tls.caFile, tls.certFile, tls.keyFile].map((f) => (f === undefined ? '' : `${f}@${mtimeOf(f)}`)).join('|') + `|${tls.verify}|${tls.servername ?? ''}`;
  return `${connections}|${keepAliveTimeoutMs}|${connectMs}|${responseMs}|${idleMs}|${upstream.http2}|${transport}|${tlsKey}`;
}

/**
 * The HTTP/1.1 client of the upstream's `http://` targets: its `pool.transport`, else
 * {@link defaultTransport}.
 */
export function transportOf(upstream: UpstreamConfig): 'undici' | 'lean' {
  return upstream.pool.transport ?? defaultTransport();
}

/**
 * The HTTP/1.1 client of an upstream that names none: the lean transport, unless the
 * environment variable BRISK_UPSTREAM_TRANSPORT says undici (the way back for a whole node
 * without editing the config; `pool.transport: undici` is the way back for one upstream).
 * Lean became the default once the whole suite, the hostile-input and smuggling tests,
 * HTTP/2, TLS, WebSocket and streaming passed on it and its parser was fuzzed against
 * llhttp (scripts/fuzz-h1-parser.mjs): about 1.3x fewer CPU-seconds per 1 KB request.
 */
export function defaultTransport(env: NodeJS.ProcessEnv = process.env): 'undici' | 'lean' {
  return env.BRISK_UPSTREAM_TRANSPORT === 'undici' ? 'undici' : 'lean';
}

/** The lean transport's pool, imported by {@link loadTransports} when a config first asks for it. */
let H1Pool: typeof H1PoolClass | null = null;

/**
 * Imports the lean HTTP/1.1 transport (`src/upstreams/h1/`) when one of `upstreams` uses it
 * ({@link transportOf}); a config on undici never loads it. Await it before building pools
 * for these upstreams (once per process; `loadRouteCode` does it for a config).
 */
export async function loadTransports(upstreams: Iterable<UpstreamConfig>): Promise<void> {
  if (H1Pool !== null) return;
  for (const upstream of upstreams) {
    if (transportOf(upstream) === 'lean') {
      H1Pool = (await import('./h1/pool.js')).H1Pool;
      return;
    }
  }
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The upstream's TLS material, read from its files (checked when the config was loaded). */
export function readTlsMaterial(tls: UpstreamTlsConfig | null): TlsMaterial {
  if (tls === null) return { verify: true };
  const material: { -readonly [K in keyof TlsMaterial]: TlsMaterial[K] } = { verify: tls.verify };
  if (tls.servername !== undefined) material.servername = tls.servername;
  if (tls.caFile !== undefined) material.ca = readFileSync(tls.caFile);
  if (tls.certFile !== undefined) material.cert = readFileSync(tls.certFile);
  if (tls.keyFile !== undefined) material.key = readFileSync(tls.keyFile);
  return material;
}

/**
 * The pool for one target of `upstream`, by the target's scheme: `h2c://` speaks HTTP/2
 * without TLS (prior knowledge); `https://` follows the upstream's `http2` (`auto`: ALPN
 * decides; `on`: HTTP/2 only; `off`: HTTP/1.1); `http://` is HTTP/1.1 (undici, or the lean
 * transport when `pool.transport` says so, with undici behind it for unusual requests).
 */
export function createPool(origin: string, upstream: UpstreamConfig): DispatchPool {
  const { host, port, secure } = hostPortOf(origin);
  const h2c = origin.startsWith('h2c:');
  const material = secure ? readTlsMaterial(upstream.tls) : null;
  const { connections, keepAliveTimeoutMs } = upstream.pool;
  const { connectMs, responseMs, idleMs } = upstream.timeouts;
  const h2Options = { connections, headersTimeoutMs: responseMs, bodyTimeoutMs: idleMs, keepAliveTimeoutMs, maxHeaderSize: MAX_RESPONSE_HEADER_SIZE };
  const httpOrigin = h2c ? `http://${new URL(origin).host}` : origin;
  if (h2c) return new H2Pool(httpOrigin, { host, port, tls: null, alpn: [], timeoutMs: connectMs }, h2Options);
  if (!secure && transportOf(upstream) === 'lean') {
    // A programming error, not a config one: the loader runs before any pool is built.
    if (H1Pool === null) throw new Error(`the lean transport is not loaded (target ${origin}): await loadTransports(upstreams) before building pools`);
    const options = { host, port, connections, connectTimeoutMs: connectMs, headersTimeoutMs: responseMs, bodyTimeoutMs: idleMs, keepAliveTimeoutMs, maxHeaderSize: MAX_RESPONSE_HEADER_SIZE };
    return new H1Pool(options, () => http1Pool(origin, upstream, null, host));
  }
  if (!secure || upstream.http2 === 'off') return http1Pool(origin, upstream, material, host);
  if (upstream.http2 === 'on') return new H2Pool(httpOrigin, { host, port, tls: material, alpn: ['h2'], timeoutMs: connectMs }, h2Options);
  const target: ConnectTarget = { host, port, tls: material, alpn: ['h2', 'http/1.1'], timeoutMs: connectMs };
  // The socket that negotiated h2 becomes the first session; one that settled on HTTP/1.1
  // is closed, and undici opens its own (it ties connections to its own SNI bookkeeping).
  return new NegotiatingPool(target, (protocol, socket) => {
    if (protocol === 'h2') return new H2Pool(httpOrigin, target, h2Options, socket);
    socket.destroy();
    return http1Pool(origin, upstream, material, host);
  });
}

/**
 * undici's HTTP/1.1 pool. For TLS its connector is wrapped: undici would take the SNI name
 * (and the name it verifies) from each request's Host header, which with `hostHeader:
 * preserve` is the client's; the upstream's `tls.servername`, or the target URL's host,
 * is what the target's certificate is checked against.
 */
function http1Pool(origin: string, upstream: UpstreamConfig, material: TlsMaterial | null, host: string): Pool {
  const { connections, keepAliveTimeoutMs } = upstream.pool;
  const { connectMs, responseMs, idleMs } = upstream.timeouts;
  let connect: Undici.buildConnector.connector | { timeout: number; noDelay: boolean } = { timeout: connectMs, noDelay: true };
  if (material !== null) {
    const options = tlsOptions(host, material, ['http/1.1']);
    const base = buildConnector({ ...options, timeout: connectMs, noDelay: true });
    // '' leaves undici no name to send: an IP target is verified against its address.
    const servername = options.servername ?? '';
    connect = (opts, callback) => base({ ...opts, servername }, callback);
  }
  return newUndiciPool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: keepAliveTimeoutMs,
    // The target may announce a shorter keep-alive; undici honours it minus this margin,
    // which avoids sending on a connection the target is about to close.
    keepAliveTimeoutThreshold: 1000,
    connect,
    headersTimeout: responseMs,
    bodyTimeout: idleMs,
    maxHeaderSize: MAX_RESPONSE_HEADER_SIZE,
    strictContentLength: true,
  });
}

/** Closes a pool once its in-flight requests are done (destroys it if closing fails). */
export function closeGracefully(pool: DispatchPool): void {
  pool.close().catch(() => pool.destroy().catch(() => {}));
}

/** Closes pools, waiting up to `graceMs` for their in-flight requests, then destroys what is left. */
export async function closePools(pools: readonly DispatchPool[], graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
    timer.unref();
  });
  await Promise.race([Promise.allSettled(pools.map((p) => p.close())), deadline]);
  clearTimeout(timer);
  await Promise.allSettled(pools.map((p) => p.destroy()));
}
