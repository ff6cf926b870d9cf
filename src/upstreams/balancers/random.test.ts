import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertShares, makeCtx, makeTargets, simulate } from './fakes.js';
import { RandomBalancer } from './random.js';
import { Rng } from './rng.js';

describe('RandomBalancer', () => {
  it('weights 1:2:3 over 120k picks: shares within ±3% (≥ 4.5 standard deviations)', () => {
    const targets = makeTargets([1, 2, 3]);
    const b = new RandomBalancer(targets, 0, new Rng(1));
    assertShares(simulate(b, targets, makeCtx(), 120_000, 0), [1, 2, 3], 0.03, 'random');
  });

  it('redistributes by weight over the usable targets only', () => {
    const targets = makeTargets([1, 5, 2, 1]);
    targets[1]!.available = false;
    const b = new RandomBalancer(targets, 0, new Rng(1));
    const counts = simulate(b, targets, makeCtx(), 80_000, 0);
    assert.equal(counts[1], 0);
    assertShares([counts[0]!, counts[2]!, counts[3]!], [1, 2, 1], 0.04, 'random without target 1');
  });
});
