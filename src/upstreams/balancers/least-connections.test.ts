import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertShares, makeCtx, makeTargets, simulate } from './fakes.js';
import { LeastConnectionsBalancer } from './least-connections.js';

describe('LeastConnectionsBalancer', () => {
  it('picks the target with the lowest (inFlight + 1) / weight', () => {
    const targets = makeTargets([1, 1, 1]);
    const b = new LeastConnectionsBalancer(targets, 0);
    targets[0]!.inFlight = 5;
    targets[1]!.inFlight = 2;
    targets[2]!.inFlight = 4;
    for (let i = 0; i < 10; i++) assert.equal(b.pick(makeCtx()), targets[1]);
    // Weight 3 with 7 in flight scores 8/3 ≈ 2.67: below weight 1 with 2 in flight (3/1).
    const weighted = makeTargets([1, 3]);
    const w = new LeastConnectionsBalancer(weighted, 0);
    weighted[0]!.inFlight = 2;
    weighted[1]!.inFlight = 7;
    assert.equal(w.pick(makeCtx()), weighted[1]);
  });

  it('shares ties evenly by rotating the start (equal weights, nothing in flight)', () => {
    const targets = makeTargets([1, 1, 1, 1]);
    const b = new LeastConnectionsBalancer(targets, 0);
    assertShares(simulate(b, targets, makeCtx(), 4000, 0), [1, 1, 1, 1], 0.001, 'ties');
  });

  it('weights 1:2:3 with 60 requests in flight: shares within ±3% over 60k picks', () => {
    const targets = makeTargets([1, 2, 3]);
    const b = new LeastConnectionsBalancer(targets, 0);
    assertShares(simulate(b, targets, makeCtx(), 60_000, 60), [1, 2, 3], 0.03, 'least-connections');
    for (const t of targets) assert.equal(t.inFlight, 0, 'simulation drained');
  });

  it('keeps in-flight counts in proportion to weight', () => {
    const targets = makeTargets([1, 4]);
    const b = new LeastConnectionsBalancer(targets, 0);
    const ctx = makeCtx();
    for (let i = 0; i < 50; i++) b.pick(ctx)!.inFlight++;
    assert.deepEqual(
      targets.map((t) => t.inFlight),
      [10, 40],
    );
  });
});
