// Every balancer follows a live target set: `update(targets)` after targets join, leave or
// change weight, and picks go only to the new list from then on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BalancerKind, HashConfig, UpstreamConfig } from '../../config/types.js';
import type { Target } from '../target.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { assertShares, makeCtx, makeTargets, simulate } from './fakes.js';
import { createBalancer, type Balancer } from './index.js';

const KINDS: readonly BalancerKind[] = ['p2c-ewma', 'round-robin', 'weighted-round-robin', 'least-connections', 'random', 'consistent-hash'];

function configFor(balancer: BalancerKind, hash: HashConfig | null = null): UpstreamConfig {
  const h = hash ?? (balancer === 'consistent-hash' ? { source: 'header', name: 'x-user', algorithm: 'ring', boundedLoad: 1.25 } : null);
  return { name: 'u', balancer, hash: h, stickySession: null, slowStartMs: 0 } as Partial<UpstreamConfig> as UpstreamConfig;
}

/** Picks per target (by object) over `n` picks, with keys `k0…` for consistent hashing. */
function countPicks(pick: (key: string) => Target | null, n: number): Map<Target, number> {
  const counts = new Map<Target, number>();
  for (let i = 0; i < n; i++) {
    const t = pick(`k${i}`);
    assert.ok(t !== null, 'a target was picked');
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return counts;
}

const keys = Array.from({ length: 5000 }, (_, i) => `user-${i}`);

/** The target a balancer gives each key to. */
function keyOwner(balancer: Balancer): (key: string) => Target | null {
  const ctx = makeCtx();
  return (key) => {
    ctx.hashKey = key;
    return balancer.pick(ctx);
  };
}

describe('balancers follow membership changes', () => {
  for (const kind of KINDS) {
    it(`${kind}: a target that joins gets traffic, one that leaves gets none, and shrinking never picks past the end`, () => {
      const [a, b, c, d] = makeTargets([1, 1, 1, 1]);
      const balancer = createBalancer(configFor(kind), [a!, b!, c!]);
      const ctx = makeCtx();
      const pick = (key: string) => {
        ctx.hashKey = key;
        return balancer.pick(ctx);
      };
      // Advance any rotating index to the end of the list before it shrinks.
      countPicks(pick, 302);

      balancer.update([a!, b!, c!, d!]);
      const afterAdd = countPicks(pick, 4003);
      assert.ok((afterAdd.get(d!) ?? 0) > 4003 * 0.15, `${kind}: the new target gets its share (${afterAdd.get(d!) ?? 0} of 4003)`);

      balancer.update([b!, d!]);
      const afterRemove = countPicks(pick, 2000);
      assert.deepEqual([...afterRemove.keys()].sort((x, y) => x.origin.localeCompare(y.origin)), [b!, d!], `${kind}: only the remaining targets are picked`);

      balancer.update([]);
      ctx.hashKey = 'k1';
      assert.equal(balancer.pick(ctx), null, `${kind}: an empty set picks nothing`);
      balancer.update([c!]);
      assert.equal(balancer.pick(ctx), c, `${kind}: a set back from empty picks again`);
    });
  }

  it('weighted-round-robin follows a weight change exactly', () => {
    const targets = makeTargets([1, 1]);
    const balancer = createBalancer(configFor('weighted-round-robin'), targets);
    targets[0]!.weight = 3;
    balancer.update(targets);
    assertShares(simulate(balancer, targets, makeCtx(), 4000, 0), [3, 1], 0.01, 'after reweight');
  });

  it('least-connections keeps counting in-flight requests of targets that stay', () => {
    const [a, b, c] = makeTargets([1, 1, 1]);
    const balancer = createBalancer(configFor('least-connections'), [a!, b!]);
    a!.inFlight = 5;
    balancer.update([a!, b!, c!]);
    const ctx = makeCtx();
    const picks = new Set([balancer.pick(ctx), balancer.pick(ctx), balancer.pick(ctx), balancer.pick(ctx)]);
    assert.ok(!picks.has(a!), 'the busy target is avoided after the update');
  });

  it('consistent-hash ring: a target joining takes keys only for itself, one leaving gives away only its own', () => {
    const targets = makeTargets([1, 1, 1, 1, 1]);
    const balancer = new ConsistentHashBalancer(targets.slice(0, 4), { algorithm: 'ring', boundedLoad: 100 }, 0);
    const ownerOf = keyOwner(balancer);
    const before = keys.map(ownerOf);

    balancer.update(targets);
    const joined = keys.map(ownerOf);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (joined[i] === before[i]) continue;
      moved++;
      assert.equal(joined[i], targets[4], 'a key that moved went to the new target');
    }
    assert.ok(moved > keys.length * 0.1 && moved < keys.length * 0.32, `about 1/5 of the keys moved (${moved})`);

    balancer.update(targets.filter((t) => t !== targets[1]));
    const left = keys.map(ownerOf);
    for (let i = 0; i < keys.length; i++) {
      if (joined[i] !== targets[1]) assert.equal(left[i], joined[i], 'keys of the targets that stay do not move');
      else assert.notEqual(left[i], targets[1]);
    }
  });

  it('consistent-hash maglev: a target leaving moves its own keys and few others', () => {
    const targets = makeTargets([1, 1, 1, 1, 1]);
    const balancer = new ConsistentHashBalancer(targets, { algorithm: 'maglev', boundedLoad: 100 }, 0);
    const ownerOf = keyOwner(balancer);
    const before = keys.map(ownerOf);
    balancer.update(targets.slice(1));
    const after = keys.map(ownerOf);
    let othersMoved = 0;
    let others = 0;
    for (let i = 0; i < keys.length; i++) {
      assert.notEqual(after[i], targets[0]);
      if (before[i] === targets[0]) continue;
      others++;
      if (after[i] !== before[i]) othersMoved++;
    }
    assert.ok(othersMoved < others * 0.1, `few keys of the remaining targets moved (${othersMoved} of ${others})`);
    assert.equal(balancer.layout.algorithm, 'maglev');
  });
});
