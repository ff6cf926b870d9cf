/**
 * The internal client (`upstreamRequest`) on its own, against real backends, through a
 * real gateway's upstream objects: retries on a status to another target, cancellation,
 * and limits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBackend } from './helpers/backend.js';
import { startGateway } from './helpers/gateway.js';
import { upstreamRequest, UpstreamRequestError } from '../src/upstreams/client.js';

describe('upstreamRequest', () => {
  it('retries a retryable status on the other target, and returns a final non-retryable answer as is', async () => {
    const bad = await startBackend((_req, res) => {
      res.writeHead(503);
      res.end('busy');
    });
    const good = await startBackend((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json', 'x-test': 'yes' });
      res.end(JSON.stringify({ host: req.headers.host, url: req.url }));
    });
    const gw = await startGateway({
      upstreams: { u: { balancer: 'round-robin', hostHeader: 'target', targets: [{ url: bad.url }, { url: good.url }], retry: { attempts: 2 } } },
      routes: [{ name: 'r', upstream: 'u' }],
    });
    try {
      const upstream = gw.gw.runtime.upstreams.get('u')!;
      for (let i = 0; i < 4; i++) {
        const res = await upstreamRequest(upstream, { path: '/x', headers: ['accept', 'application/json'], timeoutMs: 2000 });
        assert.equal(res.status, 200);
        assert.equal(res.target, good.url);
        assert.deepEqual(JSON.parse(res.body.toString()), { host: `127.0.0.1:${good.port}`, url: '/x' });
        assert.ok(res.headers.includes('x-test'));
      }
      const missing = await upstreamRequest(upstream, { path: '/missing', timeoutMs: 2000 });
      assert.equal(missing.status, 404, 'a 404 is an answer, not retried');
    } finally {
      await gw.stop();
      await bad.close();
      await good.close();
    }
  });

  it('is cancelled by its signal, and refuses at once past limits.maxRequests', async () => {
    const slow = await startBackend((_req, res) => {
      const t = setTimeout(() => res.end('{}'), 2000);
      res.on('close', () => clearTimeout(t));
    });
    const gw = await startGateway({
      upstreams: { u: { targets: [{ url: slow.url }], limits: { maxRequests: 1 } } },
      routes: [{ name: 'r', upstream: 'u' }],
    });
    try {
      const upstream = gw.gw.runtime.upstreams.get('u')!;
      const controller = new AbortController();
      const first = upstreamRequest(upstream, { path: '/', timeoutMs: 5000, signal: controller.signal });
      await assert.rejects(upstreamRequest(upstream, { path: '/', timeoutMs: 5000 }), (e: unknown) => e instanceof UpstreamRequestError && e.code === 'BRISK_UPSTREAM_OVERLOADED');
      controller.abort();
      await assert.rejects(first, (e: unknown) => e instanceof UpstreamRequestError && e.cancelled);
      assert.equal(upstream.limits!.inFlight, 0, 'the permit was given back');
    } finally {
      await gw.stop();
      await slow.close();
    }
  });
});
