/**
 * Config from a store (issue 17): routes and upstreams from a real etcd beside the file.
 * `brisk config push` checks and publishes; the node applies new revisions from its
 * watch, refuses a bad one with the loader's messages placed in the document while the
 * previous keeps serving, reports the revision it serves (admin API and /metrics), keeps
 * serving through an etcd outage, starts during one from its snapshot (APISIX could not:
 * apache/apisix#3878, #5115), and picks up what was pushed once etcd is back
 * (apache/apisix#11144).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { request } from 'undici';
import { runConfigPush } from '../src/cli/config-push.js';
import { EtcdClient } from '../src/etcd/client.js';
import { Gateway } from '../src/gateway/gateway.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { ETCD_MISSING, startEtcd } from './helpers/etcd.js';
import { freePort } from './helpers/free-port.js';

const KEY = '/brisk/test/config';

function doc(upstream: 'a' | 'b' | string, targets: { a: string; b: string }): string {
  return [
    'upstreams:',
    `  a: { targets: [{ url: "${targets.a}" }] }`,
    `  b: { targets: [{ url: "${targets.b}" }] }`,
    'routes:',
    '  - name: api',
    '    match: { pathPrefix: /api }',
    `    upstream: ${upstream}`,
    '',
  ].join('\n');
}

function capture(): { stream: { write(s: string): boolean }; text: () => string } {
  let text = '';
  return { stream: { write: (s: string) => ((text += s), true) }, text: () => text };
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('config from etcd beside the file', async () => {
  const etcd = await startEtcd();
  const skip = etcd === null ? ETCD_MISSING : false;
  let a: Backend;
  let b: Backend;
  let dir: string;
  let file: string;
  let port: number;
  let adminPort: number;
  let gw: Gateway | null = null;
  const logs: string[] = [];

  const start = async () => {
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) });
    gw = await Gateway.start({ configFile: file, watch: true, logger: pino({ level: 'info' }, sink) });
  };
  const who = async (): Promise<string> => {
    const res = await request(`http://127.0.0.1:${port}/api/x`);
    return res.body.text();
  };
  const status = async () => {
    const res = await request(`http://127.0.0.1:${adminPort}/api/status`);
    return ((await res.body.json()) as { configStore: { revision: number; source: string; rejectedRevision: number | null; storeUp: boolean } }).configStore;
  };
  const push = async (text: string, extra: { dryRun?: boolean } = {}) => {
    const f = join(dir, `push-${Date.now()}.yaml`);
    writeFileSync(f, text);
    const out = capture();
    const err = capture();
    const code = await runConfigPush(f, { config: file, ...extra }, out.stream, err.stream);
    return { code, out: out.text(), err: err.text(), file: f };
  };

  before(async () => {
    if (etcd === null) return;
    a = await startBackend((_req, res) => void res.end('a'));
    b = await startBackend((_req, res) => void res.end('b'));
    dir = mkdtempSync(join(tmpdir(), 'brisk-config-store-'));
    file = join(dir, 'brisk.yaml');
    port = await freePort();
    adminPort = await freePort();
    writeFileSync(
      file,
      [
        `listen: [{ address: "127.0.0.1:${port}" }]`,
        `admin: { address: "127.0.0.1:${adminPort}" }`,
        'logging: { accessLog: false }',
        `configStore: { etcd: { endpoints: ["${etcd.url}"], key: ${KEY}, timeout: 500ms }, snapshot: snap.json }`,
        // The file's own routes serve until the store has a document.
        `upstreams: { a: { targets: [{ url: "${a.url}" }] } }`,
        'routes: [{ name: api, match: { pathPrefix: /api }, upstream: a }]',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await gw?.stop();
    await a?.close();
    await b?.close();
    await etcd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the file\'s routes while the store is empty, then a pushed revision', { skip, timeout: 30_000 }, async () => {
    await start();
    assert.equal(await who(), 'a');
    assert.deepEqual(await status().then((s) => [s.source, s.revision]), ['file', 0]);
    const pushed = await push(doc('b', { a: a.url, b: b.url }));
    assert.equal(pushed.code, 0, pushed.err);
    const revision = Number(/published revision (\d+)/.exec(pushed.out)?.[1]);
    await until(async () => (await who()) === 'b', 5000, 'the pushed revision serves');
    const s = await status();
    assert.deepEqual([s.source, s.revision, s.storeUp], ['etcd', revision, true]);
    const metrics = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
    assert.match(metrics, new RegExp(`brisk_config_revision\\{key="${KEY}",source="etcd"\\} ${revision}`));
    assert.equal((await push(doc('b', { a: a.url, b: b.url }))).out.trim(), `${KEY}: unchanged at revision ${revision}`);
  });

  it('push refuses a bad document with the loader\'s messages, placed in it, and publishes nothing', { skip }, async () => {
    const bad = await push(doc('nope', { a: a.url, b: b.url }));
    assert.equal(bad.code, 1);
    assert.match(bad.err, new RegExp(`${bad.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7:15  routes\\.0\\.upstream  unknown upstream "nope"`));
    const listen = await push(`listen: [{ address: "127.0.0.1:1" }]\n${doc('a', { a: a.url, b: b.url })}`);
    assert.equal(listen.code, 1);
    assert.match(listen.err, /:1:1  listen  "listen" cannot come from the config store/);
    assert.equal(await who(), 'b');
    // A CI job with only the document and the etcd address checks it against a minimal node config.
    const f = join(dir, 'ci.yaml');
    writeFileSync(f, doc('a', { a: a.url, b: b.url }));
    const out = capture();
    assert.equal(await runConfigPush(f, { config: join(dir, 'absent.yaml'), etcd: etcd!.url, key: KEY, dryRun: true }, out.stream, out.stream), 0, out.text());
    assert.match(out.text(), /valid \(1 routes, 2 upstreams\); not published/);
  });

  it('a node refuses a bad revision written behind push\'s back; the previous keeps serving', { skip, timeout: 30_000 }, async () => {
    const before = await status();
    const client = new EtcdClient({ endpoints: [etcd!.url] });
    const badRevision = await client.put(KEY, doc('nope', { a: a.url, b: b.url }));
    await until(async () => (await status()).rejectedRevision === badRevision, 5000, 'the node saw and refused the revision');
    assert.equal(await who(), 'b');
    assert.equal((await status()).revision, before.revision);
    const problems = gw!.lastReloadProblems;
    assert.equal(problems[0]?.file, `etcd:${KEY}@${badRevision}`);
    assert.deepEqual([problems[0]?.line, problems[0]?.column, problems[0]?.path], [7, 15, 'routes.0.upstream']);
    // A good revision after it is applied.
    assert.equal((await push(doc('a', { a: a.url, b: b.url }))).code, 0);
    await until(async () => (await who()) === 'a', 5000, 'the next good revision serves');
    assert.equal((await status()).rejectedRevision, null);
  });

  it('keeps serving while etcd is down, starts from its snapshot during the outage, and catches up when etcd is back', { skip, timeout: 60_000 }, async () => {
    const served = (await status()).revision;
    await etcd!.kill();
    await until(async () => !(await status()).storeUp, 10_000, 'the node notices etcd is gone');
    assert.equal(await who(), 'a');
    // A restart during the outage comes up from the snapshot.
    await gw!.stop();
    gw = null;
    await start();
    assert.equal(await who(), 'a');
    const s = await status();
    assert.deepEqual([s.source, s.revision, s.storeUp], ['snapshot', served, false]);
    // etcd back, a push made then is picked up by the node that started from its snapshot.
    await etcd!.restart();
    assert.equal((await push(doc('b', { a: a.url, b: b.url }))).code, 0);
    await until(async () => (await who()) === 'b', 15_000, 'the revision pushed after the outage serves');
    assert.equal((await status()).source, 'etcd');
  });

  it('notices a frozen etcd whose watch stream went silent, and catches up once it thaws', { skip, timeout: 60_000 }, async () => {
    assert.equal((await status()).storeUp, true);
    etcd!.signal('SIGSTOP');
    try {
      await until(async () => !(await status()).storeUp, 15_000, 'the safety read sees etcd frozen');
      assert.equal(await who(), 'b', 'the revision in force keeps serving');
    } finally {
      etcd!.signal('SIGCONT');
    }
    await until(async () => (await status()).storeUp, 15_000, 'etcd answers again');
    assert.equal((await push(doc('a', { a: a.url, b: b.url }))).code, 0);
    await until(async () => (await who()) === 'a', 10_000, 'a revision pushed after the thaw serves');
  });

  it('a node started while etcd holds a bad revision starts from its snapshot and names the revision it refused', { skip, timeout: 30_000 }, async () => {
    const good = (await status()).revision;
    await gw!.stop();
    gw = null;
    const client = new EtcdClient({ endpoints: [etcd!.url] });
    const bad = await client.put(KEY, doc('nope', { a: a.url, b: b.url }));
    await start();
    assert.equal(await who(), 'a');
    const s = await status();
    assert.deepEqual([s.source, s.revision, s.rejectedRevision], ['snapshot', good, bad]);
    assert.ok(logs.some((l) => l.includes('BRISK_CONFIG_STORE_REVISION_REFUSED')), 'the refusal is logged with its code');
  });
});
