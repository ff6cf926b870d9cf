import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/types.js';

/**
 * The settings a target's connection pool is built from; a target keeps its pool (and its
 * warm keep-alive connections) while this key is unchanged across reloads.
 */
export function poolKeyOf(upstream: UpstreamConfig): string {
  const { connections, keepAliveTimeoutMs } = upstream.pool;
  const { connectMs, responseMs, idleMs } = upstream.timeouts;
  return `${connections}|${keepAliveTimeoutMs}|${connectMs}|${responseMs}|${idleMs}`;
}

/** The undici pool for one target of `upstream`. */
export function createPool(origin: string, upstream: UpstreamConfig): Pool {
  const { connections, keepAliveTimeoutMs } = upstream.pool;
  const { connectMs, responseMs, idleMs } = upstream.timeouts;
  return new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: keepAliveTimeoutMs,
    // The target may announce a shorter keep-alive; undici honours it minus this margin,
    // which avoids sending on a connection the target is about to close.
    keepAliveTimeoutThreshold: 1000,
    connect: { timeout: connectMs, noDelay: true },
    headersTimeout: responseMs,
    bodyTimeout: idleMs,
    // Brisk enforces its own limits on what clients send; upstream answers are trusted up
    // to a generous header size.
    maxHeaderSize: 64 * 1024,
    strictContentLength: true,
  });
}

/** Closes a pool once its in-flight requests are done (destroys it if closing fails). */
export function closeGracefully(pool: Pool): void {
  pool.close().catch(() => pool.destroy().catch(() => {}));
}

/** Closes pools, waiting up to `graceMs` for their in-flight requests, then destroys what is left. */
export async function closePools(pools: readonly Pool[], graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
    timer.unref();
  });
  await Promise.race([Promise.allSettled(pools.map((p) => p.close())), deadline]);
  clearTimeout(timer);
  await Promise.allSettled(pools.map((p) => p.destroy()));
}
