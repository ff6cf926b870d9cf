import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyTracker } from '../latency.js';
import type { Target } from '../target.js';
import { autoHedgeBaseMs, recordTargetHeadLatency } from './hedge-delay.js';

/** Stand-ins: the delay reads only the upstream's targets (as keys) and its own tracker. */
function upstreamOf(n: number) {
  const targets = Array.from({ length: n }, () => ({}) as Target);
  return { targets, latency: new LatencyTracker() };
}

function feed(up: ReturnType<typeof upstreamOf>, target: Target, ms: number, count: number): void {
  for (let i = 0; i < count; i++) {
    recordTargetHeadLatency(target, ms);
    up.latency.record(ms);
  }
}

describe('hedge: auto delay base', () => {
  it('is 0 before anything is measured (no automatic hedge yet)', () => {
    assert.equal(autoHedgeBaseMs(upstreamOf(3), 1_000), 0);
  });

  it("is not lifted by one slow target's own answers: the typical target's p99 counts", () => {
    const up = upstreamOf(3);
    const [slow, a, b] = up.targets as [Target, Target, Target];
    feed(up, a, 2, 500);
    feed(up, b, 2, 500);
    // 5% of all answers from a target 500 ms slow: the upstream-wide p99 is its latency.
    feed(up, slow, 500, 50);
    assert.ok(up.latency.p99() >= 400, `upstream-wide p99 ${up.latency.p99()}`);
    const base = autoHedgeBaseMs(up, 2_000);
    assert.ok(base > 0 && base < 5, `base ${base} ms`);
  });

  it('stays high when every target is slow (a slow endpoint is not hedged)', () => {
    const up = upstreamOf(3);
    for (const t of up.targets) feed(up, t, 2000, 100);
    assert.ok(autoHedgeBaseMs(up, 3_000) >= 1600);
  });

  it('is never later than the upstream-wide p99 (a target with too few samples does not count)', () => {
    const up = upstreamOf(3);
    const [a, b] = up.targets as [Target, Target];
    feed(up, a, 300, 100);
    feed(up, b, 300, 10); // too few to count on its own
    up.latency.record(300);
    for (let i = 0; i < 20_000; i++) up.latency.record(3); // the other traffic: 99.4% fast
    assert.ok(autoHedgeBaseMs(up, 4_000) < 5, 'the upstream-wide p99, which is smaller');
  });
});
