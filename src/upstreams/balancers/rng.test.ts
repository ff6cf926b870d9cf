import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from './rng.js';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference output for state 1, 2, 3, 4', () => {
    const rng = Rng.fromState(1, 2, 3, 4);
    assert.deepEqual(
      Array.from({ length: 6 }, () => rng.next() >>> 0),
      [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
    );
  });

  it('is reproducible for a seed and differs between default seeds', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
    const c = new Rng();
    const d = new Rng();
    const same = Array.from({ length: 8 }, () => c.next() === d.next()).filter(Boolean).length;
    assert.ok(same < 8);
  });

  it('below(n) is in range and even (each of 10 buckets within ±3% over 200k draws)', () => {
    const rng = new Rng(3);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 200_000; i++) {
      const x = rng.below(10);
      assert.ok(Number.isInteger(x) && x >= 0 && x < 10);
      counts[x]!++;
    }
    for (const c of counts) assert.ok(Math.abs(c - 20_000) < 600, `bucket ${c}`);
    assert.equal(rng.below(1), 0);
  });

  it('float() is in [0, 1)', () => {
    const rng = new Rng(5);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) {
      const f = rng.float();
      assert.ok(f >= 0 && f < 1);
      sum += f;
    }
    assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.01);
  });
});
