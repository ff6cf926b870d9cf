import { Pool } from 'undici';
import type { TargetConfig, UpstreamConfig } from '../config/types.js';
import { Target } from './target.js';

interface Entry {
  readonly target: Target;
  poolKey: string;
  /** Config generation that last asked for this target. */
  generation: number;
}

/**
 * Targets (with their connection pools, health and latency) keyed by upstream and origin,
 * kept across config reloads: a reload neither drops warm keep-alive connections nor
 * forgets that a target was ejected. Targets no longer named by the newest config have
 * their pools closed gracefully (in-flight requests finish first).
 */
export class TargetRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly kept = new Map<string, { value: unknown; generation: number }>();
  private generation = 0;

  /**
   * Upstream state that must outlive a reload while its config is unchanged (a circuit
   * breaker's window and state, the retry budget, the limits' counts of what is in
   * flight): the existing object for `key`, or a new one. `key` must include the config
   * the object was made from. Objects no generation asked for are dropped by `sweep`.
   */
  keep<T>(key: string, create: () => T): T {
    const entry = this.kept.get(key);
    if (entry !== undefined) {
      entry.generation = this.generation;
      return entry.value as T;
    }
    const value = create();
    this.kept.set(key, { value, generation: this.generation });
    return value;
  }

  /** Starts a new config generation; call `acquire` for every target, then `sweep`. */
  beginGeneration(): number {
    return ++this.generation;
  }

  /** The target for this upstream and origin: the existing one, updated, or a new one. */
  acquire(upstream: UpstreamConfig, config: TargetConfig): { target: Target; isNew: boolean } {
    const key = `${upstream.name}|${config.origin}${config.basePath}`;
    const poolKey = poolKeyOf(upstream);
    const entry = this.entries.get(key);
    if (entry === undefined) {
      const target = new Target(upstream.name, config, createPool(config.origin, upstream));
      this.entries.set(key, { target, poolKey, generation: this.generation });
      return { target, isNew: true };
    }
    entry.generation = this.generation;
    entry.target.weight = config.weight;
    if (entry.poolKey !== poolKey) {
      const old = entry.target.pool;
      entry.target.pool = createPool(config.origin, upstream);
      entry.poolKey = poolKey;
      closeGracefully(old);
    }
    return { target: entry.target, isNew: false };
  }

  /** Closes the pools of targets the current generation did not acquire. */
  sweep(): void {
    for (const [key, entry] of this.kept) if (entry.generation !== this.generation) this.kept.delete(key);
    for (const [key, entry] of this.entries) {
      if (entry.generation !== this.generation) {
        this.entries.delete(key);
        closeGracefully(entry.target.pool);
      }
    }
  }

  /** Closes every pool; waits for in-flight requests up to `graceMs`, then destroys. */
  async closeAll(graceMs: number): Promise<void> {
    const all = [...this.entries.values()].map((e) => e.target.pool);
    this.entries.clear();
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

function poolKeyOf(upstream: UpstreamConfig): string {
  const { connections, keepAliveTimeoutMs } = upstream.pool;
  const { connectMs, responseMs, idleMs } = upstream.timeouts;
  return `${connections}|${keepAliveTimeoutMs}|${connectMs}|${responseMs}|${idleMs}`;
}

function createPool(origin: string, upstream: UpstreamConfig): Pool {
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

function closeGracefully(pool: Pool): void {
  pool.close().catch(() => pool.destroy().catch(() => {}));
}
