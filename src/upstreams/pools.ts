import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/types.js';

interface PoolEntry {
  readonly pool: Pool;
  /** Config generation that last asked for this pool. */
  generation: number;
}

/**
 * Connection pools keyed by origin and pool settings, kept across config reloads so a
 * reload does not drop warm keep-alive connections. Pools no longer named by the newest
 * config are closed gracefully (in-flight requests finish first).
 */
export class PoolRegistry {
  private readonly pools = new Map<string, PoolEntry>();
  private generation = 0;

  /** Starts a new config generation; call `acquire` for every target, then `sweep`. */
  beginGeneration(): number {
    return ++this.generation;
  }

  acquire(origin: string, upstream: UpstreamConfig): Pool {
    const { connections, keepAliveTimeoutMs } = upstream.pool;
    const { connectMs, responseMs, idleMs } = upstream.timeouts;
    const key = `${origin}|${connections}|${keepAliveTimeoutMs}|${connectMs}|${responseMs}|${idleMs}`;
    let entry = this.pools.get(key);
    if (entry === undefined) {
      const pool = new Pool(origin, {
        connections,
        pipelining: 1,
        keepAliveTimeout: keepAliveTimeoutMs,
        // The target may announce a shorter keep-alive; undici honours it minus this margin,
        // which avoids sending on a connection the target is about to close.
        keepAliveTimeoutThreshold: 1000,
        connect: { timeout: connectMs, noDelay: true },
        headersTimeout: responseMs,
        bodyTimeout: idleMs,
        // Brisk enforces its own limits on what clients send; upstream answers are trusted
        // up to a generous header size.
        maxHeaderSize: 64 * 1024,
        strictContentLength: true,
      });
      entry = { pool, generation: this.generation };
      this.pools.set(key, entry);
    }
    entry.generation = this.generation;
    return entry.pool;
  }

  /** Closes pools the current generation did not acquire. */
  sweep(): void {
    for (const [key, entry] of this.pools) {
      if (entry.generation !== this.generation) {
        this.pools.delete(key);
        entry.pool.close().catch(() => entry.pool.destroy().catch(() => {}));
      }
    }
  }

  /** Closes every pool; waits for in-flight requests up to `graceMs`, then destroys. */
  async closeAll(graceMs: number): Promise<void> {
    const all = [...this.pools.values()].map((e) => e.pool);
    this.pools.clear();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled(all.map((p) => p.close())), deadline]);
    clearTimeout(timer);
    await Promise.allSettled(all.map((p) => p.destroy()));
  }
}
