import type { Logger } from '../observability/logger.js';
import { TargetSet } from './target-set.js';

/**
 * What outlives config versions on the upstream side: each upstream's live target set
 * (targets with their connection pools, health and latency; see `target-set.ts`) and the
 * upstream state kept while its config is unchanged (breakers, budgets, limits). A reload
 * neither drops warm keep-alive connections nor forgets that a target was ejected, and
 * targets added at runtime stay. Upstreams no longer in the newest config have their
 * targets drained and their pools closed.
 */
export class TargetRegistry {
  private readonly sets = new Map<string, { set: TargetSet; generation: number }>();
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

  /** Starts a new config generation; ask for every upstream's `targetSet`, then `sweep`. */
  beginGeneration(): number {
    return ++this.generation;
  }

  /** The live target set of the upstream named `upstream` (made on first use), kept by this generation. */
  targetSet(upstream: string, logger: Logger): TargetSet {
    let entry = this.sets.get(upstream);
    if (entry === undefined) {
      entry = { set: new TargetSet(upstream, logger), generation: this.generation };
      this.sets.set(upstream, entry);
    }
    entry.generation = this.generation;
    return entry.set;
  }

  /** The live target set of an upstream, if it has one. */
  existingSet(upstream: string): TargetSet | undefined {
    return this.sets.get(upstream)?.set;
  }

  /** Drops what the current generation did not ask for: kept objects, and target sets (their targets drain). */
  sweep(): void {
    for (const [key, entry] of this.kept) {
      if (entry.generation === this.generation) continue;
      this.kept.delete(key);
      closeKept(entry.value);
    }
    for (const [name, entry] of this.sets) {
      if (entry.generation !== this.generation) {
        this.sets.delete(name);
        entry.set.close();
      }
    }
  }

  /** Closes every pool; waits for in-flight requests up to `graceMs`, then destroys. */
  async closeAll(graceMs: number): Promise<void> {
    const all = [...this.sets.values()].map((e) => e.set.closeAll(graceMs));
    this.sets.clear();
    for (const entry of this.kept.values()) closeKept(entry.value);
    this.kept.clear();
    await Promise.all(all);
  }
}

/** Kept objects that hold connections (shared outlier hints) are closed when dropped. */
function closeKept(value: unknown): void {
  if (typeof value === 'object' && value !== null && typeof (value as { close?: unknown }).close === 'function') (value as { close(): void }).close();
}
