// The Redis registry provider against a real redis-server and the real service toolkit
// (@brisk/service registers its instances with a TTL heartbeat): instances take traffic
// within a heartbeat of registering, leave it within a heartbeat of deregistering or
// crashing (drained: requests in flight finish), and while Redis is down the last view
// serves — also after a restart of Brisk during the outage — with the staleness growing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { createService, type Service } from '@brisk/service';
import type { TestGateway } from './helpers/gateway.js';
import { REDIS_MISSING, redisCommand } from './helpers/servers.js';
import { restartableRedis, type RestartableServer } from './helpers/restartable.js';
import { activeUrls, discoveryConfig, discoveryState, get, members, namedBackend, startGateway, tempDir, waitFor, type NamedBackend } from './helpers/discovery.js';

const redis = await restartableRedis();
const TTL_MS = 3000; // heartbeat every second
after(() => redis?.close());

describe('discovery: the Redis registry', { skip: redis === null ? REDIS_MISSING : false }, () => {
  const dir = tempDir('brisk-disc-redis-');
  const snapshot = join(dir.path, 'app.json');
  const services: Service[] = [];
  let tg: TestGateway | null = null;
  let crashed: NamedBackend;
  const r = redis as RestartableServer;
  const config = () => discoveryConfig({ redis: { url: r.url, service: 'orders', interval: '500ms' }, snapshot, startWait: '4s' });

  /** A toolkit service registered in the registry, answering its name on `/` and slowly on `/slow`. */
  async function instance(name: string): Promise<Service> {
    const s = createService({ name: 'orders', handleSignals: false, logger: pino({ level: 'silent' }), drainTimeoutMs: 5000, registration: { redis: r.url, ttlMs: TTL_MS } });
    s.route('GET', '/', async () => name);
    s.route('GET', '/slow', async () => {
      await sleep(1500);
      return name;
    });
    await s.start();
    services.push(s);
    return s;
  }

  before(async () => {
    crashed = await namedBackend('crashed');
  });
  after(async () => {
    await tg?.stop();
    await Promise.all(services.map((s) => s.stop().catch(() => {})));
    await crashed.close();
    dir.remove();
  });

  it('instances that register take traffic within a heartbeat, warmed first', { timeout: 30_000 }, async (t) => {
    const one = await instance('one');
    tg = await startGateway(config());
    const gw = tg;
    assert.deepEqual(await activeUrls(gw), [one.url]);
    assert.deepEqual((await members(gw))[0]!.sources, ['discovery:redis']);
    const t0 = Date.now();
    const two = await instance('two');
    await waitFor('the second instance active', async () => (await activeUrls(gw)).includes(two.url), TTL_MS);
    const joinMs = Date.now() - t0;
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add((await get(gw)).body);
    assert.deepEqual([...seen].sort(), ['"one"', '"two"'].sort());
    t.diagnostic(`redis: registered → active (first probe passed) in ${joinMs} ms`);
    assert.ok(joinMs < TTL_MS, `joined in ${joinMs} ms`);
  });

  it('an instance that deregisters leaves within a heartbeat, its request in flight finishing', { timeout: 30_000 }, async (t) => {
    const gw = tg!;
    const two = services[1]!;
    const twoUrl = two.url;
    // A slow request that lands on `two`.
    let slow: Promise<{ status: number; body: string }> | null = null;
    for (let i = 0; i < 20 && slow === null; i++) {
      const p = get(gw, '/slow');
      await sleep(100);
      const m = await (await fetch(`${gw.adminUrl}/api/upstreams/app/targets`)).json() as { targets: { url: string; inFlight: number }[] };
      if (m.targets.find((t) => t.url === twoUrl)?.inFlight === 1) slow = p;
      else await p;
    }
    assert.ok(slow !== null, 'a slow request went to the second instance');
    const t0 = Date.now();
    const stopping = two.stop();
    await waitFor('the instance out of the routable set', async () => !(await activeUrls(gw)).includes(twoUrl), TTL_MS);
    const leftMs = Date.now() - t0;
    const answer = await slow;
    assert.equal(answer.status, 200, 'the request in flight finished');
    assert.equal(answer.body, '"two"');
    await stopping;
    t.diagnostic(`redis: deregistered → out of the routable set in ${leftMs} ms`);
    assert.ok(leftMs < TTL_MS, `left in ${leftMs} ms`);
    for (let i = 0; i < 6; i++) assert.equal((await get(gw)).body, '"one"');
  });

  it('an instance that crashed (its entry not renewed) leaves within a heartbeat of its entry expiring', { timeout: 30_000 }, async (t) => {
    const gw = tg!;
    const key = 'brisk:registry:orders:crashed-1';
    await redisCommand(r.port, ['SET', key, JSON.stringify({ service: 'orders', id: 'crashed-1', url: crashed.url, host: '127.0.0.1', port: crashed.port, startedAt: new Date().toISOString(), meta: {} }), 'PX', String(TTL_MS)]);
    await waitFor('the entry seen', async () => (await members(gw)).some((m) => m.url === crashed.url), TTL_MS);
    const t0 = Date.now();
    // No renewal: it expires after TTL_MS, and the next scan (interval 500 ms) drops it.
    await waitFor('the crashed entry gone', async () => !(await members(gw)).some((m) => m.url === crashed.url), TTL_MS * 3);
    const goneMs = Date.now() - t0;
    t.diagnostic(`redis: entry written (TTL ${TTL_MS} ms, not renewed) → gone in ${goneMs} ms`);
    assert.ok(goneMs <= TTL_MS + 500 + 1500, `gone ${goneMs} ms after it was written (TTL ${TTL_MS} ms + a scan)`);
  });

  it('with keyspace notifications on, an expired entry leaves at once, without waiting for a scan', { timeout: 30_000 }, async (t) => {
    await redisCommand(r.port, ['CONFIG', 'SET', 'notify-keyspace-events', 'K$gx']);
    const other = await startGateway(discoveryConfig({ redis: { url: r.url, service: 'orders', interval: '20s' }, snapshot: false, minTargets: 0 }));
    try {
      const key = 'brisk:registry:orders:crashed-2';
      await redisCommand(r.port, ['SET', key, JSON.stringify({ service: 'orders', id: 'crashed-2', url: crashed.url }), 'PX', '1500']);
      // Seen through the keyspace notification of the SET (the scan interval is 20 s).
      await waitFor('the entry seen', async () => (await members(other)).some((m) => m.url === crashed.url), 3000);
      const t0 = Date.now();
      await waitFor('the expired entry gone', async () => !(await members(other)).some((m) => m.url === crashed.url), 5000);
      t.diagnostic(`redis: entry expired (TTL 1500 ms) → gone in ${Date.now() - t0} ms with keyspace notifications, scans every 20 s`);
    } finally {
      await other.stop();
      await redisCommand(r.port, ['CONFIG', 'SET', 'notify-keyspace-events', '']);
    }
  });

  it('while Redis is down, the last view serves and the staleness grows; a restart of Brisk serves the snapshot; Redis back: the view follows again', { timeout: 60_000 }, async () => {
    let gw = tg!;
    const one = services[0]!;
    await r.kill();
    await waitFor('the failure', async () => (await discoveryState(gw))['app']?.problem?.code === 'BRISK_DISCOVERY_UNAVAILABLE', 5000);
    const s1 = (await discoveryState(gw))['app']!;
    await sleep(2000);
    const s2 = (await discoveryState(gw))['app']!;
    assert.ok(s2.stalenessS >= s1.stalenessS + 1.5, `staleness ${s1.stalenessS} → ${s2.stalenessS}`);
    assert.deepEqual(await activeUrls(gw), [one.url]);
    for (let i = 0; i < 5; i++) assert.equal((await get(gw)).status, 200);

    // Brisk restarts during the outage: it serves from the snapshot.
    await gw.stop();
    tg = null;
    tg = await startGateway(config());
    gw = tg;
    const restored = (await discoveryState(gw))['app']!;
    assert.equal(restored.from, 'snapshot');
    assert.deepEqual(await activeUrls(gw), [one.url]);
    for (let i = 0; i < 5; i++) assert.equal((await get(gw)).body, '"one"');

    // Redis comes back empty (no persistence): the empty registry is refused until the heartbeat registers `one` again.
    await r.start();
    await waitFor('the provider to answer again', async () => {
      const s = (await discoveryState(gw))['app']!;
      return s.from === 'provider' && s.problem === null;
    }, 10_000);
    assert.deepEqual(await activeUrls(gw), [one.url]);
    for (let i = 0; i < 5; i++) assert.equal((await get(gw)).status, 200);
  });
});

describe("discovery: Brisk's supervisor publishes its instances in the Redis registry", { skip: redis === null ? REDIS_MISSING : false }, () => {
  const SERVICE = fileURLToPath(new URL('../../proofs/supervisor/service.mjs', import.meta.url));
  const CHECK = { path: '/healthz', interval: '200ms', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 1 };
  let runner: TestGateway | null = null;
  let reader: TestGateway | null = null;
  after(async () => {
    await reader?.stop();
    await runner?.stop();
  });

  it('a node running the service registers its ready instances; another node discovers them; scaling down and stopping withdraw them', { timeout: 60_000 }, async () => {
    const r = redis as RestartableServer;
    if (!r.running) await r.start();
    runner = await startGateway({
      upstreams: { local: { healthCheck: CHECK } },
      routes: [{ name: 'local', match: { pathPrefix: '/' }, upstream: 'local' }],
      services: { shop: { command: [process.execPath, SERVICE], upstream: 'local', instances: { min: 1, max: 3 }, register: { redis: r.url, service: 'shop-sup', ttl: '2s' } } },
    });
    const keys = async () => ((await redisCommand(r.port, ['KEYS', 'brisk:registry:shop-sup:*'])) as string[]).sort();
    await waitFor('one entry', async () => (await keys()).length === 1, 10_000);
    const record = JSON.parse((await redisCommand(r.port, ['GET', (await keys())[0]!])) as string) as { url: string; service: string; meta: Record<string, string> };
    assert.equal(record.service, 'shop-sup');
    assert.equal(record.meta['supervisedBy'], 'brisk');
    const ttl = (await redisCommand(r.port, ['PTTL', (await keys())[0]!])) as number;
    assert.ok(ttl > 0 && ttl <= 2000, `entry with a TTL (${ttl} ms)`);

    reader = await startGateway(discoveryConfig({ redis: { url: r.url, service: 'shop-sup', interval: '500ms' }, snapshot: false, minTargets: 0 }));
    const rd = reader;
    assert.deepEqual(await activeUrls(rd), [record.url]);
    assert.equal((await get(rd, '/work')).status, 200);

    // Scaled to 2: the new instance is published once ready, and the other node takes it.
    const scaled = await fetch(`${runner.adminUrl}/api/services/shop/scale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: 2 }) });
    assert.equal(scaled.status, 200);
    await waitFor('two targets on the reader', async () => (await activeUrls(rd)).length === 2, 15_000);
    // The entries outlive their 2 s TTL: they are renewed.
    await sleep(2500);
    assert.equal((await keys()).length, 2);

    // The running node stops: its entries are withdrawn before its instances stop, and the reader drains them.
    await runner.stop();
    runner = null;
    assert.deepEqual(await keys(), []);
    await waitFor('the reader empty', async () => (await members(rd)).length === 0, 5000);
  });
});
