/**
 * `openRedis` against real servers: a server that is demoted to a replica under a live
 * connection answers writes with READONLY (ioredis#305: Sentinel's own failover kills
 * client connections, a hand-made or partition-healed demotion does not); the connection
 * must drop and reconnect instead of failing every write on a replica for ever.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openRedis, redisOptions } from '../src/redis/open.js';
import { REDIS_MISSING, redisCommand, startRedis } from './helpers/servers.js';

describe('openRedis', async () => {
  const a = await startRedis();
  const b = await startRedis();
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('reconnects when a write meets READONLY, and writes again once the server is a primary', { skip: a === null || b === null ? REDIS_MISSING : false, timeout: 30_000 }, async (t) => {
    const client = openRedis({ kind: 'url', url: a!.url }, { timeoutMs: 1000 });
    client.on('error', () => {});
    let reconnects = 0;
    client.on('reconnecting', () => reconnects++);
    t.after(() => client.disconnect());
    await new Promise((r) => client.once('ready', r));
    assert.equal(await client.set('k', '1'), 'OK');
    // Demote the server under the live connection, as a healed partition would.
    assert.equal(await redisCommand(a!.port, ['REPLICAOF', '127.0.0.1', String(b!.port)]), 'OK');
    await assert.rejects(client.set('k', '2'), /READONLY/);
    const deadline = Date.now() + 5000;
    while (reconnects === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(reconnects > 0, 'the READONLY answer made the client reconnect');
    assert.equal(await redisCommand(a!.port, ['REPLICAOF', 'NO', 'ONE']), 'OK');
    const until = Date.now() + 5000;
    let wrote = false;
    while (!wrote && Date.now() < until) {
      wrote = await client.set('k', '3').then(() => true, () => false);
      if (!wrote) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(wrote, 'writes succeed again');
  });

  it('fails a command at once while not connected, and bounds it by the timeout', () => {
    const o = redisOptions({ kind: 'url', url: 'redis://127.0.0.1:1' }, { timeoutMs: 50 });
    assert.equal(o.enableOfflineQueue, false);
    assert.equal(o.maxRetriesPerRequest, 0);
    assert.equal(o.commandTimeout, 50);
    assert.equal(o.enableReadyCheck, true);
    const s = redisOptions({ kind: 'sentinel', sentinels: [{ host: 'h', port: 1 }], name: 'b', username: null, password: 'p', sentinelPassword: null, db: 0, tls: false }, { timeoutMs: 50 });
    assert.equal(s.name, 'b');
    assert.equal(s.role, 'master');
    assert.equal(s.failoverDetector, true);
    assert.equal(s.password, 'p');
    assert.equal(redisOptions({ kind: 'url', url: 'redis://h' }, { subscriber: true }).enableOfflineQueue, true);
  });
});
