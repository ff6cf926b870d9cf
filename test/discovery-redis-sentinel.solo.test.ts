// The Redis registry through Redis Sentinel (a real group: primary, replica, three
// Sentinels): Brisk's supervisor publishes its ready instances with `register.redis:
// { sentinels, name }` and another node finds them with `discovery.redis: { sentinels,
// name }`, both connected through openRedis(). After a SENTINEL FAILOVER the publisher
// renews its entries on the new primary (they outlive their TTL), a new instance is
// published there and found, and stopping withdraws the entries from the new primary.
// A @brisk/service instance registered with a `redis+sentinel://` URL follows the same way.
// Solo: five redis-server processes and two gateways with a supervised service.
import assert from 'node:assert/strict';
import { createService, type Service } from '@brisk/service';
import pino from 'pino';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestGateway } from './helpers/gateway.js';
import { activeUrls, discoveryConfig, members, startGateway, waitFor } from './helpers/discovery.js';
import { SENTINEL_MISSING, startSentinelGroup, type SentinelGroup } from './helpers/redis-sentinel.js';
import { redisCommand } from './helpers/servers.js';

const group: SentinelGroup | null = await startSentinelGroup();
const SERVICE = fileURLToPath(new URL('../../proofs/supervisor/service.mjs', import.meta.url));
const CHECK = { path: '/healthz', interval: '200ms', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 1 };
const TTL = '2s';

describe('discovery: the Redis registry through Sentinel, across a failover', { skip: group === null ? SENTINEL_MISSING : false }, () => {
  let runner: TestGateway | null = null;
  let reader: TestGateway | null = null;
  let toolkit: Service | null = null;
  after(async () => {
    await toolkit?.stop();
    await reader?.stop();
    await runner?.stop();
    await group?.stop();
  });

  it('the supervisor publishes on the primary Sentinel names, a reader finds it; after SENTINEL FAILOVER both follow the new primary', { timeout: 120_000 }, async (t) => {
    const g = group as SentinelGroup;
    const redis = { sentinels: [...g.sentinels], name: g.name };
    const keysOn = async (port: number) => ((await redisCommand(port, ['KEYS', 'brisk:registry:shop-sen:*'])) as string[]).sort();
    runner = await startGateway({
      upstreams: { local: { healthCheck: CHECK } },
      routes: [{ name: 'local', match: { pathPrefix: '/' }, upstream: 'local' }],
      services: { shop: { command: [process.execPath, SERVICE], upstream: 'local', instances: { min: 1, max: 3 }, register: { redis, service: 'shop-sen', ttl: TTL } } },
    });
    const first = await g.primaryPort();
    await waitFor('one entry on the primary', async () => (await keysOn(first)).length === 1, 15_000);

    // The toolkit's self-registration, through the Sentinel URL form a service reads from $REDIS_URL.
    const toolkitKeys = async (port: number) => (await redisCommand(port, ['KEYS', 'brisk:registry:toolkit-sen:*'])) as string[];
    toolkit = createService({ name: 'toolkit-sen', handleSignals: false, logger: pino({ level: 'silent' }), drainDelayMs: 0, registration: { redis: `redis+sentinel://${g.sentinels.join(',')}/${g.name}`, ttlMs: 2000 } });
    await toolkit.start();
    await waitFor('the toolkit instance on the primary', async () => (await toolkitKeys(first)).length === 1, 10_000);

    reader = await startGateway(discoveryConfig({ redis: { ...redis, service: 'shop-sen', interval: '500ms' }, snapshot: false, minTargets: 0 }));
    const rd = reader;
    await waitFor('the reader finds the instance', async () => (await activeUrls(rd)).length === 1, 10_000);

    const sw = await g.failover();
    t.diagnostic(`SENTINEL FAILOVER: primary ${sw.from} → ${sw.to} in ${sw.ms} ms`);
    assert.notEqual(sw.to, first);
    // Past the entry's TTL: only renewals on the new primary keep it (the old one is a replica now).
    await sleep(3000);
    assert.equal((await keysOn(sw.to)).length, 1, 'the entry is renewed on the new primary');
    const ttl = (await redisCommand(sw.to, ['PTTL', (await keysOn(sw.to))[0]!])) as number;
    assert.ok(ttl > 0 && ttl <= 2000, `with its TTL (${ttl} ms)`);
    assert.equal((await activeUrls(rd)).length, 1, 'the reader still has it');
    assert.equal((await toolkitKeys(sw.to)).length, 1, "the toolkit's entry is renewed on the new primary");
    await toolkit.stop();
    toolkit = null;
    assert.deepEqual(await toolkitKeys(sw.to), [], "the toolkit's entry is withdrawn from the new primary");

    // A new instance is published on the new primary and found through Sentinel.
    const scaled = await fetch(`${runner.adminUrl}/api/services/shop/scale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: 2 }) });
    assert.equal(scaled.status, 200);
    await waitFor('two entries on the new primary', async () => (await keysOn(sw.to)).length === 2, 15_000);
    await waitFor('two targets on the reader', async () => (await activeUrls(rd)).length === 2, 15_000);

    // Stopping withdraws the entries from the new primary; the reader drains them.
    await runner.stop();
    runner = null;
    assert.deepEqual(await keysOn(sw.to), []);
    await waitFor('the reader empty', async () => (await members(rd)).length === 0, 10_000);
  });
});
