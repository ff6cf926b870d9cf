// The DNS discovery provider against a real DNS server on loopback (UDP, test/helpers/
// dns-server.ts): A records with a port, SRV records with their own ports and weights,
// re-resolution on the TTL within minTtl..maxTtl, the last good answer kept while the
// resolver fails or is silent, empty answers refused, a restart during the outage.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './helpers/free-port.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import type { TestGateway } from './helpers/gateway.js';
import { activeUrls, discoveryConfig, discoveryState, get, members, namedBackend, startGateway, tempDir, waitFor, type NamedBackend } from './helpers/discovery.js';

describe('discovery: DNS', () => {
  const dir = tempDir('brisk-disc-dns-');
  let dns: TestDnsServer;
  let port: number;
  // Three addresses of the loopback range, one port: what A records describe.
  let backends: NamedBackend[] = [];
  let srv: NamedBackend[] = [];
  let tg: TestGateway | null = null;
  const snapshot = join(dir.path, 'app.json');
  const aConfig = (extra: Record<string, unknown> = {}) =>
    discoveryConfig({ dns: { name: 'app.test', port, servers: [dns.address], minTtl: '100ms', maxTtl: '2s', timeout: '300ms' }, snapshot, startWait: '2s', ...extra });

  before(async () => {
    dns = await startDnsServer();
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        backends = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip, i) => namedBackend(`b${i + 1}`, ip, port)));
        break;
      } catch (err) {
        if (attempt > 3) throw err;
      }
    }
    srv = await Promise.all([namedBackend('s1'), namedBackend('s2'), namedBackend('s3')]);
  });
  after(async () => {
    await tg?.stop();
    await Promise.all([...backends, ...srv].map((b) => b.close()));
    await dns.close();
    dir.remove();
  });

  it('targets are the A records with the port; a changed answer is followed on the TTL', { timeout: 30_000 }, async () => {
    dns.zone.set('app.test', { A: [{ address: '127.0.0.2', ttl: 1 }, { address: '127.0.0.3', ttl: 1 }] });
    tg = await startGateway(aConfig());
    const gw = tg;
    assert.deepEqual(await activeUrls(gw), [`http://127.0.0.2:${port}`, `http://127.0.0.3:${port}`]);
    assert.deepEqual((await members(gw)).map((m) => m.sources[0]), ['discovery:dns', 'discovery:dns']);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add((await get(gw)).body);
    assert.deepEqual([...seen].sort(), ['b1', 'b2']);
    // .3 leaves, .4 joins: seen at the next resolution (TTL 1 s).
    dns.zone.set('app.test', { A: [{ address: '127.0.0.2', ttl: 1 }, { address: '127.0.0.4', ttl: 1 }] });
    const urls = await waitFor('the new answer', async () => {
      const u = await activeUrls(gw);
      const all = (await members(gw)).map((m) => m.url);
      return u.includes(`http://127.0.0.4:${port}`) && !all.includes(`http://127.0.0.3:${port}`) ? u : undefined;
    }, 5000);
    assert.deepEqual(urls, [`http://127.0.0.2:${port}`, `http://127.0.0.4:${port}`]);
  });

  it('resolves again on the TTL, never sooner than minTtl nor later than maxTtl', { timeout: 30_000 }, async () => {
    const count = () => dns.questions.filter((q) => q === 'app.test A').length;
    // TTL 0: clamped to minTtl (100 ms): about 10 questions a second, not a loop.
    dns.zone.set('app.test', { A: [{ address: '127.0.0.2', ttl: 0 }] });
    await sleep(1200);
    let c0 = count();
    await sleep(1000);
    const fast = count() - c0;
    assert.ok(fast >= 2 && fast <= 12, `TTL 0 with minTtl 100ms: ${fast} questions in 1 s`);
    // TTL of an hour: clamped to maxTtl (2 s).
    dns.zone.set('app.test', { A: [{ address: '127.0.0.2', ttl: 3600 }] });
    await sleep(500);
    c0 = count();
    await sleep(4500);
    const slow = count() - c0;
    assert.ok(slow >= 1 && slow <= 3, `TTL 3600 with maxTtl 2s: ${slow} questions in 4.5 s`);
  });

  it('keeps the last good answer while the resolver fails or is silent; the staleness grows; it recovers', { timeout: 30_000 }, async () => {
    const gw = tg!;
    dns.zone.set('app.test', { A: [{ address: '127.0.0.2', ttl: 1 }, { address: '127.0.0.4', ttl: 1 }] });
    await waitFor('two targets', async () => (await activeUrls(gw)).length === 2, 5000);
    dns.mode = 'servfail';
    await waitFor('the failure', async () => (await discoveryState(gw))['app']?.problem?.code === 'BRISK_DISCOVERY_UNAVAILABLE', 5000);
    assert.match((await discoveryState(gw))['app']!.problem!.message, /SERVFAIL/);
    dns.mode = 'silent';
    await sleep(2500);
    const state = (await discoveryState(gw))['app']!;
    assert.ok(state.stalenessS >= 2, `staleness ${state.stalenessS}s`);
    assert.deepEqual(await activeUrls(gw), [`http://127.0.0.2:${port}`, `http://127.0.0.4:${port}`], 'the last good answer keeps serving');
    for (let i = 0; i < 6; i++) assert.equal((await get(gw)).status, 200);
    dns.mode = 'answer';
    // Retries back off from minTtl up to maxTtl (2 s): back within a few seconds.
    await waitFor('recovery', async () => {
      const s = (await discoveryState(gw))['app']!;
      return s.problem === null && s.stalenessS < 1.5;
    }, 6000);
  });

  it('refuses an empty answer (NXDOMAIN) by default: the upstream keeps its targets', { timeout: 30_000 }, async () => {
    const gw = tg!;
    dns.mode = 'nxdomain';
    await waitFor('the refusal', async () => (await discoveryState(gw))['app']?.problem?.code === 'BRISK_DISCOVERY_ANSWER_REFUSED', 5000);
    assert.equal((await activeUrls(gw)).length, 2);
    assert.equal((await get(gw)).status, 200);
    dns.mode = 'answer';
  });

  it('restarted while DNS is silent, serves the snapshot', { timeout: 30_000 }, async () => {
    await tg!.stop();
    tg = null;
    dns.mode = 'silent';
    const started = Date.now();
    tg = await startGateway(aConfig());
    const gw = tg;
    assert.ok(Date.now() - started < 6000, 'the start waited at most about startWait');
    const s = (await discoveryState(gw))['app']!;
    assert.equal(s.from, 'snapshot');
    assert.deepEqual(await activeUrls(gw), [`http://127.0.0.2:${port}`, `http://127.0.0.4:${port}`]);
    for (let i = 0; i < 6; i++) assert.equal((await get(gw)).status, 200);
    dns.mode = 'answer';
    await waitFor('the provider to answer', async () => (await discoveryState(gw))['app']!.from === 'provider', 6000);
  });

  it('A+AAAA: both families, an IPv6 address in brackets', { timeout: 30_000 }, async () => {
    await tg!.stop();
    tg = null;
    let v6: NamedBackend;
    try {
      v6 = await namedBackend('v6', '::1', port);
    } catch {
      return; // no IPv6 loopback on this machine
    }
    try {
      dns.zone.set('both.test', { A: [{ address: '127.0.0.2', ttl: 5 }], AAAA: [{ address: '::1', ttl: 5 }] });
      tg = await startGateway(discoveryConfig({ dns: { name: 'both.test', type: 'A+AAAA', port, servers: [dns.address], minTtl: '100ms' }, snapshot: false }));
      assert.deepEqual(await activeUrls(tg), [`http://127.0.0.2:${port}`, `http://[::1]:${port}`].sort());
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) seen.add((await get(tg)).body);
      assert.deepEqual([...seen].sort(), ['b1', 'v6']);
    } finally {
      await tg?.stop();
      tg = null;
      await v6.close();
    }
  });

  it('SRV: targets are the lowest-priority records, with their ports and weights, their hosts resolved', { timeout: 30_000 }, async () => {
    await tg?.stop();
    dns.zone.set('_http._tcp.app.test', {
      SRV: [
        { record: { priority: 10, weight: 5, port: srv[0]!.port, target: 'one.app.test' }, ttl: 30 },
        { record: { priority: 10, weight: 1, port: srv[1]!.port, target: 'two.app.test' }, ttl: 30 },
        { record: { priority: 20, weight: 1, port: srv[2]!.port, target: 'backup.app.test' }, ttl: 30 },
      ],
    });
    for (const n of ['one', 'two', 'backup']) dns.zone.set(`${n}.app.test`, { A: [{ address: '127.0.0.1', ttl: 1 }] });
    tg = await startGateway(discoveryConfig({ dns: { name: '_http._tcp.app.test', type: 'SRV', servers: [dns.address], minTtl: '100ms', maxTtl: '2s' }, snapshot: false }));
    const gw = tg;
    const m = await members(gw);
    assert.deepEqual(m.map((x) => x.url).sort(), [srv[0]!.url, srv[1]!.url].sort(), 'the priority-20 record is a backup');
    const full = (await (await fetch(`${gw.adminUrl}/api/upstreams/app/targets`)).json()) as { targets: { url: string; weight: number }[] };
    assert.deepEqual(Object.fromEntries(full.targets.map((t) => [t.url, t.weight])), { [srv[0]!.url]: 5, [srv[1]!.url]: 1 });
    // The record's TTL is not exposed by node:dns: the next resolution follows the A lookups' TTL (1 s).
    const before = dns.questions.filter((q) => q === '_http._tcp.app.test SRV').length;
    await sleep(2500);
    assert.ok(dns.questions.filter((q) => q === '_http._tcp.app.test SRV').length - before >= 1, 'SRV resolved again within the A records’ TTL');
  });
});
