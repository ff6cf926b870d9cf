// The etcd provider when the member it watches freezes (SIGSTOP: its connections stay open
// and silent, the watch says nothing): the periodic read times out there and the etcd
// client answers it from the next endpoint; the provider then moves its watch to that
// member, so a change there arrives through the watch. Two single-member etcds stand in
// for two members (the second is written ahead so that its revisions are newer).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EtcdClient } from '../src/etcd/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { ETCD_MISSING, startEtcd, type RunningEtcd } from './helpers/etcd.js';
import { activeUrls, discoveryConfig, namedBackend, startGateway, waitFor, type NamedBackend } from './helpers/discovery.js';

const [first, second] = await Promise.all([startEtcd(), startEtcd()]);
const PREFIX = '/services/frozen/';

describe('discovery: etcd, the watched member freezes', { skip: first === null || second === null ? ETCD_MISSING : false }, () => {
  let tg: TestGateway | null = null;
  const backends: NamedBackend[] = [];
  after(async () => {
    first?.signal('SIGCONT');
    await tg?.stop();
    await Promise.all(backends.map((b) => b.close()));
    await Promise.all([first?.stop(), second?.stop()]);
  });

  it('moves the watch to the member that answered the read', { timeout: 60_000 }, async (t) => {
    const [a, b] = [first as RunningEtcd, second as RunningEtcd];
    const [x, y] = await Promise.all([namedBackend('x'), namedBackend('y')]);
    backends.push(x, y);
    const ca = new EtcdClient({ endpoints: [a.url] });
    const cb = new EtcdClient({ endpoints: [b.url] });
    for (let i = 0; i < 50; i++) await cb.put('/filler', String(i));
    await ca.put(`${PREFIX}x`, x.url);
    await cb.put(`${PREFIX}x`, x.url);
    tg = await startGateway(discoveryConfig({ etcd: { endpoints: [a.url, b.url], prefix: PREFIX, interval: '1s', timeout: '1s' }, snapshot: false, startWait: '5s' }));
    const gw = tg;
    assert.deepEqual(await activeUrls(gw), [x.url]);

    a.signal('SIGSTOP');
    const moved = () => gw.logs.some((l) => String(l['msg']).includes(`etcd at ${a.url} did not answer a read of ${PREFIX}; watching ${b.url} instead`));
    await waitFor('the watch moved to the second member', async () => moved(), 15_000);
    const t0 = Date.now();
    await cb.put(`${PREFIX}y`, y.url);
    await waitFor('y through the second member', async () => (await activeUrls(gw)).includes(y.url), 10_000);
    t.diagnostic(`etcd: a put on the second member → active in ${Date.now() - t0} ms, the first one frozen`);
    assert.deepEqual(await activeUrls(gw), [x.url, y.url].sort());
  });
});
