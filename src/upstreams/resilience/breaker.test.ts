import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { breakerMessage, CircuitBreaker, type BreakerStateChange } from './breaker.js';
import type { CircuitBreakerConfig } from './overload-schema.js';

const config: CircuitBreakerConfig = { errorRatio: 0.5, minimumRequests: 10, windowMs: 10_000, openMs: 1000, maxOpenMs: 5000, halfOpenRequests: 2 };

function make(over: Partial<CircuitBreakerConfig> = {}): { b: CircuitBreaker; changes: BreakerStateChange[] } {
  const changes: BreakerStateChange[] = [];
  const b = new CircuitBreaker({ ...config, ...over }, { name: 'products', onStateChange: (c) => changes.push(c) });
  return { b, changes };
}

/** Sends `n` requests at `now`, each reporting `success`. */
function send(b: CircuitBreaker, n: number, success: boolean, now: number): void {
  for (let i = 0; i < n; i++) {
    assert.equal(b.allow(now), true, `request ${i} allowed`);
    b.onResult(success, now, b.epoch);
  }
}

/** Drives a fresh breaker to open at t=0 (10 requests, 5 failures). */
function opened(over: Partial<CircuitBreakerConfig> = {}) {
  const m = make(over);
  send(m.b, 5, true, 0);
  send(m.b, 5, false, 0);
  assert.equal(m.b.state, 'open');
  return m;
}

describe('CircuitBreaker: closed → open', () => {
  it('does not open below minimumRequests, whatever the error rate', () => {
    const { b } = make();
    send(b, 9, false, 0);
    assert.equal(b.state, 'closed');
    assert.equal(b.stats(0).windowFailures, 9);
  });

  it('opens at the threshold once the window holds minimumRequests', () => {
    const { b, changes } = make();
    send(b, 5, true, 0);
    send(b, 4, false, 0);
    assert.equal(b.state, 'closed', '4 of 9: below the minimum volume');
    assert.equal(b.allow(0), true);
    b.onResult(false, 0, b.epoch); // 5 of 10 = 50%
    assert.equal(b.state, 'open');
    assert.equal(changes.length, 1);
    assert.deepEqual({ from: changes[0]!.from, to: changes[0]!.to, requests: changes[0]!.requests, failures: changes[0]!.failures, openForMs: changes[0]!.openForMs }, {
      from: 'closed',
      to: 'open',
      requests: 10,
      failures: 5,
      openForMs: 1000,
    });
    assert.match(changes[0]!.reason, /upstream "products": circuit breaker open for 1000ms: 5 of the last 10 requests failed \(50%\)/);
  });

  it('stays closed just below the threshold, and successes never open it', () => {
    const { b } = make();
    send(b, 6, true, 0);
    send(b, 4, false, 0); // 40%
    send(b, 100, true, 0);
    assert.equal(b.state, 'closed');
  });

  it('forgets results that slid out of the window', () => {
    const { b } = make();
    send(b, 9, false, 0);
    // 10 s later the old failures are out; one more failure is 1 of 1 (below the volume).
    send(b, 1, false, 10_500);
    assert.equal(b.state, 'closed');
    assert.equal(b.stats(10_500).windowRequests, 1);
    // Within the window they still count: 9 failures at 5 s + 1 at 9.9 s opens.
    const m = make();
    send(m.b, 9, false, 5000);
    send(m.b, 1, false, 9900);
    assert.equal(m.b.state, 'open');
  });

  it('counts the buckets of the window once each (no double counting when time jumps)', () => {
    const { b } = make({ minimumRequests: 1000 });
    for (let t = 0; t < 30_000; t += 700) send(b, 3, t % 1400 === 0, t);
    const s = b.stats(30_000);
    // Window is 9–10 s of 3 requests every 700 ms: 13 or 14 slots of 3.
    assert.ok(s.windowRequests >= 36 && s.windowRequests <= 45, `windowRequests ${s.windowRequests}`);
  });
});

describe('CircuitBreaker: open → half-open → closed or open', () => {
  it('refuses everything while open, then turns half-open after openDuration', () => {
    const { b, changes } = opened();
    assert.equal(b.allow(999), false);
    assert.equal(b.stats(999).rejected, 1);
    assert.equal(b.retryAfterMs(200), 1000, 'at least 1 s');
    assert.equal(b.allow(1000), true, 'first probe');
    assert.equal(b.state, 'half-open');
    assert.equal(changes.at(-1)!.to, 'half-open');
  });

  it('lets at most halfOpenRequests probes through at once', () => {
    const { b } = opened();
    assert.equal(b.allow(1000), true);
    assert.equal(b.allow(1000), true);
    assert.equal(b.allow(1000), false, 'third concurrent probe refused');
    assert.equal(b.allow(1500), false);
    assert.equal(b.stats(1500).probesInFlight, 2);
  });

  it('closes once halfOpenRequests probes succeeded, with an empty window', () => {
    const { b, changes } = opened();
    assert.equal(b.allow(1000), true);
    const epoch = b.epoch;
    b.onResult(true, 1010, epoch);
    assert.equal(b.state, 'half-open', 'one success of two');
    assert.equal(b.allow(1020), true, 'the freed probe slot takes another probe');
    b.onResult(true, 1030, b.epoch);
    assert.equal(b.state, 'closed');
    assert.equal(changes.at(-1)!.from, 'half-open');
    assert.equal(b.stats(1030).windowRequests, 0);
    // The old failures are gone: 9 more failures do not reopen it.
    send(b, 9, false, 1040);
    assert.equal(b.state, 'closed');
  });

  it('reopens on a failed probe, for twice as long each time, up to maxOpenDuration', () => {
    const { b, changes } = opened();
    let t = 1000;
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      assert.equal(b.allow(t), true, `probe at ${t}`);
      b.onResult(false, t, b.epoch);
      assert.equal(b.state, 'open');
      const d = changes.at(-1)!.openForMs;
      durations.push(d);
      assert.equal(b.allow(t + d - 1), false, 'still open just before the end');
      t += d;
    }
    assert.deepEqual(durations, [2000, 4000, 5000, 5000, 5000]);
    assert.equal(changes.at(-1)!.consecutiveOpenings, 6);
  });

  it('resets the backoff after a successful half-open', () => {
    const { b, changes } = opened();
    b.allow(1000);
    b.onResult(false, 1000, b.epoch); // reopened for 2 s
    assert.equal(changes.at(-1)!.openForMs, 2000);
    b.allow(3000);
    b.allow(3000);
    b.onResult(true, 3000, b.epoch);
    b.onResult(true, 3000, b.epoch);
    assert.equal(b.state, 'closed');
    send(b, 10, false, 3001);
    assert.equal(b.state, 'open');
    assert.equal(changes.at(-1)!.openForMs, 1000, 'back to openDuration');
  });

  it('ignores stale results: a slow request sent while closed neither closes nor reopens it', () => {
    const { b } = make();
    assert.equal(b.allow(0), true);
    const slowEpoch = b.epoch;
    send(b, 5, true, 0);
    send(b, 5, false, 0);
    assert.equal(b.state, 'open');
    assert.equal(b.allow(1000), true);
    const probeEpoch = b.epoch;
    // The slow request from before the opening succeeds now: not a probe.
    b.onResult(true, 1001, slowEpoch);
    b.onResult(true, 1001, slowEpoch);
    assert.equal(b.state, 'half-open');
    assert.equal(b.stats(1001).probesInFlight, 1);
    assert.equal(b.stats(1001).staleResults, 2);
    // …nor does a stale failure reopen it.
    b.onResult(false, 1002, slowEpoch);
    assert.equal(b.state, 'half-open');
    b.onResult(true, 1003, probeEpoch);
    assert.equal(b.allow(1003), true);
    b.onResult(true, 1004, b.epoch);
    assert.equal(b.state, 'closed');
  });

  it('frees a probe slot on release (a cancelled probe), and forgets silent probes after a window', () => {
    const { b } = opened();
    assert.equal(b.allow(1000), true);
    assert.equal(b.allow(1000), true);
    assert.equal(b.allow(1000), false);
    b.release(b.epoch);
    assert.equal(b.allow(1001), true, 'released slot reused');
    assert.equal(b.allow(1002), false);
    // Nobody reports for a whole window: the probes are presumed lost.
    assert.equal(b.allow(1002 + 10_000), true);
  });

  it('survives a throwing state listener', () => {
    const b = new CircuitBreaker(config, {
      onStateChange: () => {
        throw new Error('listener bug');
      },
    });
    send(b, 10, false, 0);
    assert.equal(b.state, 'open');
  });

  it('allocates nothing per result (a million results keep the heap flat)', () => {
    const { b } = make({ minimumRequests: 1_000_000_000 });
    for (let i = 0; i < 10_000; i++) b.onResult(i % 3 === 0, i, b.epoch);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) b.onResult(i % 3 === 0, 10_000 + i / 10, b.epoch);
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 4 * 1024 * 1024, `heap grew ${grown} bytes`);
  });

  it('formats the client message', () => {
    assert.equal(breakerMessage('products', 4200), 'upstream "products" is failing; its circuit breaker is open (retry in 5s)');
  });
});
