import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

type ErrorBody = { error: { code: string } };

describe('circuit breaker, fallbacks and upstream limits through the gateway', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  async function gateway(config: object): Promise<TestGateway> {
    const gw = await startGateway(config);
    cleanup.push(() => gw.stop());
    return gw;
  }
  async function backend(handler: Parameters<typeof startBackend>[0]): Promise<Backend> {
    const b = await startBackend(handler);
    cleanup.push(() => b.close());
    return b;
  }
  const failing = { retry: { attempts: 0 }, outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 0 } };
  const breaker = { errorThreshold: 50, minimumRequests: 5, window: '10s', openDuration: '30s', halfOpenRequests: 1 };

  it('opens after the error rate passes the threshold and then fails fast with Retry-After', async () => {
    let hits = 0;
    const broken = await backend((_req, res) => {
      hits++;
      res.statusCode = 500;
      res.end('boom');
    });
    const gw = await gateway({
      upstreams: { app: { targets: [{ url: broken.url }], ...failing, circuitBreaker: breaker } },
      routes: [{ name: 'r', upstream: 'app' }],
    });
    for (let i = 0; i < 5; i++) {
      const res = await request(`${gw.url}/x`);
      assert.equal(res.statusCode, 500);
      await res.body.dump();
    }
    const before = hits;
    const t0 = performance.now();
    const res = await request(`${gw.url}/x`);
    const elapsed = performance.now() - t0;
    assert.equal(res.statusCode, 503);
    assert.equal(((await res.body.json()) as ErrorBody).error.code, 'BRISK_CIRCUIT_OPEN');
    assert.ok(Number(res.headers['retry-after']) >= 1);
    assert.equal(hits, before, 'nothing reached the backend while open');
    assert.ok(elapsed < 100, `refused in ${elapsed.toFixed(1)} ms`);
    const ups = (await (await request(`${gw.adminUrl}/api/upstreams`)).body.json()) as { upstreams: { circuitBreaker: { state: string } }[] };
    assert.equal(ups.upstreams[0]!.circuitBreaker.state, 'open');
  });

  it('answers from the route fallback while open: a static answer, or another upstream', async () => {
    const broken = await backend((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const standby = await backend((_req, res) => void res.end('standby'));
    const gw = await gateway({
      upstreams: {
        app: { targets: [{ url: broken.url }], ...failing, circuitBreaker: breaker },
        standby: { targets: [{ url: standby.url }] },
      },
      routes: [
        { name: 'static', match: { pathPrefix: '/static' }, upstream: 'app', fallback: { status: 200, body: '{"items":[]}' } },
        { name: 'moved', match: { pathPrefix: '/moved' }, upstream: 'app', fallback: { upstream: 'standby' } },
      ],
    });
    for (let i = 0; i < 5; i++) await (await request(`${gw.url}/static/x`)).body.dump();
    const s = await request(`${gw.url}/static/x`);
    assert.equal(s.statusCode, 200);
    assert.equal(s.headers['x-brisk-fallback'], 'circuit-open');
    assert.equal(await s.body.text(), '{"items":[]}');
    const m = await request(`${gw.url}/moved/x`);
    assert.equal(m.statusCode, 200);
    assert.equal(await m.body.text(), 'standby');
  });

  it('refuses at once past limits.maxRequests, and frees the permit when requests end', async () => {
    const slow = await backend((_req, res) => void setTimeout(() => res.end('slow'), 300));
    const gw = await gateway({
      upstreams: { app: { targets: [{ url: slow.url }], limits: { maxRequests: 2 } } },
      routes: [{ name: 'r', upstream: 'app' }],
    });
    const inflight = [request(`${gw.url}/a`), request(`${gw.url}/b`)];
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const refused = await request(`${gw.url}/c`);
    const elapsed = performance.now() - t0;
    assert.equal(refused.statusCode, 503);
    assert.equal(((await refused.body.json()) as ErrorBody).error.code, 'BRISK_UPSTREAM_OVERLOADED');
    assert.equal(refused.headers['retry-after'], '1');
    assert.ok(elapsed < 50, `refused in ${elapsed.toFixed(1)} ms`);
    for (const r of await Promise.all(inflight)) assert.equal(await r.body.text(), 'slow');
    const again = await request(`${gw.url}/d`);
    assert.equal(again.statusCode, 200, 'permits were given back');
    await again.body.dump();
  });

  it('an open breaker stays open across a reload that leaves it unchanged, and a changed one starts closed', async () => {
    const broken = await backend((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const config = {
      upstreams: { app: { targets: [{ url: broken.url }], ...failing, circuitBreaker: breaker } },
      routes: [{ name: 'r', upstream: 'app' }],
    };
    const gw = await gateway(config);
    for (let i = 0; i < 5; i++) await (await request(`${gw.url}/x`)).body.dump();
    const code = async () => {
      const res = await request(`${gw.url}/x`);
      const text = await res.body.text();
      return res.statusCode === 503 ? (JSON.parse(text) as ErrorBody).error.code : String(res.statusCode);
    };
    assert.equal(await code(), 'BRISK_CIRCUIT_OPEN');
    // Another route added: the upstream's breaker config is the same, so its state stays.
    gw.writeConfig({ ...config, routes: [...config.routes, { name: 'other', match: { pathPrefix: '/other' }, upstream: 'app' }] });
    assert.ok((await gw.gw.reload()).ok);
    assert.equal(await code(), 'BRISK_CIRCUIT_OPEN', 'the reload did not close the breaker');
    // A changed breaker config is a new breaker.
    gw.writeConfig({ ...config, upstreams: { app: { ...config.upstreams.app, circuitBreaker: { ...breaker, minimumRequests: 6 } } } });
    assert.ok((await gw.gw.reload()).ok);
    assert.equal(await code(), '500');
  });
});
