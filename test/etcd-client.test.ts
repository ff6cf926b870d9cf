/** The etcd client against a real etcd: keys, a compare-and-swap put, leases, a watch, an outage. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EtcdClient, EtcdUnavailableError, EtcdWatchCanceledError, prefixEnd, type EtcdEvent } from '../src/etcd/client.js';
import { ETCD_MISSING, startEtcd } from './helpers/etcd.js';

describe('EtcdClient', async () => {
  const etcd = await startEtcd();
  after(() => etcd?.stop());
  const skip = etcd === null ? ETCD_MISSING : false;

  it('computes the end of a prefix range', () => {
    assert.equal(prefixEnd('/a/'), '/a0');
    assert.equal(prefixEnd('ab'), 'ac');
  });

  it('puts, gets, lists a prefix, swaps only when unchanged, deletes', { skip }, async () => {
    const c = new EtcdClient({ endpoints: ['http://127.0.0.1:1', etcd!.url], timeoutMs: 1000 });
    assert.equal(await c.get('/t/none'), null);
    const rev = await c.put('/t/a', 'héllo');
    const kv = await c.get('/t/a');
    assert.equal(kv?.value, 'héllo');
    assert.equal(kv?.modRevision, rev);
    await c.put('/t/b', '2');
    assert.deepEqual((await c.getPrefix('/t/')).kvs.map((k) => k.key), ['/t/a', '/t/b']);
    assert.equal(await c.putIfUnchanged('/t/a', 'x', rev - 1), null, 'a stale revision is refused');
    assert.ok((await c.putIfUnchanged('/t/a', 'x', rev))! > rev);
    assert.notEqual(await c.putIfUnchanged('/t/new', 'n', 0), null, 'revision 0: create only');
    await c.delete('/t/', true);
    assert.equal((await c.getPrefix('/t/')).kvs.length, 0);
  });

  it('attaches keys to a lease, renews it, and revoking deletes them', { skip }, async () => {
    const c = new EtcdClient({ endpoints: [etcd!.url] });
    const lease = await c.grantLease(5);
    await c.put('/l/x', '1', lease);
    assert.equal(await c.keepAlive(lease), true);
    await c.revokeLease(lease);
    assert.equal(await c.get('/l/x'), null);
    assert.equal(await c.keepAlive(lease), false);
  });

  it('a watch etcd cancels (compacted revision) ends with EtcdWatchCanceledError; a watch whose member is dead moves the client to the next endpoint', { skip, timeout: 30_000 }, async () => {
    const c = new EtcdClient({ endpoints: [etcd!.url] });
    const old = await c.put('/cw/k', 'a');
    const now = await c.put('/cw/k', 'b');
    await c.call('/v3/kv/compaction', { revision: String(now), physical: true });
    const canceled = await new Promise<Error>((resolve) => c.watch('/cw/', old, () => {}, resolve, true));
    assert.ok(canceled instanceof EtcdWatchCanceledError, `${canceled.name}: ${canceled.message}`);
    assert.equal(canceled.compactRevision, now);
    assert.equal(c.endpoint, etcd!.url, 'a cancellation is not the endpoint\'s fault');

    const two = new EtcdClient({ endpoints: ['http://127.0.0.1:1', etcd!.url], timeoutMs: 1000 });
    assert.equal(two.endpoint, 'http://127.0.0.1:1');
    const failed = await new Promise<Error>((resolve) => two.watch('/cw/', now, () => {}, resolve, true));
    assert.ok(!(failed instanceof EtcdWatchCanceledError), failed.message);
    assert.equal(two.endpoint, etcd!.url, 'the next call starts at the next member');
  });

  it('watches changes in order from a revision, and reports the end of the stream', { skip, timeout: 30_000 }, async () => {
    const c = new EtcdClient({ endpoints: [etcd!.url] });
    const start = await c.put('/w/k', 'v1');
    const seen: EtcdEvent[] = [];
    let error: Error | null = null;
    const stop = c.watch('/w/', start, (events) => seen.push(...events), (err) => (error = err), true);
    await c.put('/w/k', 'v2');
    await c.delete('/w/k');
    const deadline = Date.now() + 5000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen.map((e) => [e.type, e.kv.value]), [['put', 'v1'], ['put', 'v2'], ['delete', '']]);
    await etcd!.kill();
    const until = Date.now() + 5000;
    while (error === null && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.ok(error !== null, 'the watch reports that etcd went away');
    stop();
    await assert.rejects(c.get('/w/k'), EtcdUnavailableError);
    await etcd!.restart();
    assert.equal(await c.get('/w/k'), null);
  });
});
