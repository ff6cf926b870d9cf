import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Target } from '../target.js';
import { ConsistentHashBalancer, maglevTableSize, RING_POINTS_PER_WEIGHT } from './consistent-hash.js';
import { assertShares, makeCtx, makeTargets } from './fakes.js';
import type { PickContext } from './index.js';
import { murmur3 } from './murmur3.js';

const ALGORITHMS = ['ring', 'maglev'] as const;
type Algorithm = (typeof ALGORITHMS)[number];
const KEYS = 10_000;

function build(targets: readonly Target[], algorithm: Algorithm, boundedLoad = 1.25, slowStartMs = 0): ConsistentHashBalancer {
  return new ConsistentHashBalancer(targets, { algorithm, boundedLoad }, slowStartMs);
}

/** The origin each of `KEYS` keys goes to (no load, so bounded load never binds). */
function mapping(b: ConsistentHashBalancer, ctx: PickContext = makeCtx(), keys = KEYS): string[] {
  const out: string[] = [];
  for (let i = 0; i < keys; i++) {
    ctx.hashKey = `user-${i}`;
    out.push(b.pick(ctx)!.origin);
  }
  return out;
}

function moved(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('murmur3', () => {
  /** MurmurHash3_x86_32 over bytes, straight from the reference, to check the string version against. */
  function reference(bytes: Buffer, seed: number): number {
    let h = seed >>> 0;
    let i = 0;
    const mix = (k: number): number => Math.imul(((k = Math.imul(k, 0xcc9e2d51)), (k << 15) | (k >>> 17)), 0x1b873593);
    for (; i + 4 <= bytes.length; i += 4) {
      h ^= mix(bytes.readUInt32LE(i));
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    let k = 0;
    const rest = bytes.length & 3;
    if (rest >= 3) k ^= bytes[i + 2]! << 16;
    if (rest >= 2) k ^= bytes[i + 1]! << 8;
    if (rest >= 1) h ^= mix(k ^ bytes[i]!);
    h ^= bytes.length;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  it('the reference gives the published values', () => {
    assert.equal(reference(Buffer.from(''), 0), 0);
    assert.equal(reference(Buffer.from('abc'), 0), 0xb3dd93fa);
    assert.equal(reference(Buffer.from('Hello, world!'), 1234), 0xfaf6cdb3);
  });

  it('equals MurmurHash3_x86_32 of the UTF-16LE bytes (stable across instances and versions)', () => {
    for (const text of ['', 'a', 'ab', 'abc', 'user-42', 'session=абв', '🙂 emoji', 'x'.repeat(101)]) {
      for (const seed of [0, 1, 0x5bd1e995]) assert.equal(murmur3(text, seed) >>> 0, reference(Buffer.from(text, 'utf16le'), seed), `${text} / ${seed}`);
    }
  });
});

for (const algorithm of ALGORITHMS) {
  describe(`consistent hash (${algorithm})`, () => {
    it('sends the same key to the same target, whatever the order of the targets', () => {
      const targets = makeTargets([1, 2, 1, 3, 1, 1, 2, 1, 1, 1]);
      const a = mapping(build(targets, algorithm));
      assert.deepEqual(mapping(build(targets, algorithm)), a);
      assert.deepEqual(mapping(build([...targets].reverse(), algorithm)), a);
      assert.ok(new Set(a).size === 10, 'keys spread over every target');
    });

    it('honours weights 1:2:3 over 60k keys', () => {
      const targets = makeTargets([1, 2, 3]);
      const b = build(targets, algorithm);
      const counts = [0, 0, 0];
      const ctx = makeCtx();
      for (let i = 0; i < 60_000; i++) {
        ctx.hashKey = `key:${i}`;
        counts[targets.indexOf(b.pick(ctx)!)]!++;
      }
      // A ring's share per target varies by ~1/sqrt(points) (±8% at 160 points); Maglev's
      // table is balanced to within a slot or so, the rest is key sampling noise.
      assertShares(counts, [1, 2, 3], algorithm === 'ring' ? 0.15 : 0.03, algorithm);
    });

    it('removing one of 10 targets moves about 1/10 of the keys', () => {
      const targets = makeTargets([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      const before = mapping(build(targets, algorithm));
      const removed = targets[4]!.origin;
      const after = mapping(build(targets.filter((t) => t.origin !== removed), algorithm));
      const n = moved(before, after);
      assert.ok(n >= (0.5 * KEYS) / 10 && n <= (1.5 * KEYS) / 10, `${n} of ${KEYS} keys moved`);
      for (let i = 0; i < KEYS; i++) if (before[i] === removed) assert.notEqual(after[i], removed);
      if (algorithm === 'ring') {
        // Exactly the removed target's keys move, nothing else.
        for (let i = 0; i < KEYS; i++) assert.equal(after[i] !== before[i], before[i] === removed, `key ${i}`);
      }
    });

    it('adding an 11th target moves about 1/11 of the keys, to it', () => {
      const targets = makeTargets([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      const before = mapping(build(targets.slice(0, 10), algorithm));
      const after = mapping(build(targets, algorithm));
      const n = moved(before, after);
      assert.ok(n >= (0.5 * KEYS) / 11 && n <= (1.5 * KEYS) / 11, `${n} of ${KEYS} keys moved`);
      let toNew = 0;
      for (let i = 0; i < KEYS; i++) if (after[i] !== before[i] && after[i] === targets[10]!.origin) toNew++;
      if (algorithm === 'ring') assert.equal(toNew, n, 'on a ring, keys move only to the new target');
      else assert.ok(toNew >= 0.9 * n, `${toNew} of ${n} moved keys went to the new target`);
    });

    it("moves an unusable target's keys to the others and brings them back when it returns", () => {
      const targets = makeTargets([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      const b = build(targets, algorithm);
      const before = mapping(b);
      const out = targets[6]!;
      out.available = false;
      const during = mapping(b);
      const gained = new Map<string, number>();
      for (let i = 0; i < KEYS; i++) {
        if (before[i] === out.origin) {
          assert.notEqual(during[i], out.origin);
          gained.set(during[i]!, (gained.get(during[i]!) ?? 0) + 1);
        } else {
          assert.equal(during[i], before[i], 'keys of other targets stay put');
        }
      }
      if (algorithm === 'maglev') {
        // The next table slots belong to random targets: the orphaned keys spread over all.
        assert.equal(gained.size, 9);
      }
      out.available = true;
      assert.deepEqual(mapping(b), before);
      // The same for a retry excluding the target.
      const excluded = mapping(b, makeCtx({ exclude: new Set([out]) }));
      assert.deepEqual(excluded, during);
    });

    it('bounded load 1.25: a hot key spills over and no target exceeds its capacity', () => {
      const targets = makeTargets([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      const b = build(targets, algorithm, 1.25);
      const ctx = makeCtx({ hashKey: 'hot' });
      const home = b.pick(ctx)!;
      let total = 0;
      for (let i = 0; i < 1000; i++) {
        const capacity = Math.ceil((1.25 * (total + 1)) / targets.length);
        const t = b.pick(ctx)!;
        if (i === 0) assert.equal(t, home, 'the first request goes to the key’s own target');
        t.inFlight++;
        total++;
        assert.ok(t.inFlight <= capacity, `pick ${i}: ${t.inFlight} in flight > capacity ${capacity}`);
      }
      const max = Math.max(...targets.map((t) => t.inFlight));
      assert.ok(max <= Math.ceil((1.25 * total) / targets.length), `max ${max}`);
      assert.equal(home.inFlight, max, 'the home target is filled to capacity');
      // Once the load drains, the key goes home again.
      for (const t of targets) t.inFlight = 0;
      assert.equal(b.pick(ctx), home);
    });

    it('bounded load scales capacity with weight', () => {
      const targets = makeTargets([1, 3]);
      const b = build(targets, algorithm, 1.25);
      const ctx = makeCtx();
      for (let i = 0; i < 4000; i++) {
        ctx.hashKey = `k${i % 3}`; // three hot keys
        b.pick(ctx)!.inFlight++;
      }
      // Capacity of weight 1 of 4: ceil(1.25 × 4000 / 4) = 1250.
      assert.ok(targets[0]!.inFlight <= 1250, `light target ${targets[0]!.inFlight}`);
      assert.ok(targets[1]!.inFlight <= 3750, `heavy target ${targets[1]!.inFlight}`);
    });

    it('slow start admits a growing, stable set of keys', () => {
      const slowStartMs = 10_000;
      const targets = makeTargets([1, 1, 1, 1]);
      const b = build(targets, algorithm, 1.25, slowStartMs);
      const now = 1e12;
      const full = mapping(b, makeCtx({ now }));
      targets[1]!.availableSince = now;
      const own = full.filter((o) => o === targets[1]!.origin).length;
      const taken = (at: number): Set<number> => {
        const m = mapping(b, makeCtx({ now: at }));
        const s = new Set<number>();
        for (let i = 0; i < KEYS; i++) if (m[i] === targets[1]!.origin) s.add(i);
        return s;
      };
      const early = taken(now);
      const half = taken(now + slowStartMs / 2);
      assert.ok(Math.abs(early.size / own - 0.1) < 0.04, `took ${early.size} of its ${own} keys at first`);
      assert.ok(Math.abs(half.size / own - 0.5) < 0.06, `took ${half.size} of its ${own} keys half way`);
      for (const k of early) assert.ok(half.has(k), 'a key taken early stays taken');
      assert.equal(taken(now + slowStartMs).size, own);
    });

    it('spreads requests without a key by weighted round robin', () => {
      const targets = makeTargets([1, 2]);
      const b = build(targets, algorithm);
      const ctx = makeCtx();
      const counts = [0, 0];
      for (let i = 0; i < 300; i++) counts[targets.indexOf(b.pick(ctx)!)]!++;
      assert.deepEqual(counts, [100, 200]);
    });
  });
}

describe('consistent hash layout', () => {
  it(`ring: ${RING_POINTS_PER_WEIGHT} points per unit of weight`, () => {
    assert.equal(build(makeTargets([1, 2, 3]), 'ring').layout.size, 6 * RING_POINTS_PER_WEIGHT);
  });

  it('ring: very large weights are scaled down, keeping their ratio', () => {
    const b = build(makeTargets([1000, 1000, 500]), 'ring');
    assert.ok(b.layout.size <= 1 << 18);
    const targets = makeTargets([1000, 500]);
    const counts = [0, 0];
    const big = build(targets, 'ring');
    const ctx = makeCtx();
    for (let i = 0; i < 30_000; i++) {
      ctx.hashKey = `k${i}`;
      counts[targets.indexOf(big.pick(ctx)!)]!++;
    }
    assertShares(counts, [2, 1], 0.05, 'scaled ring');
  });

  it('maglev: a prime table of at least 100 slots per target', () => {
    assert.equal(build(makeTargets([1, 1, 1]), 'maglev').layout.size, 65_537);
    assert.equal(maglevTableSize(600), 65_537);
    assert.equal(maglevTableSize(700), 70_001);
  });
});
