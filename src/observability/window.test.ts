import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf } from './histogram.js';
import { WindowSeries, WindowSum } from './window.js';

/** Feeds `perSecond(s)` requests (with an error every `errorEvery`) for `seconds` seconds. */
function feed(series: WindowSeries, from: number, seconds: number, perSecond: (s: number) => number, ms = 10, errorEvery = 0): number {
  let sec = from;
  for (let s = 0; s < seconds; s++) {
    const n = perSecond(s);
    for (let i = 0; i < n; i++) series.add(bucketOf(ms), ms, errorEvery > 0 && i % errorEvery === 0);
    series.roll(++sec);
  }
  return sec;
}

test('a window sums the last N closed seconds; the second in progress is not counted', () => {
  const s = new WindowSeries();
  let sec = feed(s, -1, 10, (i) => i + 1); // 1, 2, …, 10 requests
  s.add(bucketOf(5), 5, false); // in progress
  const w = s.read(sec, 3, new WindowSum());
  assert.equal(w.requests, 8 + 9 + 10);
  assert.equal(w.seconds, 3);
  assert.equal(s.read(sec, 10, new WindowSum()).requests, 55);
  assert.equal(s.requests, 56, 'since-start counts include the second in progress');
  sec = feed(s, sec, 1, () => 0);
  assert.equal(s.read(sec, 1, new WindowSum()).requests, 1);
});

test('rates never divide by more seconds than the series has lived', () => {
  const s = new WindowSeries();
  const sec = feed(s, -1, 5, () => 20);
  const w = s.read(sec, 60, new WindowSum());
  assert.equal(w.requests, 100);
  assert.equal(w.seconds, 5);
});

test('errors and quantiles over a window', () => {
  const s = new WindowSeries();
  let sec = feed(s, -1, 30, () => 10, 200, 0); // old, slow
  sec = feed(s, sec, 10, () => 10, 2, 5); // recent, fast, 20% errors
  const recent = s.read(sec, 10, new WindowSum());
  assert.equal(recent.requests, 100);
  assert.equal(recent.errors, 20);
  assert.ok(recent.quantile(0.99)! <= 2);
  const all = s.read(sec, 40, new WindowSum());
  assert.equal(all.requests, 400);
  assert.ok(all.quantile(0.99)! > 150);
});

test('long windows use coarser tiers and stay close to the true count', () => {
  const s = new WindowSeries();
  const sec = feed(s, -1, 3700, () => 2);
  for (const w of [120, 121, 300, 599, 600, 601, 1800, 3600]) {
    const r = s.read(sec, w, new WindowSum());
    const grain = w <= 120 ? 1 : w <= 600 ? 10 : 60;
    assert.ok(Math.abs(r.seconds - w) <= grain / 2, `window ${w}: ${r.seconds}s read`);
    assert.equal(r.requests, r.seconds * 2, `window ${w}`);
  }
});

test('idle seconds are empty, not stale slots from an hour ago', () => {
  const s = new WindowSeries();
  let sec = feed(s, -1, 5, () => 7);
  sec = feed(s, sec, 121, () => 0);
  assert.equal(s.read(sec, 120, new WindowSum()).requests, 0);
  sec = feed(s, sec, 3600, () => 0);
  assert.equal(s.read(sec, 3600, new WindowSum()).requests, 0);
  assert.equal(s.requests, 35);
});

test('a window read every second (sliding) equals one summed from scratch', () => {
  const watched = new WindowSeries();
  const fresh = () => new WindowSeries();
  const replay: { n: number; ms: number }[] = [];
  let sec = -1;
  for (let s = 0; s < 400; s++) {
    const n = (s * 7919) % 13;
    const ms = 1 + ((s * 31) % 500);
    replay.push({ n, ms });
    for (let i = 0; i < n; i++) watched.add(bucketOf(ms), ms, i === 0);
    watched.roll(++sec);
    if (s === 150) continue; // a skipped read: the next one sums from scratch
    const got = watched.read(sec, 60, new WindowSum());
    // The same history in a series that was never read before.
    const ref = fresh();
    let rsec = -1;
    for (const { n: rn, ms: rms } of replay) {
      for (let i = 0; i < rn; i++) ref.add(bucketOf(rms), rms, i === 0);
      ref.roll(++rsec);
    }
    const want = ref.read(rsec, 60, new WindowSum());
    if (s % 50 === 0 || s > 395) {
      assert.equal(got.requests, want.requests, `second ${s}`);
      assert.equal(got.errors, want.errors, `second ${s}`);
      assert.equal(got.seconds, want.seconds, `second ${s}`);
      assert.deepEqual([...got.hist], [...want.hist], `second ${s}`);
    }
  }
});
