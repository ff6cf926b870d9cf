import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { LatencyTracker } from './latency.js';

describe('LatencyTracker', () => {
  it('estimates quantiles from log-spaced buckets', () => {
    const t = new LatencyTracker();
    for (let i = 0; i < 990; i++) t.record(2);
    for (let i = 0; i < 10; i++) t.record(400);
    assert.ok(t.p95() >= 2 && t.p95() < 2.6, `p95 ${t.p95()}`);
    assert.ok(t.quantile(0.995) >= 400 && t.quantile(0.995) < 500);
    assert.equal(new LatencyTracker().p99(), 0);
  });

  it('forgets a stall within two windows when traffic is busy, and keeps memory when it is quiet', () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    try {
      const busy = new LatencyTracker(5000);
      busy.p99();
      for (let i = 0; i < 1000; i++) busy.record(i % 3 === 0 ? 2000 : 2); // a stall: a third of the answers took 2 s
      mock.timers.tick(5000);
      assert.ok(busy.p99() >= 2000, 'the stall is in the estimate');
      for (let w = 0; w < 2; w++) {
        for (let i = 0; i < 1000; i++) busy.record(2);
        mock.timers.tick(5000);
        busy.p99();
      }
      assert.ok(busy.p99() < 3, `forgotten after two windows of normal traffic: ${busy.p99()}`);

      const quiet = new LatencyTracker(5000);
      quiet.p99();
      for (let i = 0; i < 50; i++) quiet.record(10);
      for (let w = 0; w < 3; w++) {
        mock.timers.tick(5000);
        quiet.p99();
      }
      assert.equal(quiet.p99() >= 10 && quiet.p99() < 13, true, 'a few samples outlive windows with nothing in them');
      assert.ok(quiet.samples > 0);
    } finally {
      mock.timers.reset();
    }
  });
});
