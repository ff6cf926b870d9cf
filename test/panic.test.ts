import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend } from './helpers/backend.js';
import { startGateway } from './helpers/gateway.js';

/** Targets whose health checks fail but which still answer requests. */
async function sickButServing(name: string) {
  return startBackend((req, res) => {
    if (req.url === '/healthz') {
      res.statusCode = 503;
      res.end();
    } else res.end(name);
  });
}

describe('panic mode', () => {
  it('is not announced while new targets wait for their first probe', async () => {
    const a = await startBackend((_req, res) => void res.end('a'));
    const gw = await startGateway({
      upstreams: { app: { targets: [{ url: a.url }], healthCheck: { path: '/healthz', interval: '100ms', timeout: '200ms' } } },
      routes: [{ name: 'r', upstream: 'app' }],
    });
    try {
      assert.equal(await (await request(`${gw.url}/x`)).body.text(), 'a');
      assert.ok(!gw.logs.some((l) => String(l['msg']).includes('PANIC')), 'a healthy start is no panic');
    } finally {
      await gw.stop();
      await a.close();
    }
  });

  for (const [threshold, expectPanic] of [
    [50, true],
    [0, false],
  ] as const) {
    it(`panicThreshold ${threshold}: ${expectPanic ? 'spreads traffic over all targets, loudly' : 'answers 503 when no target is available'}`, async () => {
      const a = await sickButServing('a');
      const b = await sickButServing('b');
      const gw = await startGateway({
        upstreams: {
          app: {
            targets: [{ url: a.url }, { url: b.url }],
            panicThreshold: threshold,
            healthCheck: { path: '/healthz', interval: '100ms', timeout: '200ms', unhealthyThreshold: 1 },
          },
        },
        routes: [{ name: 'r', upstream: 'app' }],
      });
      try {
        const answers = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const res = await request(`${gw.url}/x`);
          const text = await res.body.text();
          if (expectPanic) {
            assert.equal(res.statusCode, 200);
            answers.add(text);
          } else {
            assert.equal(res.statusCode, 503);
            assert.match(text, /BRISK_NO_HEALTHY_TARGET/);
          }
        }
        const ups = (await (await request(`${gw.adminUrl}/api/upstreams`)).body.json()) as { upstreams: { panic: boolean; available: number }[] };
        assert.equal(ups.upstreams[0]!.available, 0);
        assert.equal(ups.upstreams[0]!.panic, expectPanic);
        if (expectPanic) {
          assert.deepEqual([...answers].sort(), ['a', 'b'], 'both targets take traffic');
          assert.ok(gw.logs.some((l) => l['level'] === 'error' && String(l['msg']).includes('PANIC')), 'panic is logged at error level');
        }
      } finally {
        await gw.stop();
        await a.close();
        await b.close();
      }
    });
  }
});
