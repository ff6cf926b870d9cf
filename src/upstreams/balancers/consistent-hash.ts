import type { HashConfig } from '../../config/types.js';
import type { Target } from '../target.js';
import { effectiveWeight, usable, type Balancer, type PickContext } from './balancer.js';
import { fmix32, murmur3 } from './murmur3.js';
import { SmoothWeightedBalancer } from './smooth-weighted.js';

/**
 * Virtual nodes per unit of weight on the ring. With 160 (NGINX's and Envoy's ballpark), a
 * target's share of the key space is within about ±8% (one standard deviation) of its
 * weight's share; more points buy little balance for a lot of memory and build time.
 */
export const RING_POINTS_PER_WEIGHT = 160;

/**
 * Most points on one ring (about 2.5 MB with the owner array and bucket index). Above that every target's point
 * count is scaled down alike, so weights keep their ratio; only then does a weight change
 * elsewhere move keys between unchanged targets.
 */
export const RING_MAX_POINTS = 1 << 18;

/** Maglev's smallest table (Envoy's default, a prime): balance within ~1% for a few hundred targets. */
export const MAGLEV_MIN_TABLE_SIZE = 65_537;

/** Seeds making the hash values of one input independent of each other. */
const SEED_KEY = 0;
const SEED_MAGLEV_OFFSET = 0x2f6b_1d37;
const SEED_MAGLEV_SKIP = 0x5bd1_e995;
const SEED_SLOW_START = 0x7a3c_9e15;

/** How the balancer maps keys, for tests and the admin view. */
export interface HashLayout {
  readonly algorithm: 'ring' | 'maglev';
  /** Ring points, or Maglev table slots. */
  readonly size: number;
}

/**
 * Consistent hashing: requests with the same key go to the same target while it can take
 * them, and when targets come and go only the keys that must move do.
 *
 * - `ring`: each target owns `weight × 160` pseudo-random points on a 32-bit circle; a key
 *   belongs to the first point at or after its hash. Removing a target moves only its own
 *   keys (to their next points), adding one takes keys only for itself.
 * - `maglev` (Google's Maglev, NSDI 2016): a lookup table of a prime size ≥ 100 × targets,
 *   filled by each target walking its own permutation of the slots, heavier targets taking
 *   proportionally more turns (Envoy's weighted variant). Its balance is tighter than a
 *   ring's (within about 1% of the weights rather than about 8%), at the price of a few
 *   extra keys moving on a change and a fixed 128 KB table.
 *
 * The layout is built over all routable targets (again when they change: a target joins or
 * drains), so an ejected target keeps its place: its keys move to the targets that follow it while it is
 * out and come back when it returns. At pick time the walk from the key's position skips a
 * target that is not usable, is over its bounded-load capacity, or (in slow start) is not
 * yet taking this key.
 *
 * Bounded load (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads",
 * 2017): no target takes a request while its in-flight count has reached
 * `ceil(boundedLoad × (inFlight of usable targets + 1) × effectiveWeight / sum of their
 * effective weights)`, i.e. the paper's `ceil(c × (m + 1) / n)` with weights (the same
 * thing when weights are equal). A hot key thus spills over to the next targets instead of
 * melting one, and because the capacities sum to more than the load, some usable target is
 * always under its capacity.
 *
 * Slow start keeps keys deterministic: a ramping target takes a key only if a hash of
 * (key, target) falls below its current factor, so it gets about 10% of its keys at first
 * and more as the factor grows, and a key once taken stays taken while the ramp goes on.
 *
 * Requests without a key are spread by smooth weighted round robin.
 */
export class ConsistentHashBalancer implements Balancer {
  layout!: HashLayout;
  private targets!: readonly Target[];
  private readonly slowStartMs: number;
  private readonly boundedLoad: number;
  private readonly algorithm: 'ring' | 'maglev';
  /** Ring: the sorted points. Null for Maglev. */
  private points: Uint32Array | null = null;
  /**
   * Ring: `bucketStart[b]` is the first point whose top bits are ≥ b, with about one point
   * per bucket, so finding a key's point is one read and a step or two instead of a binary
   * search (5–10× faster over 1600 points, measured: the search's branches mispredict).
   */
  private bucketStart: Uint32Array | null = null;
  private bucketShift = 0;
  /** Ring: the target index owning each point; Maglev: the lookup table. */
  private owners!: Uint16Array | Uint32Array;
  /** How many distinct targets appear in `owners` (a walk stops once it has seen them all). */
  private present = 0;
  /** Per-target seed for the slow-start admission hash. */
  private admitSeeds!: Uint32Array;
  /** Visit marks for the walk: `seen[i] === epoch` means visited by this pick. */
  private seen!: Uint32Array;
  private epoch = 0;
  /** Capacity per unit of weight for the current pick; -1 until needed. */
  private readonly perWeight = new Float64Array(1);
  private readonly keyless: SmoothWeightedBalancer;

  constructor(targets: readonly Target[], hash: Pick<HashConfig, 'algorithm' | 'boundedLoad'>, slowStartMs: number) {
    this.slowStartMs = slowStartMs;
    // Below 1 (or NaN) the capacities would not cover the load and could refuse every target.
    this.boundedLoad = hash.boundedLoad >= 1 ? hash.boundedLoad : 1;
    this.algorithm = hash.algorithm === 'maglev' ? 'maglev' : 'ring';
    this.keyless = new SmoothWeightedBalancer(targets, slowStartMs);
    this.build(targets);
  }

  /**
   * Builds the layout again over the new list. Points and table turns derive from each
   * target's identity, so on a ring a target joining takes keys only for itself and one
   * leaving gives away only its own; with Maglev about 1/N of the other keys move too.
   */
  update(targets: readonly Target[]): void {
    this.keyless.update(targets);
    this.build(targets);
  }

  private build(targets: readonly Target[]): void {
    this.targets = targets;
    const n = targets.length;
    this.seen = new Uint32Array(n);
    this.epoch = 0;
    this.admitSeeds = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.admitSeeds[i] = murmur3(identityOf(targets[i]!), SEED_SLOW_START);
    if (this.algorithm === 'maglev') {
      this.points = null;
      this.bucketStart = null;
      this.bucketShift = 0;
      this.owners = buildMaglevTable(targets);
    } else {
      const ring = buildRing(targets);
      this.points = ring.points;
      this.owners = ring.owners;
      const bits = Math.min(20, Math.max(1, Math.ceil(Math.log2(Math.max(1, ring.points.length)))));
      this.bucketShift = 32 - bits;
      this.bucketStart = bucketIndex(ring.points, bits);
    }
    const marks = new Uint8Array(n);
    let present = 0;
    for (let i = 0; i < this.owners.length; i++) {
      const o = this.owners[i]!;
      if (marks[o] === 0) {
        marks[o] = 1;
        present++;
      }
    }
    this.present = present;
    this.layout = { algorithm: this.algorithm, size: this.owners.length };
  }

  pick(ctx: PickContext): Target | null {
    const key = ctx.hashKey;
    if (key === null) return this.keyless.pick(ctx);
    const targets = this.targets;
    const owners = this.owners;
    const size = owners.length;
    if (size === 0) return this.keyless.pick(ctx);
    const slowStartMs = this.slowStartMs;
    this.perWeight[0] = -1; // computed when first needed

    // Signed where it is passed to calls, unsigned for ordering (see `murmur3`).
    const hs = murmur3(key, SEED_KEY);
    const h = hs >>> 0;
    let pos: number;
    const points = this.points;
    if (points === null) {
      // Multiply-shift (Lemire) rather than `h % size`: an unsigned 32-bit h is not an int32
      // to V8, so `%` would be a floating-point modulo, several times slower. Exact, since
      // h × size < 2^53.
      pos = Math.floor(h * size * 2.3283064365386963e-10);
    } else {
      const bucketStart = this.bucketStart!;
      const b = h >>> this.bucketShift;
      pos = bucketStart[b]!;
      const end = bucketStart[b + 1]!;
      while (pos < end && points[pos]! < h) pos++;
      if (pos === size) pos = 0;
    }

    // Wraps well inside V8's small integers, so the field is never boxed.
    let epoch = this.epoch + 1;
    if (epoch > 0x3fff_ffff) {
      this.seen.fill(0);
      epoch = 1;
    }
    this.epoch = epoch;
    const seen = this.seen;
    let distinct = 0;
    // Fallbacks if the walk finds no target that takes the key: first one under capacity
    // (refused only by slow start), else the first usable one.
    let underCapacity: Target | null = null;
    let anyUsable: Target | null = null;
    for (let steps = 0; steps < size; steps++) {
      const o = owners[pos]!;
      pos = pos + 1 === size ? 0 : pos + 1;
      if (seen[o] === epoch) continue;
      seen[o] = epoch;
      const t = targets[o]!;
      if (usable(t, ctx)) {
        anyUsable ??= t;
        if (this.underCapacity(t, ctx)) {
          underCapacity ??= t;
          if (slowStartMs <= 0 || this.admits(t, o, hs, ctx)) return t;
        }
      }
      if (++distinct === this.present) break;
    }
    return underCapacity ?? anyUsable ?? this.keyless.pick(ctx);
  }

  /**
   * Whether the target is below its bounded-load capacity. An idle target always is (a
   * capacity is at least 1), which spares the O(targets) sum on a lightly loaded upstream.
   */
  private underCapacity(t: Target, ctx: PickContext): boolean {
    const inFlight = t.inFlight;
    if (inFlight === 0) return true;
    const perWeight = this.perWeight;
    if (perWeight[0]! < 0) this.computeCapacityPerWeight(ctx);
    return inFlight < Math.ceil(perWeight[0]! * effectiveWeight(t, ctx.now, this.slowStartMs));
  }

  /**
   * Sets `perWeight[0]` to `boundedLoad × (in-flight requests of usable targets + 1) / their
   * effective weights`. Through a typed array, and helpers take `ctx` rather than `ctx.now`,
   * because V8 boxes a floating-point number passed to or returned from a call it did not
   * inline: an allocation per pick.
   */
  private computeCapacityPerWeight(ctx: PickContext): void {
    const targets = this.targets;
    let load = 0;
    let weights = 0;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      if (!usable(t, ctx)) continue;
      load += t.inFlight;
      weights += effectiveWeight(t, ctx.now, this.slowStartMs);
    }
    // Only called with a usable candidate, so weights is 0 only if all weights are 0: then
    // the division gives Infinity and no capacity binds. (No `weights > 0 ? … : Infinity`:
    // V8 boxes the result of a branch joining a computed double with a constant.)
    this.perWeight[0] = (this.boundedLoad * (load + 1)) / weights;
  }

  /** Slow start: whether target `o` takes the key of (signed) hash `h` at its current ramp factor. */
  private admits(t: Target, o: number, h: number, ctx: PickContext): boolean {
    const factor = t.slowStartFactor(ctx.now, this.slowStartMs);
    return factor >= 1 || fmix32(h ^ this.admitSeeds[o]!) >>> 0 < factor * 0x1_0000_0000;
  }
}

/**
 * What a target's place on the ring and in the table derives from: its origin and base
 * path, so it stays put across reloads, reorderings and renames of the upstream.
 */
function identityOf(t: Target): string {
  return t.origin + t.basePath;
}

/**
 * For each of the `2^bits` buckets of the top `bits` bits, the index of the first point in
 * or after it; one extra entry at the end holds `points.length`.
 */
function bucketIndex(points: Uint32Array, bits: number): Uint32Array {
  const buckets = 2 ** bits;
  const shift = 32 - bits;
  const index = new Uint32Array(buckets + 1);
  let p = 0;
  for (let b = 0; b < buckets; b++) {
    while (p < points.length && points[p]! >>> shift < b) p++;
    index[b] = p;
  }
  index[buckets] = points.length;
  return index;
}

function ownerArray(n: number, size: number): Uint16Array | Uint32Array {
  // 0xffff is kept free as Maglev's "empty" mark.
  return n < 0xffff ? new Uint16Array(size) : new Uint32Array(size);
}

/** Usable construction weight: a non-positive or non-finite weight owns nothing. */
function buildWeight(t: Target): number {
  return t.weight > 0 && Number.isFinite(t.weight) ? t.weight : 0;
}

function buildRing(targets: readonly Target[]): { points: Uint32Array; owners: Uint16Array | Uint32Array } {
  const n = targets.length;
  let total = 0;
  for (const t of targets) total += buildWeight(t) * RING_POINTS_PER_WEIGHT;
  const scale = total > RING_MAX_POINTS ? RING_MAX_POINTS / total : 1;
  const counts = new Uint32Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const w = buildWeight(targets[i]!);
    counts[i] = w > 0 ? Math.max(1, Math.floor(w * RING_POINTS_PER_WEIGHT * scale)) : 0;
    size += counts[i]!;
  }
  const rawPoints = new Uint32Array(size);
  const rawOwners = new Uint32Array(size);
  const identities = targets.map(identityOf);
  let at = 0;
  for (let i = 0; i < n; i++) {
    for (let v = 0; v < counts[i]!; v++) {
      // Point v of a target depends only on its identity and v: other targets joining or
      // leaving, or the list being reordered, never moves it.
      rawPoints[at] = murmur3(identities[i]!, v) >>> 0;
      rawOwners[at] = i;
      at++;
    }
  }
  const order = Array.from({ length: size }, (_, i) => i);
  // Equal points (rare) are ordered by identity, not list position, for the same reason.
  order.sort((a, b) => rawPoints[a]! - rawPoints[b]! || compareStrings(identities[rawOwners[a]!]!, identities[rawOwners[b]!]!));
  const points = new Uint32Array(size);
  const owners = ownerArray(n, size);
  for (let i = 0; i < size; i++) {
    points[i] = rawPoints[order[i]!]!;
    owners[i] = rawOwners[order[i]!]!;
  }
  return { points, owners };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The Maglev table size for n targets: 65537, or the first prime ≥ 100 × n above that. */
export function maglevTableSize(n: number): number {
  let m = Math.max(MAGLEV_MIN_TABLE_SIZE, 100 * n);
  while (!isPrime(m)) m++;
  return m;
}

function isPrime(m: number): boolean {
  if (m < 2) return false;
  if (m % 2 === 0) return m === 2;
  for (let d = 3; d * d <= m; d += 2) if (m % d === 0) return false;
  return true;
}

function buildMaglevTable(targets: readonly Target[]): Uint16Array | Uint32Array {
  const n = targets.length;
  let maxWeight = 0;
  for (const t of targets) maxWeight = Math.max(maxWeight, buildWeight(t));
  if (maxWeight === 0) return ownerArray(n, 0);
  const size = maglevTableSize(n);
  const table = ownerArray(n, size);
  const empty = table instanceof Uint16Array ? 0xffff : 0xffff_ffff;
  table.fill(empty);
  // Each target's permutation of the slots is offset, offset + skip, offset + 2·skip, … mod
  // size; size being prime and skip in [1, size) makes it visit every slot.
  const identities = targets.map(identityOf);
  const cursor = new Float64Array(n);
  const skip = new Float64Array(n);
  const weight = new Float64Array(n);
  const credit = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const id = identities[i]!;
    cursor[i] = (murmur3(id, SEED_MAGLEV_OFFSET) >>> 0) % size;
    skip[i] = ((murmur3(id, SEED_MAGLEV_SKIP) >>> 0) % (size - 1)) + 1;
    weight[i] = buildWeight(targets[i]!);
  }
  // Turns are taken in identity order, not list order, so reordering the targets in the
  // config yields the same table (Envoy sorts its hosts for the same reason).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => compareStrings(identities[a]!, identities[b]!));
  let filled = 0;
  for (let round = 0; filled < size; round++) {
    for (let k = 0; k < n && filled < size; k++) {
      const i = order[k]!;
      // A target of the top weight takes a turn every round, one of a third of it every
      // third round: table shares follow weights (Envoy's weighted Maglev).
      const w = weight[i]!;
      if (w === 0 || round * w < credit[i]!) continue;
      credit[i]! += maxWeight;
      let c = cursor[i]!;
      while (table[c] !== empty) {
        c += skip[i]!;
        if (c >= size) c -= size;
      }
      table[c] = i;
      c += skip[i]!;
      cursor[i] = c >= size ? c - size : c;
      filled++;
    }
  }
  return table;
}
