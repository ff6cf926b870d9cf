import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Autoscaler } from './autoscaler.js';
import type { ScaleConfig } from './config/types.js';

const base: ScaleConfig = { targetInFlight: 8, targetP95Ms: null, targetCpuPercent: null, tolerance: 0.1, windowMs: 10_000, upAfterMs: 0, downAfterMs: 60_000, command: null, commandTimeoutMs: 60_000 };

function scaler(over: Partial<ScaleConfig> = {}) {
  return new Autoscaler({ ...base, ...over });
}

describe('the autoscaler (HPA rule)', () => {
  it('aims at targetInFlight per ready instance: desired = ceil(current × metric / target)', () => {
    const a = scaler();
    a.observe({ at: 0, inFlight: 60, ready: 3, cpuPercent: null }); // 20 per instance
    assert.deepEqual(a.decide(0, 3, null, 2, 10), { desired: 8, reason: 'in-flight 20/instance, target 8' }); // ceil(3 × 20 / 8) = 8
  });

  it('averages over the window and stays within min..max', () => {
    const a = scaler();
    a.observe({ at: 0, inFlight: 300, ready: 3, cpuPercent: null });
    a.observe({ at: 1000, inFlight: 0, ready: 3, cpuPercent: null });
    assert.equal(a.decide(1000, 3, null, 2, 6)!.desired, 6, 'mean 50/instance: 19, capped at max');
    const b = scaler();
    b.observe({ at: 0, inFlight: 0, ready: 4, cpuPercent: null });
    assert.equal(b.decide(0, 4, null, 2, 6)!.desired, 4, 'down is held by the stabilisation window (the count at start counts)');
    b.observe({ at: 60_000, inFlight: 0, ready: 4, cpuPercent: null });
    assert.equal(b.decide(60_000, 4, null, 2, 6)!.desired, 2, 'then min');
  });

  it('does nothing within the tolerance', () => {
    const a = scaler();
    a.observe({ at: 0, inFlight: 26, ready: 3, cpuPercent: null }); // 8.67 per instance: +8%
    assert.equal(a.decide(0, 3, null, 1, 10)!.desired, 3);
    a.observe({ at: 100, inFlight: 30, ready: 3, cpuPercent: null }); // mean 9.33: +17%
    assert.equal(a.decide(100, 3, null, 1, 10)!.desired, 4);
  });

  it('scales down only to the highest recommendation of the last scaleDownAfter', () => {
    const a = scaler({ windowMs: 1000, downAfterMs: 10_000 });
    a.observe({ at: 0, inFlight: 48, ready: 6, cpuPercent: null }); // 8/instance: stay at 6
    assert.equal(a.decide(0, 6, null, 1, 10)!.desired, 6);
    a.observe({ at: 2000, inFlight: 6, ready: 6, cpuPercent: null }); // 1/instance: 1
    assert.equal(a.decide(2000, 6, null, 1, 10)!.desired, 6, 'the 6 of t=0 is still in the window');
    a.observe({ at: 11_000, inFlight: 6, ready: 6, cpuPercent: null });
    assert.equal(a.decide(11_000, 6, null, 1, 10)!.desired, 1);
  });

  it('scales up only to the lowest recommendation of the last scaleUpAfter', () => {
    const a = scaler({ windowMs: 1000, upAfterMs: 5000 });
    a.observe({ at: 0, inFlight: 24, ready: 3, cpuPercent: null });
    assert.equal(a.decide(0, 3, null, 1, 10)!.desired, 3);
    a.observe({ at: 2000, inFlight: 80, ready: 3, cpuPercent: null });
    assert.equal(a.decide(2000, 3, null, 1, 10)!.desired, 3, 'a burst of 2 s does not add instances yet');
    a.observe({ at: 5500, inFlight: 80, ready: 3, cpuPercent: null });
    assert.equal(a.decide(5500, 3, null, 1, 10)!.desired, 10);
  });

  it('takes the highest recommendation over in-flight, CPU and p95; none without a reading', () => {
    const a = scaler({ targetCpuPercent: 50, targetP95Ms: 100 });
    assert.equal(a.decide(0, 3, null, 1, 10), null, 'no sample yet');
    a.observe({ at: 0, inFlight: 3, ready: 3, cpuPercent: 270 }); // 90% each: ceil(3 × 1.8) = 6
    assert.deepEqual(a.decide(0, 3, 150, 1, 10), { desired: 6, reason: 'cpu% 90/instance, target 50' });
    assert.equal(a.decide(1, 3, 400, 1, 10)!.desired, 10, 'p95 400 over 100: ceil(3 × 4) = 12, capped at max');
  });
});
