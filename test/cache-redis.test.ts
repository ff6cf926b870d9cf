/**
 * The Redis tier with two real Brisk processes (`brisk start`) sharing one real
 * redis-server: one node's stored response is the other's hit, a purge on one node
 * empties the other's memory too, and with Redis killed mid-run both nodes keep
 * answering from memory, promptly, with no errors.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { REDIS_MISSING, redisCommand, startRedis } from './helpers/servers.js';
import { spawnBrisk, waitAnswering } from './helpers/brisk-process.js';

const HOST = 'shop.test';


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until Redis holds `count` stored responses: a node writes its entry after it has
 * answered, so a fixed pause is a race on a loaded machine.
 */
async function storedInRedis(port: number, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const keys = (await redisCommand(port, ['KEYS', 'test:cache:e:*'])) as unknown[];
    if (keys.length >= count || Date.now() > deadline) return;
    await sleep(20);
  }
}

describe('cache Redis tier shared by two gateway processes', async () => {
  const redis = await startRedis();
  const skip = redis === null ? REDIS_MISSING : false;
  let backend: Backend;
  const hits = new Map<string, number>();
  const nodes: { child: ChildProcess; port: number; admin: number; out: () => string }[] = [];
  let dir: string;

  async function get(node: number, path: string): Promise<{ status: number; body: string; xcache: string | undefined; ms: number }> {
    const t0 = performance.now();
    const res = await request(`http://127.0.0.1:${nodes[node]!.port}${path}`, { headers: { host: HOST } });
    const body = await res.body.text();
    return { status: res.statusCode, body, xcache: res.headers['x-cache'] as string | undefined, ms: performance.now() - t0 };
  }

  async function purge(node: number, spec: object): Promise<void> {
    const res = await request(`http://127.0.0.1:${nodes[node]!.admin}/api/cache/purge`, { method: 'POST', body: JSON.stringify(spec) });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }

  before(async () => {
    if (redis === null) return;
    backend = await startBackend((req, res) => {
      const path = req.url ?? '/';
      const n = (hits.get(path) ?? 0) + 1;
      hits.set(path, n);
      res.writeHead(200, { 'cache-control': 'max-age=300', 'cache-tag': `tag-${path.split('/')[1]}`, 'content-type': 'text/plain' });
      res.end(`${path} #${n}`);
    });
    dir = mkdtempSync(join(tmpdir(), 'brisk-cache-'));
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const admin = await freePort();
      const file = join(dir, `gw${i}.yaml`);
      writeFileSync(
        file,
        [
          `listen: [{ address: "127.0.0.1:${port}" }]`,
          `admin: { address: "127.0.0.1:${admin}" }`,
          'logging: { accessLog: false, format: json, level: warn }',
          `upstreams: { app: { targets: [{ url: "${backend.url}" }] } }`,
          'routes:',
          '  - name: shop',
          '    upstream: app',
          '    cache:',
          `      redis: { url: "redis://127.0.0.1:${redis.port}", keyPrefix: "test:cache:", timeout: 100ms }`,
          '',
        ].join('\n'),
      );
      const brisk = spawnBrisk(file);
      nodes.push({ child: brisk.child, port, admin, out: brisk.output });
      await waitAnswering(brisk, admin, '/healthz', 20_000);
    }
    // Both nodes' Redis connections (and purge subscriptions) are up.
    await sleep(300);
  });

  after(async () => {
    for (const n of nodes) n.child.kill('SIGKILL');
    await backend?.close();
    await redis?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("one node's stored response is the other node's hit", { skip }, async () => {
    const a = await get(0, '/shared/one');
    assert.equal(a.xcache, 'MISS');
    await storedInRedis(redis!.port, 1);
    const b = await get(1, '/shared/one');
    assert.equal(b.xcache, 'HIT');
    assert.equal(b.body, '/shared/one #1');
    assert.equal(hits.get('/shared/one'), 1);
  });

  it("a purge on one node empties both tiers, the other node's memory included", { skip }, async () => {
    await get(0, '/p/url');
    await get(0, '/t/tagged');
    await storedInRedis(redis!.port, 3);
    assert.equal((await get(1, '/p/url')).xcache, 'HIT'); // now in node 1's memory too
    assert.equal((await get(1, '/t/tagged')).xcache, 'HIT');
    await purge(0, { url: `http://${HOST}/p/url` });
    await purge(0, { tag: 'tag-t' });
    await sleep(100);
    const u = await get(1, '/p/url');
    assert.equal(u.xcache, 'MISS');
    assert.equal(u.body, '/p/url #2');
    assert.equal((await get(1, '/t/tagged')).xcache, 'MISS');
  });

  it('Redis killed mid-run: both nodes keep answering from memory, promptly, without errors', { skip }, async () => {
    await get(0, '/down/before');
    await sleep(100);
    await redis!.stop();
    for (let node = 0; node < 2; node++) {
      for (let i = 0; i < 5; i++) {
        const r = await get(node, '/down/before');
        assert.equal(r.status, 200);
        assert.ok(r.ms < 1000, `answered in ${r.ms.toFixed(0)} ms`);
      }
      const first = await get(node, `/down/after-${node}`);
      assert.equal(first.xcache, 'MISS');
      const second = await get(node, `/down/after-${node}`);
      assert.equal(second.xcache, 'HIT', 'memory-only caching continues');
      assert.ok(second.ms < 1000);
      assert.equal(nodes[node]!.child.exitCode, null, `node ${node} still running:\n${nodes[node]!.out()}`);
    }
    for (const n of nodes) {
      const errors = n
        .out()
        .split('\n')
        .filter((l) => /"level":("error"|"fatal"|50|60)/.test(l));
      assert.deepEqual(errors, [], 'no error-level log lines');
    }
  });
});
