// The etcd provider against a real etcd (one member on loopback): instances register with
// a lease and keep-alives; the watch brings joins and departures within a heartbeat
// (drained: requests in flight finish), an expired lease takes its target out, and while
// etcd is down (SIGKILL) the last view serves — also after a restart of Brisk — with the
// staleness growing, until etcd is back.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestGateway } from './helpers/gateway.js';
import { etcdPut, etcdRegister, type EtcdRegistration } from './helpers/etcd-lease.js';
import { ETCD_MISSING, restartableEtcd, type RestartableServer } from './helpers/restartable.js';
import { activeUrls, discoveryConfig, discoveryState, get, members, namedBackend, startGateway, tempDir, waitFor, type NamedBackend } from './helpers/discovery.js';

const etcd = await restartableEtcd();
const TTL_S = 5; // keep-alive every 1.7 s: leases must survive a loaded machine
const PREFIX = '/services/orders/';

describe('discovery: etcd', { skip: etcd === null ? ETCD_MISSING : false }, () => {
  const e = etcd as RestartableServer;
  const dir = tempDir('brisk-disc-etcd-');
  const snapshot = join(dir.path, 'app.json');
  let tg: TestGateway | null = null;
  let a: NamedBackend;
  let b: NamedBackend;
  let c: NamedBackend;
  const regs = new Map<string, EtcdRegistration>();
  const config = () => discoveryConfig({ etcd: { endpoints: [e.url], prefix: PREFIX, interval: '1s', timeout: '2s' }, snapshot, startWait: '5s' });
  const register = async (backend: NamedBackend, weight?: number) => {
    const value = weight === undefined ? backend.url : JSON.stringify({ url: backend.url, weight });
    regs.set(backend.name, await etcdRegister(e.url, `${PREFIX}${backend.name}`, value, TTL_S));
  };

  before(async () => {
    [a, b, c] = await Promise.all([namedBackend('a'), namedBackend('b'), namedBackend('c')]);
  });
  after(async () => {
    for (const r of regs.values()) r.crash();
    await tg?.stop();
    await Promise.all([a.close(), b.close(), c.close()]);
    await e.close();
    dir.remove();
  });

  it('starts with the registered instances and takes a new one within a heartbeat', { timeout: 30_000 }, async (t) => {
    await register(a);
    await register(b, 3);
    await etcdPut(e.url, '/services/other/x', 'http://127.0.0.1:1'); // another service's key: not ours
    tg = await startGateway(config());
    const gw = tg;
    assert.deepEqual(await activeUrls(gw), [a.url, b.url].sort(), JSON.stringify({ discovery: await discoveryState(gw), members: await members(gw), log: gw.logs.filter((l) => /discovery|etcd/.test(String(l['msg']))).map((l) => l['msg']) }));
    const full = (await (await fetch(`${gw.adminUrl}/api/upstreams/app/targets`)).json()) as { targets: { url: string; weight: number; sources: string[] }[] };
    assert.deepEqual(Object.fromEntries(full.targets.map((t) => [t.url, t.weight])), { [a.url]: 1, [b.url]: 3 });
    assert.deepEqual(full.targets[0]!.sources, ['discovery:etcd']);
    const t0 = Date.now();
    await register(c);
    await waitFor('c active', async () => (await activeUrls(gw)).includes(c.url), TTL_S * 1000);
    const joinMs = Date.now() - t0;
    t.diagnostic(`etcd: registered → active (first probe passed) in ${joinMs} ms`);
    assert.ok(joinMs < TTL_S * 1000);
  });

  it('tries the next endpoint when one is down', { timeout: 30_000 }, async () => {
    const other = await startGateway(discoveryConfig({ etcd: { endpoints: ['http://127.0.0.1:9', e.url], prefix: PREFIX, interval: '1s', timeout: '1s' }, snapshot: false, startWait: '5s' }));
    try {
      assert.deepEqual(await activeUrls(other), [a.url, b.url, c.url].sort());
    } finally {
      await other.stop();
    }
  });

  it('a deregistered instance (lease revoked) leaves within a heartbeat; its request in flight finishes', { timeout: 30_000 }, async (t) => {
    const gw = tg!;
    c.slowMs = 1500;
    let slow: Promise<{ status: number; body: string }> | null = null;
    for (let i = 0; i < 30 && slow === null; i++) {
      const before = c.hits;
      const p = get(gw, '/slow');
      await sleep(80);
      if (c.hits > before) slow = p;
      else await p;
    }
    assert.ok(slow !== null, 'a slow request reached c');
    const t0 = Date.now();
    await regs.get('c')!.deregister();
    regs.delete('c');
    await waitFor('c out of the routable set', async () => !(await activeUrls(gw)).includes(c.url), TTL_S * 1000);
    const leftMs = Date.now() - t0;
    const r = await slow;
    assert.deepEqual(r, { status: 200, body: 'c' }, 'the request in flight finished');
    t.diagnostic(`etcd: lease revoked → out of the routable set in ${leftMs} ms`);
    assert.ok(leftMs < TTL_S * 1000, `left in ${leftMs} ms`);
    await waitFor('c gone once drained', async () => !(await members(gw)).some((m) => m.url === c.url), 5000);
  });

  it('a crashed instance (no keep-alive) leaves when its lease expires', { timeout: 30_000 }, async (t) => {
    const gw = tg!;
    const t0 = Date.now();
    regs.get('b')!.crash();
    regs.delete('b');
    // etcd's lessor revokes expired leases on its own schedule (slower on a loaded machine): a generous bound.
    await waitFor('b gone', async () => !(await members(gw)).some((m) => m.url === b.url), TTL_S * 1000 + 8000);
    const ms = Date.now() - t0;
    t.diagnostic(`etcd: last keep-alive → gone in ${ms} ms (lease TTL ${TTL_S} s)`);
    // The last keep-alive went out up to a third of the TTL before the crash.
    assert.ok(ms >= (TTL_S * 1000 * 2) / 3 - 300, `not before its lease expired (${ms} ms)`);
    assert.deepEqual(await activeUrls(gw), [a.url]);
  });

  it('while etcd is down the last view serves, the staleness grows, a restarted Brisk serves the snapshot; etcd back: the watch resumes', { timeout: 60_000 }, async () => {
    let gw = tg!;
    await register(b);
    await waitFor('b back', async () => (await activeUrls(gw)).includes(b.url), 5000);
    const view = await activeUrls(gw);
    await e.kill();
    await waitFor('the failure', async () => (await discoveryState(gw))['app']?.problem?.code === 'BRISK_DISCOVERY_UNAVAILABLE', 5000);
    const s1 = (await discoveryState(gw))['app']!;
    await sleep(1500);
    const s2 = (await discoveryState(gw))['app']!;
    assert.ok(s2.stalenessS >= s1.stalenessS + 1, `staleness ${s1.stalenessS} → ${s2.stalenessS}`);
    assert.deepEqual(await activeUrls(gw), view, 'the view before the outage keeps serving');
    for (let i = 0; i < 6; i++) assert.equal((await get(gw)).status, 200);

    await gw.stop();
    tg = null;
    const t0 = Date.now();
    tg = await startGateway(config());
    gw = tg;
    assert.ok(Date.now() - t0 < 9000, 'started without etcd, within about startWait');
    assert.equal((await discoveryState(gw))['app']!.from, 'snapshot');
    assert.deepEqual(await activeUrls(gw), view);
    for (let i = 0; i < 10; i++) assert.equal((await get(gw)).status, 200);

    // etcd back (its data and leases kept): the view follows again; a new key arrives through the watch.
    await e.start();
    await waitFor('the provider to answer again', async () => {
      const s = (await discoveryState(gw))['app']!;
      return s.from === 'provider' && s.problem === null;
    }, 10_000);
    await register(c);
    await waitFor('c through the watch', async () => (await activeUrls(gw)).includes(c.url), 5000);
  });
});
