import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { StatsSnapshot, StatsSource, WindowStats } from '../../observability/snapshot.js';
import { DashboardFeed, DEFAULT_FEED_OPTIONS, toSample } from './stream.js';

function win(windowS: number, requests: number): WindowStats {
  return { windowS, requests, rps: requests / windowS, errors: 1, errorRatio: requests === 0 ? 0 : 1 / requests, p50Ms: 1.23456, p95Ms: 2, p99Ms: null };
}

/** A stats source driven by hand: `tick()` plays the once-a-second sample. */
function fakeSource(): StatsSource & { tick(): void; listeners: number; fail: boolean } {
  const listeners = new Set<() => void>();
  let n = 0;
  const source = {
    fail: false,
    get listeners() {
      return listeners.size;
    },
    tick() {
      n++;
      for (const l of listeners) l();
    },
    subscribe(l: () => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    snapshot(windowS: number): StatsSnapshot {
      if (source.fail) throw new Error('boom');
      return {
        at: 1_000 * n,
        configVersion: 1,
        total: win(windowS, n),
        routes: [{ name: 'r', upstream: 'u', window: win(windowS, n), rateLimited: 0, shed: 0, cache: null }],
        upstreams: [{ name: 'u', breaker: null, panic: false, healthyTargets: 1, totalTargets: 1, window: win(windowS, n), retries: 0, hedges: 0, ejections: 0 }],
        targets: [],
        process: { uptimeS: 1, cpuPercent: 0, rssBytes: 0, heapUsedBytes: 0, eventLoopLagMs: 0, openConnections: 0 },
        host: { cpuPercent: 0, memoryUsedRatio: 0, diskUsedRatio: 0, netRxBytesPerS: 0, netTxBytesPerS: 0, load1: 0 },
        shedLevel: 0,
        recentErrors: [],
        services: [],
      };
    },
  };
  return source;
}

test('toSample keeps the per-second numbers as compact tuples', () => {
  const s = fakeSource();
  s.tick();
  const sample = toSample(s.snapshot(1));
  assert.deepEqual(sample.total, [1, 1, 1.23456, 2, null]);
  assert.deepEqual(Object.keys(sample.routes), ['r']);
  assert.deepEqual(Object.keys(sample.upstreams), ['u']);
});

test('the feed keeps a bounded history, survives a failing source, and unsubscribes on close', () => {
  const source = fakeSource();
  const logger = pino({ level: 'silent' });
  const feed = new DashboardFeed({ stats: source, alerts: null, logger }, { ...DEFAULT_FEED_OPTIONS, historyS: 5 });
  feed.start();
  assert.equal(source.listeners, 1);
  for (let i = 0; i < 12; i++) source.tick();
  const history = (feed as unknown as { history: { at: number }[] }).history;
  assert.deepEqual(
    history.map((h) => h.at),
    [8000, 9000, 10000, 11000, 12000],
  );
  source.fail = true;
  assert.doesNotThrow(() => source.tick());
  source.fail = false;
  source.tick();
  assert.equal(history.at(-1)!.at, 14000);
  feed.close();
  assert.equal(source.listeners, 0);
});
