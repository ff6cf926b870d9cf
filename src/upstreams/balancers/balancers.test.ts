// The contract every balancer keeps, checked over all kinds through createBalancer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BalancerKind, HashConfig, UpstreamConfig } from '../../config/types.js';
import { assertShares, makeCtx, makeTargets, simulate } from './fakes.js';
import { createBalancer, type Balancer } from './index.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { LeastConnectionsBalancer } from './least-connections.js';
import { P2cEwmaBalancer } from './p2c-ewma.js';
import { RandomBalancer } from './random.js';
import { RoundRobinBalancer } from './round-robin.js';
import { SmoothWeightedBalancer } from './smooth-weighted.js';
import type { Target } from '../target.js';

const KINDS: readonly BalancerKind[] = ['p2c-ewma', 'round-robin', 'weighted-round-robin', 'least-connections', 'random', 'consistent-hash'];

/** The fields createBalancer reads; the rest of an UpstreamConfig does not matter here. */
function configFor(balancer: BalancerKind, slowStartMs = 0, hash: HashConfig | null = null): UpstreamConfig {
  const h = hash ?? (balancer === 'consistent-hash' ? { source: 'header', name: 'x-user', algorithm: 'ring', boundedLoad: 1.25 } : null);
  return { name: 'u', balancer, hash: h, stickySession: null, slowStartMs } as Partial<UpstreamConfig> as UpstreamConfig;
}

function indexOf(targets: readonly Target[], t: Target | null): number {
  assert.ok(t !== null, 'a target was picked');
  return targets.indexOf(t);
}

describe('createBalancer', () => {
  it('builds the balancer each kind names', () => {
    const targets = makeTargets([1, 1]);
    assert.ok(createBalancer(configFor('p2c-ewma'), targets) instanceof P2cEwmaBalancer);
    assert.ok(createBalancer(configFor('round-robin'), targets) instanceof RoundRobinBalancer);
    assert.ok(createBalancer(configFor('weighted-round-robin'), targets) instanceof SmoothWeightedBalancer);
    assert.ok(createBalancer(configFor('least-connections'), targets) instanceof LeastConnectionsBalancer);
    assert.ok(createBalancer(configFor('random'), targets) instanceof RandomBalancer);
    const ring = createBalancer(configFor('consistent-hash'), targets);
    assert.ok(ring instanceof ConsistentHashBalancer);
    assert.equal(ring.layout.algorithm, 'ring');
    const maglev = createBalancer(configFor('consistent-hash', 0, { source: 'ip', name: '', algorithm: 'maglev', boundedLoad: 2 }), targets);
    assert.ok(maglev instanceof ConsistentHashBalancer);
    assert.equal(maglev.layout.algorithm, 'maglev');
  });

  it('does not throw for consistent-hash without a hash key (spreads by round robin)', () => {
    const targets = makeTargets([1, 1]);
    const b = createBalancer({ ...configFor('consistent-hash'), hash: null }, targets);
    const ctx = makeCtx();
    const seen = new Set([b.pick(ctx), b.pick(ctx), b.pick(ctx), b.pick(ctx)]);
    assert.equal(seen.size, 2);
    ctx.hashKey = 'k';
    assert.equal(b.pick(ctx), b.pick(ctx));
  });
});

for (const kind of KINDS) {
  describe(`${kind}: contract`, () => {
    const make = (weights: readonly number[], slowStartMs = 0): { b: Balancer; targets: Target[] } => {
      const targets = makeTargets(weights);
      return { b: createBalancer(configFor(kind, slowStartMs), targets), targets };
    };
    const keyOf = (i: number): string | null => (kind === 'consistent-hash' ? `user-${i}` : null);

    it('never picks an unavailable target, and returns null when none is available', () => {
      const { b, targets } = make([1, 2, 3, 1]);
      targets[1]!.available = false;
      targets[2]!.available = false;
      const ctx = makeCtx();
      for (let i = 0; i < 2000; i++) {
        ctx.hashKey = keyOf(i);
        const got = indexOf(targets, b.pick(ctx));
        assert.ok(got === 0 || got === 3, `picked unavailable target ${got}`);
      }
      for (const t of targets) t.available = false;
      for (let i = 0; i < 50; i++) {
        ctx.hashKey = keyOf(i);
        assert.equal(b.pick(ctx), null);
      }
    });

    it('in panic mode uses unavailable targets too', () => {
      const { b, targets } = make([1, 1, 1]);
      for (const t of targets) t.available = false;
      const ctx = makeCtx({ panic: true });
      const seen = new Set<number>();
      for (let i = 0; i < 3000; i++) {
        ctx.hashKey = keyOf(i);
        seen.add(indexOf(targets, b.pick(ctx)));
      }
      assert.equal(seen.size, 3);
    });

    it('never picks an excluded target while another is usable', () => {
      const { b, targets } = make([1, 1, 1, 1, 1]);
      const ctx = makeCtx({ exclude: new Set([targets[0]!, targets[3]!]) });
      const seen = new Set<number>();
      for (let i = 0; i < 3000; i++) {
        ctx.hashKey = keyOf(i);
        const got = indexOf(targets, b.pick(ctx));
        assert.ok(got !== 0 && got !== 3, `picked excluded target ${got}`);
        seen.add(got);
      }
      assert.deepEqual([...seen].sort(), [1, 2, 4]);
      ctx.exclude = new Set(targets);
      assert.equal(b.pick(ctx), null);
    });

    it('handles one target and no targets', () => {
      const one = make([3]);
      const ctx = makeCtx({ hashKey: keyOf(1) });
      assert.equal(one.b.pick(ctx), one.targets[0]);
      one.targets[0]!.available = false;
      assert.equal(one.b.pick(ctx), null);
      const none = make([]);
      assert.equal(none.b.pick(ctx), null);
      assert.equal(none.b.pick(makeCtx()), null);
    });

    it('does not throw on odd numbers (weight 0, NaN latency, huge load)', () => {
      const { b, targets } = make([0, 1, 1000]);
      targets[0]!.ewmaMs = Number.NaN;
      targets[1]!.inFlight = 1e9;
      const ctx = makeCtx();
      for (let i = 0; i < 200; i++) {
        ctx.hashKey = keyOf(i);
        assert.ok(b.pick(ctx) !== null);
      }
    });

    if (kind !== 'round-robin') {
      it('slow start: a target that just came back gets ~10% of its share, all of it once ramped', () => {
        const slowStartMs = 10_000;
        const { b, targets } = make([1, 1, 1], slowStartMs);
        const now = 1e12;
        targets[2]!.availableSince = now;
        const ctx = makeCtx({ now });
        const run = (): number => {
          let hits = 0;
          const picks = 30_000;
          if (kind === 'consistent-hash') {
            for (let i = 0; i < picks; i++) {
              ctx.hashKey = `user-${i}`;
              if (b.pick(ctx) === targets[2]) hits++;
            }
          } else {
            // Load-aware balancers need requests in flight to spread at all.
            hits = simulate(b, targets, ctx, picks, 60)[2]!;
          }
          return hits / picks;
        };
        // Its weight counts 0.1: 0.1 / 2.1 = 4.8% of traffic, where a full share is 33%.
        const ramping = run();
        assert.ok(ramping > 0.02 && ramping < 0.075, `share while ramping ${(ramping * 100).toFixed(2)}%`);
        ctx.now = now + slowStartMs / 2; // factor 0.5: 0.5 / 2.5 = 20%
        const half = run();
        assert.ok(half > 0.14 && half < 0.26, `share half way ${(half * 100).toFixed(2)}%`);
        ctx.now = now + slowStartMs;
        const ramped = run();
        assert.ok(ramped > 0.28 && ramped < 0.39, `share once ramped ${(ramped * 100).toFixed(2)}%`);
      });
    }
  });
}

describe('weighted-round-robin', () => {
  it('weights 1:2:3 over 60k picks give shares within ±1%, smoothly interleaved', () => {
    const targets = makeTargets([1, 2, 3]);
    const b = createBalancer(configFor('weighted-round-robin'), targets);
    assertShares(simulate(b, targets, makeCtx(), 60_000, 0), [1, 2, 3], 0.01, 'weighted-round-robin');
    const seq = Array.from({ length: 6 }, () => targets.indexOf(b.pick(makeCtx())!)).join('');
    assert.equal(seq.length, 6);
    assert.doesNotMatch(seq, /222/, 'no bursts of the heaviest target');
  });
});

describe('round-robin', () => {
  it('rotates over usable targets evenly, ignoring weights', () => {
    const targets = makeTargets([1, 2, 3]);
    const b = createBalancer(configFor('round-robin'), targets);
    assertShares(simulate(b, targets, makeCtx(), 3000, 0), [1, 1, 1], 0.001, 'round-robin');
  });
});
