/**
 * A bounded cache with a time to live, least recently used first out. Auth caches
 * answers that are costly to get (a forward-auth round trip, a scrypt check) for a few
 * seconds; the bound keeps a flood of distinct credentials from growing memory.
 * A Map keeps insertion order, which is all an LRU needs; no library earns its place here.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  /**
   * @example
   * const cache = new TtlCache<boolean>(10_000);
   * cache.set(key, true, 5_000);
   */
  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = Math.max(1, maxEntries);
    this.#now = now;
  }

  /** The live value for `key`, or undefined (an expired entry is dropped on the way). */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    // Re-inserting moves the key to the young end of the Map's order.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` for `ttlMs`; evicts the least recently used entry when full. */
  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expires: this.#now() + ttlMs });
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * At most `limit` tasks at once, with a bounded queue. Scrypt checks run on libuv's small
 * thread pool, shared with DNS lookups and file reads; a burst of logins must not take
 * all of it, and a flood must be refused rather than queued without end.
 */
export class Gate {
  #running = 0;
  readonly #queue: Array<() => void> = [];
  readonly #limit: number;
  readonly #maxQueue: number;

  constructor(limit: number, maxQueue: number) {
    this.#limit = limit;
    this.#maxQueue = maxQueue;
  }

  /** Runs `task` when a slot is free; undefined (without running it) when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T | undefined> {
    if (this.#running >= this.#limit) {
      if (this.#queue.length >= this.#maxQueue) return undefined;
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else this.#running++;
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter, so #running stays counted for it.
      if (next !== undefined) next();
      else this.#running--;
    }
  }
}
