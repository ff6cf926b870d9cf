/**
 * Outlier hints shared between three gateway nodes through a real Redis, with quorum 2:
 * a target that fails only one node's traffic is ejected by that node alone (one
 * confused node cannot eject it for all); once a second node ejects it on its own
 * evidence, the third ejects it too without having seen a single failure. Ejections made
 * on a hint are not published again (they would feed themselves).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { redisCommand, REDIS_MISSING, startRedis } from './helpers/servers.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

describe('outlier hints shared with a quorum', async () => {
  const redis = await startRedis();
  const skip = redis === null ? REDIS_MISSING : false;
  let good: Backend;
  let flaky: Backend;
  const nodes: TestGateway[] = [];
  /** Requests `flaky` answered, by node (the gateways tag them). */
  const flakySeen = new Map<string, number>();

  before(async () => {
    if (redis === null) return;
    good = await startBackend((_req, res) => void res.end('good'));
    // Fails the requests a client marked `x-fail`, as a target that one node's path to it breaks.
    flaky = await startBackend((req, res) => {
      const node = String(req.headers['x-node'] ?? '?');
      flakySeen.set(node, (flakySeen.get(node) ?? 0) + 1);
      res.statusCode = req.headers['x-fail'] === '1' ? 503 : 200;
      res.end('flaky');
    });
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startGateway({
          logging: { accessLog: false, level: 'warn' },
          upstreams: {
            app: {
              targets: [{ url: good.url }, { url: flaky.url }],
              balancer: 'round-robin',
              retry: { attempts: 0 },
              outlierDetection: { consecutive5xx: 3, consecutiveGatewayFailures: 3, baseEjectionTime: '30s', maxEjectionPercent: 50, shared: { redis: { url: redis.url }, quorum: 2, node: `node-${i}` } },
            },
          },
          routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
        }),
      );
    }
  });

  after(async () => {
    for (const n of nodes) await n.stop();
    await good?.close();
    await flaky?.close();
    await redis?.stop();
  });

  const ejected = (n: TestGateway): boolean => n.gw.runtime.upstreams.get('app')!.targets.find((t) => t.origin === flaky.url)!.ejection !== null;
  const send = async (n: TestGateway, name: string, count: number, fail: boolean) => {
    for (let i = 0; i < count; i++) {
      const res = await request(`${n.url}/x`, { headers: { 'x-node': name, ...(fail ? { 'x-fail': '1' } : {}) } });
      await res.body.dump();
    }
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('one node alone cannot eject a target for the others', { skip, timeout: 30_000 }, async () => {
    const [a, b, c] = nodes as [TestGateway, TestGateway, TestGateway];
    await send(a, 'a', 10, true);
    assert.equal(ejected(a), true, 'node a ejected the target on its own evidence');
    // Two polls and the announcement later, b and c still use it.
    await sleep(2500);
    assert.equal(ejected(b), false);
    assert.equal(ejected(c), false);
    flakySeen.clear();
    await send(c, 'c', 10, false);
    assert.ok((flakySeen.get('c') ?? 0) >= 4, `node c still sends to the target (${flakySeen.get('c') ?? 0} of 10)`);
    assert.equal(await redisCommand(redis!.port, ['ZCARD', `brisk:outlier:app|${flaky.url}`]), 1, 'one node has published');
  });

  it('a quorum of two ejects it on every node, and hint ejections are not published again', { skip, timeout: 30_000 }, async () => {
    const [, b, c] = nodes as [TestGateway, TestGateway, TestGateway];
    await send(b, 'b', 10, true);
    assert.equal(ejected(b), true);
    const deadline = Date.now() + 5000;
    while (!ejected(c) && Date.now() < deadline) await sleep(50);
    assert.equal(ejected(c), true, 'node c ejected the target on the quorum');
    const reason = c.gw.runtime.upstreams.get('app')!.targets.find((t) => t.origin === flaky.url)!.ejection!.reason;
    assert.match(reason, /2 nodes ejected it \(quorum 2\)/);
    flakySeen.clear();
    await send(c, 'c', 10, false);
    assert.equal(flakySeen.get('c') ?? 0, 0, 'node c no longer sends to it');
    assert.equal(await redisCommand(redis!.port, ['ZCARD', `brisk:outlier:app|${flaky.url}`]), 2, 'node c did not publish its hint ejection');
  });
});
