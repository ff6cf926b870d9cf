import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, BUCKETS, EDGES_MS, PROMETHEUS_EDGE_INDEX, PROMETHEUS_EDGES_S, quantile } from './histogram.js';

test('edges ascend from 0.05 ms to 60 s and contain every Prometheus edge', () => {
  assert.equal(EDGES_MS[0], 0.05);
  assert.equal(EDGES_MS[EDGES_MS.length - 1], 60_000);
  for (let i = 1; i < EDGES_MS.length; i++) {
    assert.ok(EDGES_MS[i]! > EDGES_MS[i - 1]!, `edge ${i}`);
    assert.ok(EDGES_MS[i]! / EDGES_MS[i - 1]! <= 1.5 + 1e-9, `bucket ${i} is at most 50% wider than its lower edge`);
  }
  assert.equal(PROMETHEUS_EDGE_INDEX.length, PROMETHEUS_EDGES_S.length);
  PROMETHEUS_EDGES_S.forEach((s, k) => assert.equal(EDGES_MS[PROMETHEUS_EDGE_INDEX[k]!], s * 1000));
});

test('bucketOf follows Prometheus `le`: a value on an edge belongs to that edge', () => {
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(-1), 0);
  assert.equal(bucketOf(Number.NaN), 0);
  assert.equal(bucketOf(0.05), 0);
  assert.equal(bucketOf(0.0501), 1);
  for (let i = 0; i < EDGES_MS.length; i++) {
    assert.equal(bucketOf(EDGES_MS[i]!), i, `on edge ${EDGES_MS[i]}`);
    assert.equal(bucketOf(EDGES_MS[i]! * 1.0001), i + 1, `just above edge ${EDGES_MS[i]}`);
  }
  assert.equal(bucketOf(1e9), BUCKETS - 1);
});

test('quantiles are within their bucket and null without data', () => {
  const counts = new Float64Array(BUCKETS);
  assert.equal(quantile(counts, 0.5), null);
  // 90 requests at 2 ms, 10 at 200 ms.
  counts[bucketOf(2)]! += 90;
  counts[bucketOf(200)]! += 10;
  const p50 = quantile(counts, 0.5)!;
  assert.ok(p50 > 1.5 && p50 <= 2, `p50 ${p50}`);
  const p95 = quantile(counts, 0.95)!;
  assert.ok(p95 > 150 && p95 <= 200, `p95 ${p95}`);
  const p99 = quantile(counts, 0.99)!;
  assert.ok(p99 > 150 && p99 <= 200 && p99 >= p95, `p99 ${p99}`);
  // Overflow reads as the last edge rather than infinity.
  const over = new Float64Array(BUCKETS);
  over[BUCKETS - 1] = 1;
  assert.equal(quantile(over, 0.99), 60_000);
});

test('histograms merge by adding counts', () => {
  const a = new Float64Array(BUCKETS);
  const b = new Float64Array(BUCKETS);
  for (let i = 0; i < 50; i++) a[bucketOf(1)]!++;
  for (let i = 0; i < 50; i++) b[bucketOf(100)]!++;
  const merged = a.map((v, i) => v + b[i]!);
  assert.ok(quantile(merged, 0.25)! <= 1);
  assert.ok(quantile(merged, 0.75)! > 80 && quantile(merged, 0.75)! <= 100);
});
