// The Kubernetes provider against a recorded API exchange played back by a loopback
// server (test/helpers/kube-api.ts; no cluster runs here): ready endpoints of the
// Service's EndpointSlices on the named port, changes through the watch (a new pod joins,
// a terminating one drains, a deleted slice leaves), 410 Gone → a new list, the bearer
// token, and the API server down → the last view, a restart from the snapshot.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './helpers/free-port.js';
import type { TestGateway } from './helpers/gateway.js';
import { startKubeApi, type KubeApi } from './helpers/kube-api.js';
import { activeUrls, discoveryConfig, discoveryState, get, members, namedBackend, startGateway, tempDir, waitFor, type NamedBackend } from './helpers/discovery.js';

describe('discovery: Kubernetes EndpointSlices', () => {
  const dir = tempDir('brisk-disc-k8s-');
  const tokenFile = join(dir.path, 'token');
  const snapshot = join(dir.path, 'app.json');
  let api: KubeApi;
  let port: number;
  let backends: NamedBackend[] = [];
  let tg: TestGateway | null = null;
  const url = (n: number) => `http://127.0.0.${n}:${port}`;
  const config = () => discoveryConfig({ kubernetes: { apiServer: api.url, namespace: 'default', service: 'orders', port: 'http', tokenFile, interval: '3s', timeout: '2s' }, snapshot, startWait: '4s' });

  before(async () => {
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        backends = await Promise.all([2, 3, 4, 5].map((n) => namedBackend(`pod${n}`, `127.0.0.${n}`, port)));
        break;
      } catch (err) {
        if (attempt > 3) throw err;
      }
    }
    writeFileSync(tokenFile, 'recorded-token-1\n');
    api = await startKubeApi(port, 'recorded-token-1');
  });
  after(async () => {
    await tg?.stop();
    await Promise.all(backends.map((b) => b.close()));
    await api.close();
    dir.remove();
  });

  it('lists the ready endpoints of every slice on the named port, with the bearer token', { timeout: 30_000 }, async () => {
    tg = await startGateway(config());
    const gw = tg;
    assert.deepEqual(await activeUrls(gw), [url(2), url(3), url(4)], 'the not-ready endpoint (127.0.0.9) and the metrics port are left out');
    assert.deepEqual((await members(gw))[0]!.sources, ['discovery:kubernetes']);
    assert.ok(api.requests.every((r) => r.authorized), 'every request carried the token');
    await waitFor('a watch from the list version', () => api.requests.find((r) => r.kind === 'watch' && r.resourceVersion === '48213'));
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add((await get(gw)).body);
    assert.deepEqual([...seen].sort(), ['pod2', 'pod3', 'pod4']);
  });

  it('follows the watch: a new pod joins, a terminating one drains, a deleted slice leaves; a bookmark confirms', { timeout: 30_000 }, async () => {
    const gw = tg!;
    await waitFor('a watch open', () => api.watching > 0);
    api.play(0); // pod5 ready
    await waitFor('pod5 active', async () => (await activeUrls(gw)).includes(url(5)), 3000);
    const before = (await discoveryState(gw))['app']!.updates['unchanged']!;
    api.play(1); // bookmark
    await waitFor('the bookmark confirmed the view', async () => (await discoveryState(gw))['app']!.updates['unchanged']! > before, 3000);
    api.play(2); // pod3 terminating
    await waitFor('pod3 out', async () => !(await activeUrls(gw)).includes(url(3)), 3000);
    api.play(3); // slice orders-q9m4t (pod4) deleted
    await waitFor('pod4 out', async () => !(await activeUrls(gw)).includes(url(4)), 3000);
    assert.deepEqual(await activeUrls(gw), [url(2), url(5)]);
  });

  it('410 Gone makes it list again; the server ending the watch (timeoutSeconds) too', { timeout: 30_000 }, async () => {
    const gw = tg!;
    await waitFor('a watch open', () => api.watching > 0);
    const lists = api.requests.filter((r) => r.kind === 'list').length;
    api.gone();
    await waitFor('a new list', () => api.requests.filter((r) => r.kind === 'list').length > lists, 3000);
    assert.deepEqual(await activeUrls(gw), [url(2), url(5)], 'the list agrees with what the watch had built');
    // interval 3s: the server ends the watch after 3 s and the provider lists again.
    const lists2 = api.requests.filter((r) => r.kind === 'list').length;
    await waitFor('a list after the watch timed out', () => api.requests.filter((r) => r.kind === 'list').length > lists2, 6000);
    assert.ok((await discoveryState(gw))['app']!.stalenessS < 4);
  });

  it('a wrong token is a failure that keeps the view; the token file is read again (rotation)', { timeout: 30_000 }, async () => {
    const gw = tg!;
    api.token = 'recorded-token-2';
    api.gone();
    await waitFor('the 401', async () => /401/.test((await discoveryState(gw))['app']?.problem?.message ?? ''), 5000);
    assert.deepEqual(await activeUrls(gw), [url(2), url(5)]);
    writeFileSync(tokenFile, 'recorded-token-2\n');
    await waitFor('answers again with the rotated token', async () => (await discoveryState(gw))['app']!.problem === null, 8000);
  });

  it('while the API server is down the last view serves and the staleness grows; a restarted Brisk serves the snapshot', { timeout: 40_000 }, async () => {
    let gw = tg!;
    await api.down();
    await waitFor('the failure', async () => (await discoveryState(gw))['app']?.problem?.code === 'BRISK_DISCOVERY_UNAVAILABLE', 5000);
    const s1 = (await discoveryState(gw))['app']!;
    await sleep(1500);
    assert.ok((await discoveryState(gw))['app']!.stalenessS >= s1.stalenessS + 1);
    assert.deepEqual(await activeUrls(gw), [url(2), url(5)]);
    await gw.stop();
    tg = null;
    tg = await startGateway(config());
    gw = tg;
    assert.equal((await discoveryState(gw))['app']!.from, 'snapshot');
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add((await get(gw)).body);
    assert.deepEqual([...seen].sort(), ['pod2', 'pod5']);
    await api.up();
    await waitFor('answers again', async () => (await discoveryState(gw))['app']!.from === 'provider', 15_000);
  });

  it('over HTTPS, trusting the API server through caFile (and refusing it without)', { timeout: 40_000 }, async () => {
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir.path, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-cluster-ca');
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'api.key', '-out', 'api.csr', '-subj', '/CN=kube-apiserver');
    writeFileSync(join(dir.path, 'api.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'api.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'api.ext', '-out', 'api.crt');
    writeFileSync(tokenFile, 'recorded-token-1\n');
    const secure = await startKubeApi(port, 'recorded-token-1', { cert: join(dir.path, 'api.crt'), key: join(dir.path, 'api.key') });
    const base = { apiServer: secure.url, namespace: 'default', service: 'orders', port: 'http', tokenFile, timeout: '2s' };
    let trusted: TestGateway | null = null;
    let untrusted: TestGateway | null = null;
    try {
      trusted = await startGateway(discoveryConfig({ kubernetes: { ...base, caFile: join(dir.path, 'ca.crt') }, snapshot: false }));
      assert.deepEqual(await activeUrls(trusted), [url(2), url(3), url(4)]);
      untrusted = await startGateway(discoveryConfig({ kubernetes: { ...base, caFile: join(dir.path, 'no-such-ca.crt') }, snapshot: false, startWait: '500ms' }));
      await waitFor('the certificate refused', async () => (await discoveryState(untrusted!))['app']?.problem?.code === 'BRISK_DISCOVERY_UNAVAILABLE', 5000);
      assert.deepEqual(await members(untrusted), []);
    } finally {
      await trusted?.stop();
      await untrusted?.stop();
      await secure.close();
    }
  });
});
