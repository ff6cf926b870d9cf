/**
 * The memory store's table: key → three numbers of state, bounded by `maxKeys` with
 * least-recently-used eviction.
 *
 * Written by hand rather than taken from an LRU package because the hot path should not
 * allocate: the state lives in one Float64Array and the recency list in two Int32Arrays
 * (slot indices), so a lookup, a touch and an update allocate nothing, and a new key
 * costs only its Map entry. The arrays start small and double up to `maxKeys`, so a
 * quiet route does not reserve megabytes.
 *
 * A client spraying fresh keys (random API keys, spoofed headers) can only push other
 * keys out, never grow the table past `maxKeys`; the keys pushed out are the least
 * recently seen ones, and a key that keeps sending (such as a client being limited)
 * stays at the head.
 */
export class KeyTable {
  readonly maxKeys: number;
  private readonly index = new Map<string, number>();
  private keys: Array<string | undefined>;
  private prev: Int32Array;
  private next: Int32Array;
  private state: Float64Array;
  private capacity: number;
  private head = -1;
  private tail = -1;
  /** Keys forgotten to make room. */
  evictions = 0;

  constructor(maxKeys: number, initialCapacity = 1024) {
    this.maxKeys = Math.max(1, maxKeys);
    this.capacity = Math.max(1, Math.min(this.maxKeys, initialCapacity));
    this.keys = new Array<string | undefined>(this.capacity);
    this.prev = new Int32Array(this.capacity);
    this.next = new Int32Array(this.capacity);
    this.state = new Float64Array(this.capacity * 3);
  }

  /** Number of keys held. */
  get size(): number {
    return this.index.size;
  }

  /** The key's slot, moved to the most recently used end; -1 when unknown. */
  find(key: string): number {
    const slot = this.index.get(key);
    if (slot === undefined) return -1;
    this.touch(slot);
    return slot;
  }

  /** State number `i` (0–2) of a slot. */
  get(slot: number, i: 0 | 1 | 2): number {
    return this.state[slot * 3 + i]!;
  }

  /** Stores a key's state, adding the key (and evicting the least recently used) if needed. */
  set(key: string, slot: number, s0: number, s1: number, s2: number): void {
    if (slot < 0) slot = this.add(key);
    const at = slot * 3;
    this.state[at] = s0;
    this.state[at + 1] = s1;
    this.state[at + 2] = s2;
  }

  /** Whether a key is held (does not touch it). */
  has(key: string): boolean {
    return this.index.has(key);
  }

  private add(key: string): number {
    let slot: number;
    const size = this.index.size;
    if (size < this.capacity) slot = size;
    else if (this.capacity < this.maxKeys) {
      this.grow();
      slot = size;
    } else {
      // Full: reuse the least recently used slot.
      slot = this.tail;
      this.unlink(slot);
      this.index.delete(this.keys[slot]!);
      this.evictions++;
    }
    this.keys[slot] = key;
    this.index.set(key, slot);
    this.linkHead(slot);
    return slot;
  }

  private grow(): void {
    const capacity = Math.min(this.maxKeys, this.capacity * 2);
    const prev = new Int32Array(capacity);
    prev.set(this.prev);
    const next = new Int32Array(capacity);
    next.set(this.next);
    const state = new Float64Array(capacity * 3);
    state.set(this.state);
    this.keys.length = capacity;
    this.prev = prev;
    this.next = next;
    this.state = state;
    this.capacity = capacity;
  }

  private touch(slot: number): void {
    if (slot === this.head) return;
    this.unlink(slot);
    this.linkHead(slot);
  }

  private unlink(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p === -1) this.head = n;
    else this.next[p] = n;
    if (n === -1) this.tail = p;
    else this.prev[n] = p;
  }

  private linkHead(slot: number): void {
    this.prev[slot] = -1;
    this.next[slot] = this.head;
    if (this.head !== -1) this.prev[this.head] = slot;
    this.head = slot;
    if (this.tail === -1) this.tail = slot;
  }
}
