/**
 * `/api/stats` (GatewayStats.snapshot) for a known load: the ticker is stopped and driven
 * by hand, one "second" per batch of requests, so windows, rates, error ratios and
 * quantiles have exact expected values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import type { StatsSnapshot } from '../src/observability/snapshot.js';

describe('/api/stats windows', () => {
  let one: Backend;
  let two: Backend;
  let gw: TestGateway;
  let ticks = 0;

  before(async () => {
    const handler: Parameters<typeof startBackend>[0] = (req, res) => {
      req.resume();
      const url = req.url ?? '';
      const send = () => {
        res.statusCode = url.startsWith('/fail') ? 500 : 200;
        res.end('ok');
      };
      if (url.startsWith('/slow')) setTimeout(send, 1000);
      else send();
    };
    one = await startBackend(handler);
    two = await startBackend(handler);
    gw = await startGateway({
      upstreams: { app: { targets: [{ url: one.url }, { url: two.url }], balancer: 'round-robin', retry: { attempts: 0 }, outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 0 } } },
      routes: [{ name: 'all', upstream: 'app' }],
    });
    gw.gw.stats.stop();
    gw.gw.stats.subscribe(() => ticks++);
  });

  after(async () => {
    await gw?.stop();
    await one?.close();
    await two?.close();
  });

  async function send(path: string): Promise<void> {
    const res = await request(`${gw.url}${path}`);
    await res.body.dump();
  }

  it('gives rate, error ratio and quantiles of the last N seconds', async () => {
    gw.gw.stats.tick(); // a clean start: whatever the startup did is in a closed second
    const start = gw.gw.stats.snapshot(60).total.requests;
    assert.equal(start, 0);
    // Five "seconds" of 20 requests: 17 fast, 2 failing (500), 1 slow (1 s).
    for (let s = 0; s < 5; s++) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 17; i++) batch.push(send('/ok'));
      batch.push(send('/fail'), send('/fail'), send('/slow'));
      await Promise.all(batch);
      gw.gw.stats.tick();
    }
    // The second in progress is not in any window.
    await send('/ok');

    const five = gw.gw.stats.snapshot(5);
    assert.equal(five.total.windowS, 5);
    assert.equal(five.total.requests, 100);
    assert.equal(five.total.rps, 20);
    assert.equal(five.total.errors, 10);
    assert.equal(five.total.errorRatio, 0.1);
    // The slow 5% are the p99 (1 s or a little more); the median is one of the
    // fast ones (generous: a loaded CI machine makes "fast" slow).
    assert.ok(five.total.p99Ms! >= 1000 && five.total.p99Ms! <= 2500, `p99 ${five.total.p99Ms}`);
    assert.ok(five.total.p50Ms! < 500, `p50 ${five.total.p50Ms}`);
    assert.ok(five.total.p95Ms! <= five.total.p99Ms!);

    const route = five.routes.find((r) => r.name === 'all')!;
    assert.deepEqual(route.window, five.total);
    assert.equal(route.cache, null, 'no cache results: null');
    const up = five.upstreams.find((u) => u.name === 'app')!;
    assert.equal(up.window.requests, 100);
    assert.equal(up.totalTargets, 2);
    assert.equal(up.healthyTargets, 2);
    const perTarget = five.targets.map((t) => t.window.requests);
    assert.deepEqual(perTarget, [50, 50], 'round robin splits the load evenly');
    assert.equal(five.targets[0]!.window.rps, 10);

    const last2 = gw.gw.stats.snapshot(2);
    assert.equal(last2.total.requests, 40);
    assert.equal(last2.total.rps, 20);

    const minute = gw.gw.stats.snapshot(60);
    assert.equal(minute.total.requests, 100);
    assert.ok(minute.total.rps >= 100 / 7 && minute.total.rps <= 20, `rate over the seconds the gateway has run: ${minute.total.rps}`);

    // Errors are listed newest first, with route, upstream and target names, never a raw path.
    assert.equal(minute.recentErrors.length, 10);
    const e = minute.recentErrors[0]!;
    assert.equal(e.status, 500);
    assert.equal(e.method, 'GET');
    assert.equal(e.route, 'all');
    assert.equal(e.upstream, 'app');
    assert.ok(e.target === one.url || e.target === two.url);
    assert.equal(e.code, null);
    assert.ok(typeof e.requestId === 'string');
    assert.equal(ticks, 6, 'watchers hear every tick');
  });

  it('serves the same numbers at /api/stats?window=N', async () => {
    const res = await request(`${gw.adminUrl}/api/stats?window=5`);
    const body = (await res.body.json()) as StatsSnapshot;
    assert.equal(body.total.requests, 100);
    assert.equal(body.total.rps, 20);
    assert.equal(body.configVersion, 1);
    assert.equal(body.shedLevel, 0);
    assert.ok(body.process.openConnections >= 1);
    assert.ok(body.process.rssBytes > 0 && body.process.heapUsedBytes > 0);
    assert.ok(body.process.cpuPercent >= 0);
    assert.ok(body.host.memoryUsedRatio > 0 && body.host.memoryUsedRatio < 1);
    if (process.platform === 'linux') {
      assert.ok(body.host.diskUsedRatio > 0 && body.host.diskUsedRatio <= 1, `disk ${body.host.diskUsedRatio}`);
      assert.ok(body.host.cpuPercent >= 0 && body.host.cpuPercent <= 100);
    }
    // The window is clamped to 1..3600.
    const huge = (await (await request(`${gw.adminUrl}/api/stats?window=99999`)).body.json()) as StatsSnapshot;
    assert.equal(huge.total.windowS, 3600);
  });

  it('reads the shedding level from the source it is given', () => {
    gw.gw.stats.setShedLevelSource(() => 2);
    assert.equal(gw.gw.stats.snapshot(5).shedLevel, 2);
    gw.gw.stats.setShedLevelSource(null);
    assert.equal(gw.gw.stats.snapshot(5).shedLevel, 0);
  });
});
