import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertShares, makeCtx, makeTargets, shares, simulate } from './fakes.js';
import { P2cEwmaBalancer } from './p2c-ewma.js';
import { Rng } from './rng.js';

// Seeded generators: the statistical assertions below are reproducible, not flaky.
let seed = 1;

describe('P2cEwmaBalancer', () => {
  it('equal latencies: near even (±5% over 60k picks, ≥ 6 standard deviations), idle or loaded', () => {
    for (const concurrency of [0, 40]) {
      const targets = makeTargets([1, 1, 1, 1, 1]);
      for (const t of targets) t.ewmaMs = 5;
      const b = new P2cEwmaBalancer(targets, 0, new Rng(seed++));
      assertShares(simulate(b, targets, makeCtx(), 60_000, concurrency), [1, 1, 1, 1, 1], 0.05, `concurrency ${concurrency}`);
    }
  });

  it('a target with 10× the latency gets far less traffic', () => {
    for (const concurrency of [0, 40]) {
      const targets = makeTargets([1, 1, 1, 1, 1]);
      for (const t of targets) t.ewmaMs = 5;
      targets[0]!.ewmaMs = 50;
      const b = new P2cEwmaBalancer(targets, 0, new Rng(seed++));
      const slow = shares(simulate(b, targets, makeCtx(), 40_000, concurrency))[0]!;
      // A fair share is 20%.
      assert.ok(slow < 0.04, `slow target got ${(slow * 100).toFixed(2)}% at concurrency ${concurrency}`);
    }
  });

  it('honours weights roughly under load (1:3 within ±10%)', () => {
    const targets = makeTargets([1, 3]);
    for (const t of targets) t.ewmaMs = 5;
    const b = new P2cEwmaBalancer(targets, 0, new Rng(seed++));
    assertShares(simulate(b, targets, makeCtx(), 40_000, 40), [1, 3], 0.1, 'p2c weights');
  });

  it('never compares a target with itself: with two usable targets, the cheaper always wins', () => {
    const targets = makeTargets([1, 1, 1, 1]);
    targets[0]!.available = false;
    targets[3]!.available = false;
    targets[1]!.ewmaMs = 10;
    targets[2]!.ewmaMs = 11;
    const b = new P2cEwmaBalancer(targets, 0, new Rng(seed++));
    for (let i = 0; i < 500; i++) assert.equal(b.pick(makeCtx()), targets[1]);
    const pair = makeTargets([1, 1]);
    pair[0]!.ewmaMs = 3;
    pair[1]!.ewmaMs = 2;
    const p = new P2cEwmaBalancer(pair, 0, new Rng(seed++));
    for (let i = 0; i < 500; i++) assert.equal(p.pick(makeCtx()), pair[1]);
  });

  it('costs a target without a sample at the median of the known latencies', () => {
    // Median of [10] is 10: the new target ties with the known one and shares evenly. A 1 ms
    // default would send it everything, a high one nothing.
    const targets = makeTargets([1, 1]);
    targets[0]!.ewmaMs = 10;
    const b = new P2cEwmaBalancer(targets, 0, new Rng(seed++));
    assertShares(simulate(b, targets, makeCtx(), 20_000, 0), [1, 1], 0.05, 'median default');
    // Median of [10, 30, 1000] is 30: beats the 1000 ms target, loses to the 10 ms one.
    const four = makeTargets([1, 1, 1, 1]);
    four[0]!.ewmaMs = 10;
    four[1]!.ewmaMs = 30;
    four[2]!.ewmaMs = 1000;
    const c = simulate(new P2cEwmaBalancer(four, 0, new Rng(seed++)), four, makeCtx(), 20_000, 0);
    assert.equal(c[2], 0, 'the 1000 ms target loses every comparison');
    assert.ok(c[0]! > c[3]! && c[3]! > 0, `counts ${c.join(',')}`);
  });

  it('with no sample anywhere, balances by load alone', () => {
    const targets = makeTargets([1, 1, 1]);
    const b = new P2cEwmaBalancer(targets, 0, new Rng(seed++));
    assertShares(simulate(b, targets, makeCtx(), 30_000, 20), [1, 1, 1], 0.03, 'no samples');
  });

  it('lets a stale high latency fade, so a shunned target is probed again', () => {
    const targets = makeTargets([1, 1, 1]);
    targets[0]!.ewmaMs = 10_000;
    targets[1]!.ewmaMs = 10;
    targets[2]!.ewmaMs = 10;
    const b = new P2cEwmaBalancer(targets, 0, new Rng(seed++));
    const ctx = makeCtx({ now: 1e12 });
    assert.equal(simulate(b, targets, ctx, 5000, 5)[0], 0);
    // 2 minutes on, while the others kept getting samples (their EWMA moved) and the shunned
    // one got none: 10 000 × e^-12 ≈ 0.06 ms, now the cheapest, so it is tried again.
    ctx.now += 120_000;
    targets[1]!.ewmaMs = 10.5;
    targets[2]!.ewmaMs = 10.5;
    assert.ok(simulate(b, targets, ctx, 5000, 5)[0]! > 500);
    // A new sample counts in full again at once.
    targets[0]!.ewmaMs = 9_000;
    assert.equal(simulate(b, targets, ctx, 5000, 5)[0], 0);
  });
});
