import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A backend that records what it received (method, idempotency key, body) and answers by `handler`. */
async function recordingBackend(name: string, handler: Handler = (_req, res) => void res.end(name)) {
  const seen: { method: string; key: string | undefined; body: string }[] = [];
  const backend = await startBackend((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', key: req.headers['idempotency-key'] as string | undefined, body });
      handler(req, res);
    });
  });
  return { backend, seen };
}

const resetAfterReading: Handler = (req) => req.socket.destroy();

function upstream(targets: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    targets: targets.map((url) => ({ url })),
    balancer: 'round-robin',
    retry: { attempts: 2, backoff: { base: '1ms', max: '5ms' } },
    outlierDetection: { consecutiveGatewayFailures: 0, consecutive5xx: 0 },
    ...extra,
  };
}

describe('retries', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  async function gatewayFor(up: Record<string, unknown>, route: Record<string, unknown> = {}): Promise<TestGateway> {
    const gw = await startGateway({ upstreams: { app: up }, routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app', ...route }] });
    cleanup.push(() => gw.stop());
    return gw;
  }

  it('retries a refused connection on another target, for GET and for POST (nothing was sent)', async () => {
    const good = await recordingBackend('good');
    cleanup.push(() => good.backend.close());
    const dead = `http://127.0.0.1:${await freePort()}`;
    const gw = await gatewayFor(upstream([dead, good.backend.url]));
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/x`, { method: i % 2 === 0 ? 'GET' : 'POST', body: i % 2 === 0 ? null : 'payload' });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'good');
    }
    assert.equal(good.seen.filter((s) => s.method === 'POST').every((s) => s.body === 'payload'), true);
  });

  it('retries a GET whose connection was reset, but never sends a POST without Idempotency-Key twice', async () => {
    const flaky = await recordingBackend('flaky', resetAfterReading);
    const good = await recordingBackend('good');
    cleanup.push(() => flaky.backend.close(), () => good.backend.close());
    const gw = await gatewayFor(upstream([flaky.backend.url, good.backend.url]));

    const gets = await Promise.all([0, 1, 2, 3].map(async () => (await request(`${gw.url}/g`)).statusCode));
    assert.deepEqual(gets, [200, 200, 200, 200]);

    flaky.seen.length = 0;
    good.seen.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await request(`${gw.url}/p`, { method: 'POST', body: `order-${i}` });
      await res.body.dump();
      statuses.push(res.statusCode);
    }
    const received = [...flaky.seen, ...good.seen].map((s) => s.body);
    assert.equal(new Set(received).size, received.length, `a POST was received twice: ${received.join(',')}`);
    assert.ok(statuses.includes(502), 'POSTs that hit the resetting target fail instead of being replayed');

    // With an Idempotency-Key the same POST is safe to retry, and the body is replayed whole.
    flaky.seen.length = 0;
    good.seen.length = 0;
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/p`, { method: 'POST', body: `pay-${i}`, headers: { 'idempotency-key': `k-${i}` } });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    assert.deepEqual(good.seen.map((s) => s.body).sort(), ['pay-0', 'pay-1', 'pay-2', 'pay-3']);
  });

  it('retries 503 on another target, and passes the last 503 on when every target says so', async () => {
    const busy = await recordingBackend('busy', (_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const good = await recordingBackend('good');
    cleanup.push(() => busy.backend.close(), () => good.backend.close());
    const gw = await gatewayFor(upstream([busy.backend.url, good.backend.url]));
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/x`);
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'good');
    }
    const onlyBusy = await gatewayFor(upstream([busy.backend.url]));
    const res = await request(`${onlyBusy.url}/x`);
    assert.equal(res.statusCode, 503);
    assert.equal(await res.body.text(), 'busy');
  });

  it('gives up a try after perTryTimeout and answers from another target', async () => {
    const hang = await recordingBackend('hang', () => {});
    const good = await recordingBackend('good');
    cleanup.push(() => hang.backend.close(), () => good.backend.close());
    const gw = await gatewayFor(upstream([hang.backend.url, good.backend.url], { retry: { attempts: 1, perTryTimeout: '150ms', backoff: { base: '1ms' } } }));
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const res = await request(`${gw.url}/x`);
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'good');
      assert.ok(performance.now() - t0 < 1000);
    }
  });

  it('does not retry when the retry budget is spent', async () => {
    const good = await recordingBackend('good');
    cleanup.push(() => good.backend.close());
    const dead = `http://127.0.0.1:${await freePort()}`;
    const gw = await gatewayFor(upstream([dead, good.backend.url], { retry: { attempts: 2, budget: { ratio: 0, minPerSecond: 0 } } }));
    const statuses = await Promise.all([0, 1, 2, 3].map(async () => {
      const r = await request(`${gw.url}/x`);
      await r.body.dump();
      return r.statusCode;
    }));
    assert.ok(statuses.includes(502), `expected some 502 without retries, got ${statuses.join(',')}`);
  });

  it('tells the target how much of the total deadline is left', async () => {
    const echo = await startBackend((req, res) => void res.end(String(req.headers['x-brisk-timeout-ms'])));
    cleanup.push(() => echo.close());
    const gw = await gatewayFor(upstream([echo.url], { timeouts: { total: '2s' } }));
    const left = Number(await (await request(`${gw.url}/x`)).body.text());
    assert.ok(left > 1500 && left <= 2000, `deadline header ${left}`);
  });
});

describe('hedging', () => {
  it('sends a second try after the delay and takes the first answer', async () => {
    let slowCancelled = false;
    const slow = await startBackend((_req, res) => {
      const timer = setTimeout(() => res.end('slow'), 800);
      res.on('close', () => {
        if (!res.writableFinished) slowCancelled = true;
        clearTimeout(timer);
      });
    });
    const fast = await startBackend((_req, res) => void res.end('fast'));
    const gw = await startGateway({
      upstreams: { app: upstream([slow.url, fast.url]) },
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app', hedge: { delay: '40ms' } }],
    });
    try {
      // Round robin starts on the slow target for the first request.
      const t0 = performance.now();
      const res = await request(`${gw.url}/x`, { headers: { 'x-request-id': 'hedge-1' } });
      assert.equal(await res.body.text(), 'fast');
      assert.ok(performance.now() - t0 < 500, 'answered well before the slow target would');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(slowCancelled, true, 'the losing try is cancelled');
      const line = gw.logs.find((l) => l['requestId'] === 'hedge-1' && l['type'] === 'access');
      assert.equal(line?.['hedged'], true);
    } finally {
      await gw.stop();
      await slow.close();
      await fast.close();
    }
  });
});

describe('outlier detection and health checks', () => {
  it('ejects a target that keeps failing and reports why in the admin API', async () => {
    const good = await recordingBackend('good');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const gw = await startGateway({
      upstreams: {
        app: upstream([dead, good.backend.url], { outlierDetection: { consecutiveGatewayFailures: 2, baseEjectionTime: '30s', maxEjectionPercent: 50 } }),
      },
      routes: [{ name: 'all', upstream: 'app' }],
    });
    try {
      for (let i = 0; i < 6; i++) await (await request(`${gw.url}/x`)).body.dump();
      const ups = (await (await request(`${gw.adminUrl}/api/upstreams`)).body.json()) as {
        upstreams: { targets: { origin: string; available: boolean; ejected?: { reason: string; until: string } }[] }[];
      };
      const deadTarget = ups.upstreams[0]!.targets.find((t) => t.origin === dead)!;
      assert.equal(deadTarget.available, false);
      assert.match(deadTarget.ejected!.reason, /consecutive gateway failures/);
      // Ejected: the next requests all go to the good target without a retry.
      good.seen.length = 0;
      for (let i = 0; i < 4; i++) await (await request(`${gw.url}/y`)).body.dump();
      assert.equal(good.seen.length, 4);
    } finally {
      await gw.stop();
      await good.backend.close();
    }
  });

  it('routes only to targets whose health checks pass, and warms new targets before use', async () => {
    let sick = true;
    const a = await startBackend((req, res) => {
      if (req.url === '/healthz') {
        res.statusCode = sick ? 503 : 200;
        res.end();
      } else res.end('a');
    });
    const b = await startBackend((_req, res) => void res.end('b'));
    const gw = await startGateway({
      upstreams: {
        app: upstream([a.url, b.url], { healthCheck: { path: '/healthz', interval: '100ms', timeout: '200ms', unhealthyThreshold: 1, healthyThreshold: 1 } }),
      },
      routes: [{ name: 'all', upstream: 'app' }],
    });
    try {
      // Started warm: a never passed a probe, so it takes nothing.
      const first = await Promise.all([0, 1, 2, 3, 4, 5].map(async () => (await request(`${gw.url}/`)).body.text()));
      assert.deepEqual([...new Set(first)], ['b']);
      sick = false;
      const deadline = Date.now() + 3000;
      let seenA = false;
      while (!seenA && Date.now() < deadline) {
        seenA = (await (await request(`${gw.url}/`)).body.text()) === 'a';
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(seenA, true, 'a takes traffic once its probe passes');
    } finally {
      await gw.stop();
      await a.close();
      await b.close();
    }
  });
});

export type { Backend };
