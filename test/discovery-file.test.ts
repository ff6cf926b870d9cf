// The watched-file discovery provider end to end: targets follow the file (joining ones
// warmed by a health check, leaving ones drained with their requests finishing), a broken
// or empty file keeps the last good targets, staleness shows in /metrics and the admin
// API, and a restart while the file is gone serves from the snapshot.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './helpers/free-port.js';
import type { TestGateway } from './helpers/gateway.js';
import { activeUrls, discoveryConfig, discoveryState, get, members, namedBackend, startGateway, tempDir, waitFor, type NamedBackend } from './helpers/discovery.js';

describe('discovery: a watched targets file', () => {
  const dir = tempDir('brisk-disc-file-');
  const list = join(dir.path, 'targets.yaml');
  const snapshot = join(dir.path, 'state', 'app.json');
  let a: NamedBackend;
  let b: NamedBackend;
  let c: NamedBackend;
  let tg: TestGateway | null = null;
  /** Writes the list the way a deploy tool should: a temporary file renamed over it. */
  const writeList = (text: string) => {
    writeFileSync(`${list}.tmp`, text);
    renameSync(`${list}.tmp`, list);
  };
  const config = (extra: Record<string, unknown> = {}) => discoveryConfig({ file: { path: list, interval: '300ms' }, snapshot, ...extra });

  before(async () => {
    [a, b, c] = await Promise.all([namedBackend('a'), namedBackend('b'), namedBackend('c')]);
  });
  after(async () => {
    await tg?.stop();
    await Promise.all([a.close(), b.close(), c.close()]);
    dir.remove();
  });

  it('starts with the targets the file lists, warm, and follows changes: a new one is warmed first, a removed one drains with its requests finishing', { timeout: 30_000 }, async () => {
    writeList(`- ${a.url}\n- url: ${b.url}\n  weight: 2\n`);
    tg = await startGateway(config());
    const gw = tg;
    // Opened warm: both were in the first membership and passed their first probe before the listeners opened.
    assert.deepEqual(await activeUrls(gw), [a.url, b.url].sort());
    const first = await members(gw);
    assert.deepEqual(first.map((m) => m.sources), [['discovery:file'], ['discovery:file']]);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await get(gw)).body);
    assert.deepEqual([...seen].sort(), ['a', 'b']);

    // A slow request on b, then b leaves the file and c joins.
    b.slowMs = 1500;
    const before = b.hits;
    const slowOnB = (async () => {
      for (let i = 0; i < 40; i++) {
        const r = await get(gw, '/slow');
        if (r.body === 'b') return r;
      }
      return null;
    })();
    await waitFor('a slow request in flight on b', () => b.hits > before);
    writeList(`[${JSON.stringify(a.url)}, ${JSON.stringify(c.url)}]`);
    const states = await waitFor('b draining or gone, c joined', async () => {
      const m = await members(gw);
      const byUrl = Object.fromEntries(m.map((x) => [x.url, x.state]));
      return byUrl[c.url] !== undefined && byUrl[b.url] !== 'active' ? byUrl : undefined;
    });
    assert.notEqual(states[b.url], 'active');
    const slow = await slowOnB;
    assert.ok(slow !== null, 'a slow request reached b');
    assert.equal(slow.status, 200, 'the request in flight on the leaving target finished');
    assert.deepEqual(await waitFor('a and c active, b gone', async () => {
      const urls = await activeUrls(gw);
      const all = (await members(gw)).map((m) => m.url);
      return urls.length === 2 && !all.includes(b.url) ? urls : undefined;
    }), [a.url, c.url].sort());
    const after = new Set<string>();
    for (let i = 0; i < 20; i++) after.add((await get(gw)).body);
    assert.deepEqual([...after].sort(), ['a', 'c']);
    // The snapshot on disk has the new view.
    const snap = await waitFor('the snapshot to hold a and c', () => {
      if (!existsSync(snapshot)) return undefined;
      const s = JSON.parse(readFileSync(snapshot, 'utf8')) as { targets: { url: string }[] };
      return s.targets.length === 2 && s.targets.some((t) => t.url === c.url) ? s : undefined;
    });
    assert.deepEqual(snap.targets.map((t) => t.url).sort(), [a.url, c.url].sort());
  });

  it('keeps the last good targets when the file turns invalid or empty, and the staleness grows', { timeout: 30_000 }, async () => {
    const gw = tg!;
    writeList('- [this is: not, a list of targets\n');
    await waitFor('the failure to show', async () => (await discoveryState(gw))['app']?.problem?.code === 'BRISK_DISCOVERY_UNAVAILABLE');
    const s1 = (await discoveryState(gw))['app']!;
    await sleep(1500);
    const s2 = (await discoveryState(gw))['app']!;
    assert.ok(s2.stalenessS >= s1.stalenessS + 1, `staleness grows while the file is broken (${s1.stalenessS} → ${s2.stalenessS})`);
    assert.deepEqual(await activeUrls(gw), [a.url, c.url].sort(), 'the last good targets keep serving');
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('brisk_discovery_staleness_seconds{upstream="app",provider="file"}'));
    assert.ok(line !== undefined, 'the staleness gauge is in /metrics');
    assert.ok(Number(line.split(' ')[1]) >= 1, line);
    assert.match(metrics, /brisk_discovery_updates_total\{upstream="app",provider="file",result="failed"\} [1-9]/);

    // An empty list is refused by the default guard (minTargets 1).
    writeList('[]\n');
    await waitFor('the refusal', async () => (await discoveryState(gw))['app']?.problem?.code === 'BRISK_DISCOVERY_ANSWER_REFUSED');
    assert.deepEqual(await activeUrls(gw), [a.url, c.url].sort(), 'an empty answer does not empty a healthy upstream');
    assert.equal((await get(gw)).status, 200);

    // A good file again: the problem clears and the staleness drops.
    writeList(`- ${a.url}\n- ${c.url}\n`);
    await waitFor('the problem to clear', async () => {
      const s = (await discoveryState(gw))['app']!;
      return s.problem === null && s.stalenessS < 1;
    });
  });

  it('restarted while the file is gone, serves the targets of the snapshot', { timeout: 30_000 }, async () => {
    await tg!.stop();
    tg = null;
    rmSync(list);
    tg = await startGateway(config());
    const gw = tg;
    const state = (await discoveryState(gw))['app']!;
    assert.equal(state.from, 'snapshot');
    assert.equal(state.problem?.code, 'BRISK_DISCOVERY_UNAVAILABLE');
    assert.deepEqual(await activeUrls(gw), [a.url, c.url].sort());
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await get(gw);
      assert.equal(r.status, 200);
      seen.add(r.body);
    }
    assert.deepEqual([...seen].sort(), ['a', 'c']);
    assert.match(await (await fetch(`${gw.adminUrl}/metrics`)).text(), /brisk_discovery_from_snapshot\{upstream="app",provider="file"\} 1/);
  });

  it('a listed target that fails its health check never takes traffic (the probe decides, not the list)', { timeout: 30_000 }, async () => {
    await tg!.stop();
    const dead = `http://127.0.0.1:${await freePort()}`;
    writeList(`- ${a.url}\n- ${dead}\n`);
    tg = await startGateway(config({ snapshot: false }));
    const gw = tg;
    assert.deepEqual((await members(gw)).filter((m) => m.health === 'healthy').map((m) => m.url), [a.url]);
    const d = (await members(gw)).find((m) => m.url === dead);
    assert.ok(d !== undefined && d.health !== 'healthy', `the dead target is a member but not healthy (${JSON.stringify(d)})`);
    for (let i = 0; i < 20; i++) assert.deepEqual(await get(gw), { status: 200, body: 'a' });
    // A new dead target joining the live upstream stays warming: no traffic, no panic.
    const dead2 = `http://127.0.0.1:${await freePort()}`;
    writeList(`- ${a.url}\n- ${dead}\n- ${dead2}\n`);
    await waitFor('the second dead target listed', async () => (await members(gw)).some((m) => m.url === dead2));
    assert.equal((await members(gw)).find((m) => m.url === dead2)!.state, 'warming');
    for (let i = 0; i < 20; i++) assert.deepEqual(await get(gw), { status: 200, body: 'a' });
  });

  it('a snapshot that cannot be written is logged once, and serving goes on', { timeout: 30_000 }, async () => {
    await tg!.stop();
    const blocker = join(dir.path, 'not-a-directory');
    writeFileSync(blocker, 'a file where the snapshot directory should be');
    writeList(`- ${a.url}\n`);
    tg = await startGateway(config({ snapshot: join(blocker, 'app.json') }));
    const gw = tg;
    writeList(`- ${a.url}\n- ${c.url}\n`);
    await waitFor('c listed', async () => (await members(gw)).some((m) => m.url === c.url));
    await sleep(300);
    const failures = gw.logs.filter((l) => l['code'] === 'BRISK_DISCOVERY_SNAPSHOT_FAILED' && /cannot write/.test(String(l['msg'])));
    assert.equal(failures.length, 1, 'logged once for two failed writes');
    assert.equal((await get(gw)).status, 200);
  });

  it('with minTargets 0, an empty list empties the upstream (its targets drain)', { timeout: 30_000 }, async () => {
    await tg!.stop();
    writeList(`- ${a.url}\n`);
    tg = await startGateway(config({ minTargets: 0, snapshot: false }));
    const gw = tg;
    assert.deepEqual(await activeUrls(gw), [a.url]);
    writeList('[]\n');
    await waitFor('the upstream to empty', async () => (await members(gw)).length === 0);
    assert.equal((await get(gw)).status, 503);
  });
});

describe('discovery across reloads', () => {
  const dir = tempDir('brisk-disc-reload-');
  const one = join(dir.path, 'one.json');
  const two = join(dir.path, 'two.json');
  let a: NamedBackend;
  let b: NamedBackend;
  let tg: TestGateway | null = null;
  before(async () => {
    [a, b] = await Promise.all([namedBackend('a'), namedBackend('b')]);
    writeFileSync(one, JSON.stringify([a.url]));
    writeFileSync(two, JSON.stringify({ targets: [{ url: b.url, weight: 3 }] }));
  });
  after(async () => {
    await tg?.stop();
    await Promise.all([a.close(), b.close()]);
    dir.remove();
  });

  it('a changed block restarts its provider, a removed one drains its targets, the file targets stay', { timeout: 30_000 }, async () => {
    const base = (discovery: Record<string, unknown> | null) => {
      const c = discoveryConfig(discovery ?? {}) as { upstreams: { app: Record<string, unknown> } };
      if (discovery === null) delete c.upstreams.app['discovery'];
      c.upstreams.app['targets'] = [{ url: a.url }];
      return c;
    };
    tg = await startGateway(base({ file: { path: one }, snapshot: false }));
    const gw = tg;
    const m0 = await members(gw);
    assert.deepEqual(m0.map((m) => [m.url, m.sources]), [[a.url, ['file', 'discovery:file']]], 'one target named by the file and by discovery');
    gw.writeConfig(base({ file: { path: two }, snapshot: false }));
    assert.equal((await gw.gw.reload()).ok, true);
    await waitFor('b from the other list', async () => (await activeUrls(gw)).includes(b.url), 5000);
    assert.deepEqual((await members(gw)).find((m) => m.url === a.url)?.sources, ['file'], 'a stays: the file names it');
    gw.writeConfig(base(null));
    assert.equal((await gw.gw.reload()).ok, true);
    await waitFor('b drained and gone', async () => !(await members(gw)).some((m) => m.url === b.url), 5000);
    assert.deepEqual(await activeUrls(gw), [a.url]);
    assert.deepEqual(await discoveryState(gw), {});
  });
});

describe('discovery with data-plane workers', () => {
  const dir = tempDir('brisk-disc-workers-');
  const list = join(dir.path, 'targets.json');
  let a: NamedBackend;
  let b: NamedBackend;
  let tg: TestGateway | null = null;
  before(async () => {
    [a, b] = await Promise.all([namedBackend('a'), namedBackend('b')]);
  });
  after(async () => {
    await tg?.stop();
    await Promise.all([a.close(), b.close()]);
    dir.remove();
  });

  it('every worker serves the discovered targets and follows their changes', { timeout: 60_000 }, async () => {
    writeFileSync(list, JSON.stringify([a.url]));
    tg = await startGateway({ ...discoveryConfig({ file: { path: list, interval: '300ms' }, snapshot: false }), workers: 2 });
    const gw = tg;
    // Many fresh connections: they spread over both workers.
    const bodies = async (n: number) => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${gw.url}/`, { headers: { connection: 'close' } });
        assert.equal(res.status, 200);
        seen.add(await res.text());
      }
      return [...seen].sort();
    };
    assert.deepEqual(await bodies(20), ['a']);
    writeFileSync(`${list}.tmp`, JSON.stringify([b.url]));
    renameSync(`${list}.tmp`, list);
    await waitFor('only b answers, from every worker', async () => (await bodies(20)).join() === 'b', 15_000);
  });
});
