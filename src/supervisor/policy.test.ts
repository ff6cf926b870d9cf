import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs, judgeSlow, latencyOf, RestartBudget, type LatencyReading } from './policy.js';

const rule = { p99Ms: 300, windowS: 10, minRequests: 5 };
const answered = (p99Ms: number, requests = 100): LatencyReading => ({ p99Ms, requests, probesMs: [] });
const probed = (...probesMs: number[]): LatencyReading => ({ p99Ms: null, requests: 0, probesMs });

describe('backoff', () => {
  it('doubles from the initial wait, up to the most', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffMs(n, 100, 1000)), [0, 100, 200, 400, 800, 1000]);
    assert.equal(backoffMs(1000, 100, 30_000), 30_000, 'no overflow after many failures');
  });
});

describe('restart budget', () => {
  it('allows N restarts per sliding window, then refuses until the oldest leaves it', () => {
    const b = new RestartBudget(3, 60_000);
    for (const t of [0, 10, 20]) {
      assert.ok(b.allows(t));
      b.spend(t);
    }
    assert.equal(b.allows(30), false);
    assert.equal(b.used(59_999), 3);
    assert.ok(b.allows(60_000), 'the first restart left the window');
    b.clear();
    assert.equal(b.used(60_000), 0);
  });
});

describe('the latency rule', () => {
  it('reads the p99 when the instance answered enough requests, else the median of its probes, else nothing', () => {
    assert.deepEqual(latencyOf(answered(420), rule), { basis: 'p99', valueMs: 420 });
    assert.deepEqual(latencyOf({ p99Ms: 900, requests: 2, probesMs: [510, 505, 30] }, rule), { basis: 'probes', valueMs: 505 });
    assert.deepEqual(latencyOf({ p99Ms: 900, requests: 2, probesMs: [510, 505] }, rule), { basis: 'none', valueMs: 0 });
  });

  it('restarts an instance slow while most of its siblings are not', () => {
    assert.equal(judgeSlow(answered(800), [answered(40), answered(60)], rule).slow, true);
    assert.equal(judgeSlow(probed(505, 510, 502), [answered(40), answered(60)], rule).slow, true, 'judged by its probes when the balancer starves it');
  });

  it('restarts nothing when every instance is slow (a slow database), or when there is no sibling to compare with', () => {
    assert.equal(judgeSlow(answered(800), [answered(700), answered(900)], rule).slow, false);
    assert.equal(judgeSlow(answered(800), [answered(700), answered(40)], rule).slow, false, 'half of the siblings slow is not "most are fine"');
    assert.equal(judgeSlow(answered(800), [], rule).slow, false);
    assert.equal(judgeSlow(answered(800), [probed(1)], rule).slow, false, 'a sibling without a reading does not count');
  });

  it('never calls an instance at or under the threshold slow', () => {
    assert.equal(judgeSlow(answered(300), [answered(10)], rule).slow, false);
    assert.equal(judgeSlow(probed(20, 20, 20), [answered(10)], rule).slow, false);
  });
});
