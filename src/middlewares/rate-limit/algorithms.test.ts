import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gcra, newDecision, slidingWindow, type Decision } from './algorithms.js';

const MS = 1000;
const S = 1_000_000;

/** Runs GCRA like the memory store: commit on allow. */
function gcraKey(intervalUs: number, burst: number) {
  let tat = 0;
  const d = newDecision();
  return (nowUs: number): Decision => {
    gcra(d, tat, nowUs, { intervalUs, burst });
    if (d.allowed) tat = d.s0;
    return { ...d };
  };
}

function windowKey(windowUs: number, limit: number) {
  let win = -2;
  let cur = 0;
  let prev = 0;
  const d = newDecision();
  return (nowUs: number): Decision => {
    slidingWindow(d, win, cur, prev, nowUs, { windowUs, limit });
    if (d.allowed) [win, cur, prev] = [d.s0, d.s1, d.s2];
    return { ...d };
  };
}

describe('GCRA', () => {
  // 10 per second, bucket of 3: one token every 100 ms.
  it('lets a burst through, then one request per interval', () => {
    const hit = gcraKey(100 * MS, 3);
    const t0 = 5 * S;
    assert.deepEqual(
      [hit(t0), hit(t0), hit(t0)].map((d) => [d.allowed, d.remaining, d.resetUs]),
      [
        [true, 2, 100 * MS],
        [true, 1, 100 * MS],
        [true, 0, 100 * MS],
      ],
    );
    const refused = hit(t0);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryUs, 100 * MS);
    assert.equal(refused.remaining, 0);
    // 99.999 ms later: still refused, by exactly 1 µs.
    assert.equal(hit(t0 + 100 * MS - 1).retryUs, 1);
    // One token has come back.
    const next = hit(t0 + 100 * MS);
    assert.equal(next.allowed, true);
    assert.equal(next.remaining, 0);
    assert.equal(hit(t0 + 150 * MS).retryUs, 50 * MS);
  });

  it('a refused request costs nothing: hammering does not push the next token back', () => {
    const hit = gcraKey(100 * MS, 1);
    assert.equal(hit(0).allowed, true);
    for (let t = 1; t < 100 * MS; t += 7 * MS) assert.equal(hit(t).allowed, false);
    assert.equal(hit(100 * MS).allowed, true);
  });

  it('refills completely after a quiet spell, but never beyond the burst', () => {
    const hit = gcraKey(100 * MS, 3);
    for (let i = 0; i < 3; i++) hit(0);
    assert.equal(hit(0).allowed, false);
    // 10 s later the bucket is full (3), not 100.
    const later = 10 * S;
    assert.deepEqual(
      [0, 1, 2, 3].map(() => hit(later).allowed),
      [true, true, true, false],
    );
  });

  it('partial refill: remaining counts whole tokens, reset is the time to the next one', () => {
    const hit = gcraKey(100 * MS, 5);
    for (let i = 0; i < 5; i++) hit(0);
    // 250 ms later 2.5 tokens are back; this request takes one.
    const d = hit(250 * MS);
    assert.equal(d.allowed, true);
    assert.equal(d.remaining, 1);
    assert.equal(d.resetUs, 50 * MS);
  });

  it('sustained rate: over 10 s at 50/s offered against 10/s, exactly burst + 10 × 10 pass', () => {
    const hit = gcraKey(100 * MS, 3);
    let allowed = 0;
    for (let t = 0; t <= 10 * S; t += 20 * MS) if (hit(t).allowed) allowed++;
    assert.equal(allowed, 3 + 100);
  });
});

describe('sliding window', () => {
  // 5 per 10 s.
  const W = 10 * S;

  it('allows the limit in a window and estimates across the boundary', () => {
    const hit = windowKey(W, 5);
    const results = [0, 0, 0, 0, 0].map(() => hit(0));
    assert.deepEqual(
      results.map((d) => d.remaining),
      [4, 3, 2, 1, 0],
    );
    const refused = hit(0);
    assert.equal(refused.allowed, false);
    // The next window starts at 10 s with the previous 5 weighted: floor(5 × (1 − e/W)) + 1 ≤ 5 ⇒ e > 0.
    assert.equal(refused.retryUs, 10 * S + 1);
    assert.equal(hit(5 * S).retryUs, 5 * S + 1);
    assert.equal(hit(10 * S).allowed, false);
    const passed = hit(10 * S + 1);
    assert.equal(passed.allowed, true);
    assert.equal(passed.remaining, 0);
    // floor(5 × (1 − e/W)) + 1 ≤ 4 once e > 2 s.
    assert.equal(passed.resetUs, 2 * S);
    assert.equal(hit(12 * S).allowed, false);
    assert.equal(hit(12 * S + 1).allowed, true);
    // A steady client gets its full rate: one more every 2 s as the old window fades.
    assert.equal(hit(14 * S).allowed, false);
    assert.equal(hit(14 * S + 1).allowed, true);
  });

  it('forgets windows older than the previous one', () => {
    const hit = windowKey(W, 2);
    hit(0);
    hit(0);
    assert.equal(hit(1).allowed, false);
    assert.deepEqual(
      [hit(25 * S), hit(25 * S), hit(25 * S)].map((d) => d.allowed),
      [true, true, false],
    );
  });

  it('limit 1: the retry is just past the window end', () => {
    const hit = windowKey(W, 1);
    assert.equal(hit(3 * S).allowed, true);
    assert.equal(hit(4 * S).retryUs, 6 * S + 1);
    assert.equal(hit(10 * S).allowed, false);
    assert.equal(hit(10 * S + 1).allowed, true);
  });

  it('never lets more than about rate through in any window of length per', () => {
    const hit = windowKey(S, 10);
    const times: number[] = [];
    for (let t = 0; t < 20 * S; t += 13 * MS) if (hit(t).allowed) times.push(t);
    let worst = 0;
    for (let i = 0; i < times.length; i++) {
      let j = i;
      while (j < times.length && times[j]! < times[i]! + S) j++;
      worst = Math.max(worst, j - i);
    }
    // The two-window estimate is approximate: at most one over the limit in any window…
    assert.ok(worst <= 11, `worst window held ${worst}`);
    // …and a steady client gets the full rate (10/s for 20 s).
    assert.ok(times.length >= 198 && times.length <= 201, `allowed ${times.length}`);
  });
});
