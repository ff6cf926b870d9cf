/**
 * The memory tier: a bounded map kept in least-recently-used order (a JavaScript `Map`
 * iterates in insertion order, so re-inserting on every hit makes the first key the
 * least recently used). Written here because it is twenty lines; an LRU library would
 * add a dependency for less than this.
 */
export interface Entry<T = unknown> {
  value: T;
  /** Fresh until (epoch ms). */
  freshUntil: number;
  /** Servable as stale (while a refresh runs) until (epoch ms). */
  staleUntil: number;
}

export class MemoryTier {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.staleUntil <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  set(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry past its stale limit (they are otherwise dropped only when read or pushed out); returns how many. */
  sweep(now: number): number {
    let removed = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.staleUntil <= now) {
        this.#entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
