/**
 * `/metrics` through a real gateway and real backends: counts match what was sent (by
 * route, upstream, target, status class), histograms are consistent, retries, hedges,
 * ejections and breaker states move when a target fails, refusals are counted by code,
 * the series count stays bounded whatever clients send, and promtool accepts the output.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { PROMTOOL_SKIP, runPromtool, scrape, sum, type MetricSample } from './helpers/metrics.js';

/** `/…/status/NNN` answers NNN, `/…/slow/MS` waits MS first; anything else 200 with a small body. */
function byPath(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    const url = req.url ?? '/';
    const status = /\/status\/(\d{3})/.exec(url);
    const slow = /\/slow\/(\d+)/.exec(url);
    const answer = () => {
      res.statusCode = status === null ? 200 : Number(status[1]);
      res.end('hello');
    };
    if (slow === null) answer();
    else setTimeout(answer, Number(slow[1]));
  });
}

// Counts are exact only when nothing adds tries: no retries, no hedges (`hedge: auto` would race the slow requests), no ejections.
const quiet = { retry: { attempts: 0 }, hedge: 'off', outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 0 } };

async function get(url: string, init: Parameters<typeof request>[1] = {}): Promise<number> {
  const res = await request(url, init);
  await res.body.dump();
  return res.statusCode;
}

/** Brisk's own families (prom-client's default process metrics left out). */
function briskSeries(samples: readonly MetricSample[]): MetricSample[] {
  return samples.filter((s) => s.name.startsWith('brisk_') && !s.name.startsWith('brisk_nodejs_') && !s.name.startsWith('brisk_process_') && !s.name.startsWith('brisk_host_'));
}

describe('/metrics', () => {
  let a: Backend;
  let b: Backend;
  let slow: Backend;
  let failing: Backend;
  let dead: string;
  let gw: TestGateway;

  before(async () => {
    a = await startBackend(byPath);
    b = await startBackend(byPath);
    slow = await startBackend((req, res) => {
      req.resume();
      const timer = setTimeout(() => res.end('slow'), 600);
      res.on('close', () => clearTimeout(timer));
    });
    failing = await startBackend((req, res) => {
      req.resume();
      res.statusCode = 500;
      res.end('boom');
    });
    dead = `http://127.0.0.1:${await freePort()}`;
    gw = await startGateway({
      upstreams: {
        app: { targets: [{ url: a.url }, { url: b.url }], balancer: 'round-robin', ...quiet },
        flaky: {
          targets: [{ url: dead }, { url: a.url }],
          balancer: 'round-robin',
          retry: { attempts: 1, backoff: { base: '1ms', max: '2ms' } },
          outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 2, baseEjectionTime: '30s', maxEjectionPercent: 50 },
        },
        hedged: { targets: [{ url: slow.url }, { url: b.url }], balancer: 'round-robin', ...quiet },
        broken: {
          targets: [{ url: failing.url }],
          ...quiet,
          circuitBreaker: { errorThreshold: 50, minimumRequests: 5, window: '10s', openDuration: '30s', halfOpenRequests: 1 },
        },
      },
      routes: [
        { name: 'api', match: { pathPrefix: '/api' }, upstream: 'app' },
        { name: 'limited', match: { pathPrefix: '/limited' }, upstream: 'app', rateLimit: { limits: [{ rate: 3, per: '1m', burst: 3 }] } },
        { name: 'flaky', match: { pathPrefix: '/flaky' }, upstream: 'flaky' },
        { name: 'hedged', match: { pathPrefix: '/hedged' }, upstream: 'hedged', hedge: { delay: '40ms' } },
        { name: 'broken', match: { pathPrefix: '/broken' }, upstream: 'broken' },
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    for (const s of [a, b, slow, failing]) await s?.close();
  });

  it('counts requests by route, upstream, target and status class, and their bytes', async () => {
    const before = (await scrape(gw.adminUrl)).samples;
    for (let i = 0; i < 40; i++) assert.equal(await get(`${gw.url}/api/ok`), 200);
    for (let i = 0; i < 10; i++) assert.equal(await get(`${gw.url}/api/status/503`), 503);
    for (let i = 0; i < 6; i++) assert.equal(await get(`${gw.url}/api/status/404`), 404);
    for (let i = 0; i < 3; i++) assert.equal(await get(`${gw.url}/api/ok`, { method: 'POST', body: 'x'.repeat(100) }), 200);
    for (let i = 0; i < 5; i++) assert.equal(await get(`${gw.url}/nowhere`), 404);
    const { samples, contentType } = await scrape(gw.adminUrl);
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    const delta = (name: string, match: Record<string, string>) => sum(samples, name, match) - sum(before, name, match);
    assert.equal(delta('brisk_requests_total', { route: 'api', upstream: 'app', status_class: '2xx' }), 43);
    assert.equal(delta('brisk_requests_total', { route: 'api', upstream: 'app', status_class: '5xx' }), 10);
    assert.equal(delta('brisk_requests_total', { route: 'api', upstream: 'app', status_class: '4xx' }), 6);
    // Round robin over two targets: both got about half.
    for (const t of [a.url, b.url]) {
      const n = delta('brisk_requests_total', { route: 'api', target: t });
      assert.ok(n >= 25 && n <= 34, `target ${t} got ${n} of 59`);
    }
    assert.equal(delta('brisk_requests_total', { route: '(none)', upstream: '(none)', target: '(none)', status_class: '4xx' }), 5);
    assert.equal(delta('brisk_request_errors_total', { route: '(none)', code: 'BRISK_ROUTE_NOT_FOUND' }), 5);
    assert.equal(delta('brisk_requests_by_method_total', { route: 'api', method: 'POST' }), 3);
    assert.equal(delta('brisk_requests_by_method_total', { route: 'api', method: 'GET' }), 56);
    assert.equal(delta('brisk_request_body_bytes_total', { route: 'api' }), 300);
    assert.equal(delta('brisk_response_body_bytes_total', { route: 'api' }), 59 * 'hello'.length);
    assert.equal(sum(samples, 'brisk_requests_in_flight'), 0);
    assert.ok(sum(samples, 'brisk_open_connections') >= 1, 'undici keeps its connection open');
  });

  it('has consistent latency histograms: cumulative buckets, +Inf = count, sub-ms to 30 s', async () => {
    for (let i = 0; i < 4; i++) assert.equal(await get(`${gw.url}/api/slow/120`), 200);
    const { samples } = await scrape(gw.adminUrl);
    for (const [name, labels] of [
      ['brisk_request_duration_seconds', { route: 'api' }],
      ['brisk_target_request_duration_seconds', { upstream: 'app', target: a.url }],
    ] as const) {
      const buckets = samples.filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      const les = buckets.map((s) => s.labels['le']);
      assert.equal(les[0], '0.0005');
      assert.ok(les.includes('30') && les.at(-1) === '+Inf', les.join(','));
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name} buckets are cumulative`);
      const count = sum(samples, `${name}_count`, labels);
      assert.equal(buckets.at(-1)!.value, count);
      const below100ms = buckets.find((s) => s.labels['le'] === '0.1')!.value;
      assert.ok(count - below100ms >= 2, `${name}: the slow requests are above 100 ms`);
      assert.ok(sum(samples, `${name}_sum`, labels) >= 0.24, `${name}_sum counts the slow requests`);
    }
    assert.equal(sum(samples, 'brisk_request_duration_seconds_count', { route: 'api' }), sum(samples, 'brisk_requests_total', { route: 'api' }));
  });

  it('counts retries and ejections by reason, and shows the ejected target as unhealthy', async () => {
    for (let i = 0; i < 8; i++) assert.equal(await get(`${gw.url}/flaky/x`), 200);
    const { samples } = await scrape(gw.adminUrl);
    assert.ok(sum(samples, 'brisk_upstream_retries_total', { upstream: 'flaky' }) >= 2, 'the dead target was retried on the good one');
    assert.equal(sum(samples, 'brisk_target_ejections_total', { upstream: 'flaky', target: dead, reason: 'consecutive_gateway_failures' }), 1);
    assert.equal(sum(samples, 'brisk_target_ejections_total', { upstream: 'flaky', target: dead, reason: 'consecutive_5xx' }), 0);
    assert.equal(sum(samples, 'brisk_target_healthy', { upstream: 'flaky', target: dead }), 0);
    assert.equal(sum(samples, 'brisk_target_healthy', { upstream: 'flaky', target: a.url }), 1);
    assert.equal(sum(samples, 'brisk_target_state', { upstream: 'flaky', target: dead, state: 'ejected' }), 1);
    assert.equal(sum(samples, 'brisk_upstream_available_targets', { upstream: 'flaky' }), 1);
    // Every client got its 200 from the good target.
    assert.equal(sum(samples, 'brisk_requests_total', { route: 'flaky', target: a.url, status_class: '2xx' }), 8);
    const stats = gw.gw.stats.snapshot(60);
    assert.equal(stats.upstreams.find((u) => u.name === 'flaky')!.ejections, 1);
    assert.equal(stats.targets.find((t) => t.origin === dead)!.health, 'ejected');
  });

  it('counts hedges', async () => {
    // Round robin: every other request starts on the slow target and is hedged after 40 ms.
    for (let i = 0; i < 4; i++) assert.equal(await get(`${gw.url}/hedged/x`), 200);
    const { samples } = await scrape(gw.adminUrl);
    assert.ok(sum(samples, 'brisk_upstream_hedges_total', { upstream: 'hedged' }) >= 2);
    assert.equal(sum(samples, 'brisk_upstream_hedges_total', { upstream: 'app' }), 0);
  });

  it('shows breaker states and counts refusals by error code', async () => {
    let { samples } = await scrape(gw.adminUrl);
    assert.equal(sum(samples, 'brisk_upstream_breaker_state', { upstream: 'broken', state: 'closed' }), 1);
    assert.equal(sum(samples, 'brisk_upstream_breaker_state', { upstream: 'broken', state: 'open' }), 0);
    assert.equal(samples.filter((s) => s.name === 'brisk_upstream_breaker_state' && s.labels['upstream'] === 'app').length, 0, 'no breaker, no series');
    for (let i = 0; i < 5; i++) assert.equal(await get(`${gw.url}/broken/x`), 500);
    for (let i = 0; i < 3; i++) assert.equal(await get(`${gw.url}/broken/x`), 503);
    for (let i = 0; i < 5; i++) await get(`${gw.url}/limited/x`);
    ({ samples } = await scrape(gw.adminUrl));
    assert.equal(sum(samples, 'brisk_upstream_breaker_state', { upstream: 'broken', state: 'open' }), 1);
    assert.equal(sum(samples, 'brisk_upstream_breaker_state', { upstream: 'broken', state: 'closed' }), 0);
    assert.equal(sum(samples, 'brisk_request_errors_total', { route: 'broken', code: 'BRISK_CIRCUIT_OPEN' }), 3);
    assert.equal(sum(samples, 'brisk_requests_total', { route: 'broken', upstream: 'broken', target: '(none)', status_class: '5xx' }), 3);
    assert.equal(sum(samples, 'brisk_request_errors_total', { route: 'limited', code: 'BRISK_RATE_LIMITED' }), 2);
    assert.equal(sum(samples, 'brisk_rate_limit_store_errors_total', { route: 'limited' }), 0);
    const stats = gw.gw.stats.snapshot(60);
    assert.equal(stats.routes.find((r) => r.name === 'limited')!.rateLimited, 2);
    assert.equal(stats.upstreams.find((u) => u.name === 'broken')!.breaker, 'open');
    assert.ok(stats.recentErrors.some((e) => e.code === 'BRISK_CIRCUIT_OPEN' && e.route === 'broken' && e.status === 503));
    assert.ok(stats.recentErrors.length <= 50);
  });

  it('keeps the number of series bounded whatever paths, methods and hosts clients send', async () => {
    const methods = ['GET', 'POST', 'PURGE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'DELETE', 'PATCH', 'OPTIONS'];
    const random = () => Math.random().toString(36).slice(2);
    const blast = async (n: number) => {
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const path = i % 3 === 0 ? `/api/${random()}/${random()}?q=${random()}` : `/${random()}/${random()}`;
        work.push(
          request(`${gw.url}${path}`, { method: methods[i % methods.length]!, headers: { host: `${random()}.example`, 'x-request-id': random() } })
            .then((r) => r.body.dump())
            .catch(() => {}),
        );
        if (work.length >= 50) await Promise.all(work.splice(0));
      }
      await Promise.all(work);
    };
    await blast(300);
    const first = briskSeries((await scrape(gw.adminUrl)).samples);
    await blast(2000);
    const { samples, text } = await scrape(gw.adminUrl);
    const second = briskSeries(samples);
    assert.equal(second.length, first.length, 'no series was added by 2000 more random requests');
    const names = (list: MetricSample[]) => new Set(list.map((s) => `${s.name}${JSON.stringify(s.labels)}`));
    assert.deepEqual(names(second), names(first));
    assert.ok(sum(samples, 'brisk_requests_by_method_total', { route: 'api', method: 'OTHER' }) > 0, 'unknown methods count as OTHER');
    for (const m of ['PURGE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH']) assert.ok(!text.includes(`method="${m}"`), `${m} is not a label value`);
    assert.ok(!/\.example/.test(text), 'no host sent by a client is a label value');
    assert.ok(second.length < 600, `${second.length} series`);
  });

  it('passes `promtool check metrics`', { skip: PROMTOOL_SKIP }, async () => {
    const { text } = await scrape(gw.adminUrl);
    const { code, output } = await runPromtool(['check', 'metrics'], text);
    assert.equal(code, 0, output);
  });
});

describe('metric series follow the config', () => {
  it('drops the series of routes and targets a reload removed, and counts reloads', async () => {
    const one = await startBackend(byPath);
    const two = await startBackend(byPath);
    const gw = await startGateway({
      upstreams: { app: { targets: [{ url: one.url }, { url: two.url }], balancer: 'round-robin', ...quiet } },
      routes: [
        { name: 'keep', match: { pathPrefix: '/keep' }, upstream: 'app' },
        { name: 'gone', match: { pathPrefix: '/gone' }, upstream: 'app' },
      ],
    });
    try {
      for (let i = 0; i < 4; i++) await get(`${gw.url}/keep`);
      for (let i = 0; i < 2; i++) await get(`${gw.url}/gone`);
      let { samples } = await scrape(gw.adminUrl);
      assert.equal(sum(samples, 'brisk_requests_total', { route: 'gone' }), 2);
      assert.equal(sum(samples, 'brisk_config_version'), 1);
      gw.writeConfig({
        upstreams: { app: { targets: [{ url: one.url }], ...quiet } },
        routes: [{ name: 'keep', match: { pathPrefix: '/keep' }, upstream: 'app' }],
      });
      assert.equal((await gw.gw.reload()).ok, true);
      gw.writeConfig('listen: [oops');
      assert.equal((await gw.gw.reload()).ok, false);
      await get(`${gw.url}/keep`);
      ({ samples } = await scrape(gw.adminUrl));
      assert.equal(samples.filter((s) => s.labels['route'] === 'gone').length, 0, 'no series of the removed route');
      assert.equal(samples.filter((s) => s.labels['target'] === two.url).length, 0, 'no series of the removed target');
      assert.equal(sum(samples, 'brisk_requests_total', { route: 'keep', target: one.url }), 3, 'the kept target goes on counting');
      assert.equal(sum(samples, 'brisk_request_duration_seconds_count', { route: 'keep' }), 5, 'the kept route goes on counting');
      assert.equal(sum(samples, 'brisk_config_version'), 2);
      assert.equal(sum(samples, 'brisk_config_reloads_total', { result: 'success' }), 1);
      assert.equal(sum(samples, 'brisk_config_reloads_total', { result: 'failure' }), 1);
      assert.equal(sum(samples, 'brisk_build_info'), 1);
      assert.ok(sum(samples, 'brisk_host_memory_total_bytes') > 0);
      assert.ok(samples.some((s) => s.name === 'brisk_process_cpu_seconds_total'), 'prom-client default metrics are there, prefixed');
      assert.ok(samples.some((s) => s.name === 'brisk_nodejs_heap_size_used_bytes'));
    } finally {
      await gw.stop();
      await one.close();
      await two.close();
    }
  });

  it('records nothing and answers 404 on /metrics with `metrics.enabled: false`', async () => {
    const one = await startBackend(byPath);
    const gw = await startGateway({
      metrics: { enabled: false },
      upstreams: { app: { targets: [{ url: one.url }], ...quiet } },
      routes: [{ name: 'all', upstream: 'app' }],
    });
    try {
      assert.equal(await get(`${gw.url}/x`), 200);
      const res = await request(`${gw.adminUrl}/metrics`);
      assert.equal(res.statusCode, 404);
      assert.match(await res.body.text(), /metrics are off/);
      gw.gw.stats.tick();
      assert.equal(gw.gw.stats.snapshot(60).total.requests, 0);
      assert.equal(gw.gw.stats.recorder.total.requests, 0);
    } finally {
      await gw.stop();
      await one.close();
    }
  });
});
