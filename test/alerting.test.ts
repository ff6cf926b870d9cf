/**
 * Alerting end to end: a real gateway, real backends, real loopback receivers, and a
 * gateway process killed with SIGKILL while a notification waits in the queue.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { stringify } from 'yaml';
import { startBackend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { startGateway } from './helpers/gateway.js';
import { spawnBrisk, type BriskProcess } from './helpers/brisk-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'brisk-alerting-e2e-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Hook {
  id: string;
  status: string;
  alerts: Array<{ rule: string; state: string; labels: Record<string, string>; summary: string }>;
}

async function startReceiver(port = 0): Promise<{ server: Server; port: number; got: Hook[]; close(): Promise<void> }> {
  const got: Hook[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push(JSON.parse(body) as Hook);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('alerting end to end', () => {
  it('a stopped backend fires target-unhealthy and no-healthy-target, delivered to a loopback receiver within seconds', { timeout: 30_000 }, async () => {
    const backend = await startBackend();
    const rx = await startReceiver();
    after(() => rx.close());
    const gw = await startGateway({
      upstreams: { app: { targets: [{ url: backend.url }], healthCheck: { path: '/', interval: '100ms', timeout: '200ms', unhealthyThreshold: 1, healthyThreshold: 1 } } },
      routes: [{ name: 'all', upstream: 'app' }],
      alerts: {
        rules: [
          { name: 'target-unhealthy', for: '200ms' },
          { name: 'upstream-no-healthy-target', for: '200ms' },
        ],
        receivers: { hook: { type: 'webhook', webhook: `http://127.0.0.1:${rx.port}/alerts?token=SECRET-TOKEN`, secret: 'SIGNING-SECRET' } },
        queue: { dir: join(tmp, 'e2e-queue'), initialBackoff: '100ms' },
      },
    });
    after(() => gw.stop());
    // The first probe passed: nothing is firing before the backend goes away.
    await until(() => gw.gw.runtime.upstreams.get('app')!.availableCount === 1, 5000, 'the first good probe');
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(rx.got.length, 0, 'no alert while the backend is up');
    const stoppedAt = Date.now();
    await backend.close();
    await until(() => rx.got.some((h) => h.alerts.some((a) => a.rule === 'upstream-no-healthy-target')) && rx.got.some((h) => h.alerts.some((a) => a.rule === 'target-unhealthy')), 8000, 'both alerts at the receiver');
    assert.ok(Date.now() - stoppedAt < 8000);
    const target = rx.got.flatMap((h) => h.alerts).find((a) => a.rule === 'target-unhealthy')!;
    assert.equal(target.state, 'firing');
    assert.equal(target.labels['target'], backend.url);
    assert.equal(target.labels['upstream'], 'app');
    const none = rx.got.flatMap((h) => h.alerts).find((a) => a.rule === 'upstream-no-healthy-target')!;
    assert.equal(none.summary, 'Upstream app has no healthy target');

    // The dashboard's view and the admin API.
    assert.ok(gw.gw.alerts!.list().some((a) => a.rule === 'target-unhealthy' && a.state === 'firing'));
    const alerts = (await (await request(`${gw.adminUrl}/api/alerts`)).body.json()) as { alerts: Array<{ rule: string; state: string }>; rules: Array<{ name: string }> };
    assert.ok(alerts.alerts.some((a) => a.rule === 'upstream-no-healthy-target' && a.state === 'firing'));
    assert.ok(alerts.rules.some((r) => r.name === 'host-cpu'), 'the default rules are listed');

    // Secrets are neither in the admin API's config nor in the log.
    const config = await (await request(`${gw.adminUrl}/api/config`)).body.text();
    assert.doesNotMatch(config, /SECRET-TOKEN|SIGNING-SECRET/);
    assert.doesNotMatch(JSON.stringify(gw.logs), /SECRET-TOKEN|SIGNING-SECRET/);
  });

  it('silences: set, listed, muting, deleted through the admin API; bad input is a 400', { timeout: 20_000 }, async () => {
    const rx = await startReceiver();
    after(() => rx.close());
    const gw = await startGateway({
      upstreams: { app: { targets: [{ url: 'http://127.0.0.1:1' }] } },
      routes: [{ name: 'all', upstream: 'app' }],
      alerts: {
        defaultRules: false,
        rules: [{ name: 'always', expr: 'total_targets(upstream="*") > 0', severity: 'info' }],
        receivers: { hook: { type: 'webhook', webhook: `http://127.0.0.1:${rx.port}/` } },
        queue: { dir: join(tmp, 'silence-queue') },
      },
    });
    after(() => gw.stop());
    const post = async (body: unknown) => {
      const res = await request(`${gw.adminUrl}/api/silences`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, any> };
    };
    const created = await post({ matchers: [{ name: 'rule', value: 'always' }], duration: '1h', comment: 'maintenance', createdBy: 'ops' });
    assert.equal(created.status, 201);
    const id = created.body['silence'].id as string;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(rx.got.length, 0, 'silenced: nothing sent');
    const list = (await (await request(`${gw.adminUrl}/api/alerts`)).body.json()) as { alerts: Array<{ silenced: boolean; state: string }> };
    assert.deepEqual(list.alerts.map((a) => [a.state, a.silenced]), [['firing', true]]);
    const silences = (await (await request(`${gw.adminUrl}/api/silences`)).body.json()) as { silences: Array<{ id: string; comment: string }> };
    assert.deepEqual(silences.silences.map((s) => [s.id, s.comment]), [[id, 'maintenance']]);
    assert.ok(existsSync(join(tmp, 'silence-queue', 'silences.json')), 'kept on disk across restarts');

    const bad = await post({ matchers: [], duration: '1h' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body['error'].code, 'BRISK_SILENCE_INVALID');
    assert.equal((await post({ matchers: [{ name: 'rule', value: 'x' }] })).status, 400);
    const notJson = await request(`${gw.adminUrl}/api/silences`, { method: 'POST', body: '{nope' });
    assert.equal(notJson.statusCode, 400);
    await notJson.body.dump();

    const del = await request(`${gw.adminUrl}/api/silences?id=${id}`, { method: 'DELETE' });
    assert.equal(del.statusCode, 200);
    await del.body.dump();
    const again = await request(`${gw.adminUrl}/api/silences?id=${id}`, { method: 'DELETE' });
    assert.equal(again.statusCode, 404);
    await again.body.dump();
    await until(() => rx.got.length === 1, 5000, 'the notification once the silence is gone');
    assert.equal(rx.got[0]!.alerts[0]!.rule, 'always');
  });

  it('a reload keeps a firing alert of an unchanged rule (no second notification)', { timeout: 20_000 }, async () => {
    const rx = await startReceiver();
    after(() => rx.close());
    const config = (extra: object[]) => ({
      upstreams: { app: { targets: [{ url: 'http://127.0.0.1:1' }] } },
      routes: [{ name: 'all', upstream: 'app' }],
      alerts: {
        defaultRules: false,
        rules: [{ name: 'always', expr: 'total_targets(upstream="*") > 0' }, ...extra],
        receivers: { hook: { type: 'webhook', webhook: `http://127.0.0.1:${rx.port}/` } },
        queue: { dir: join(tmp, 'reload-queue') },
      },
    });
    const gw = await startGateway(config([]));
    after(() => gw.stop());
    await until(() => rx.got.length === 1, 5000, 'the first notification');
    gw.writeConfig(config([{ name: 'second', expr: 'healthy_targets(upstream="*") > 100' }]));
    assert.equal((await gw.gw.reload()).ok, true);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(rx.got.length, 1);
    assert.deepEqual(gw.gw.alerts!.list().map((a) => a.rule), ['always']);
  });
});

describe('alert delivery survives a gateway killed with SIGKILL', () => {

  function startProcess(configFile: string): BriskProcess {
    const brisk = spawnBrisk(configFile, { env: { ...process.env, NO_COLOR: '1' } });
    after(() => {
      if (brisk.child.exitCode === null && brisk.child.signalCode === null) brisk.child.kill('SIGKILL');
    });
    return brisk;
  }

  it('the notification pending at the kill is delivered after the restart', { timeout: 40_000 }, async () => {
    const dir = join(tmp, 'kill');
    const queueDir = join(dir, 'queue');
    const file = join(dir, 'brisk.yaml');
    const rxPort = await freePort();
    const write = (rules: object[]) =>
      writeFileSync(
        file,
        stringify({
          listen: [{ address: '127.0.0.1:0' }],
          logging: { level: 'info', format: 'json', accessLog: false },
          upstreams: { app: { targets: [{ url: 'http://127.0.0.1:1' }] } },
          routes: [{ name: 'all', upstream: 'app' }],
          alerts: {
            defaultRules: false,
            rules,
            receivers: { hook: { type: 'webhook', webhook: `http://127.0.0.1:${rxPort}/` } },
            queue: { dir: queueDir, initialBackoff: '200ms', maxBackoff: '500ms' },
          },
        }),
      );
    rmSync(dir, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    write([{ name: 'before-kill', expr: 'total_targets(upstream="*") > 0', severity: 'critical' }]);

    // First run: the receiver is down, so the notification waits in the queue.
    const first = startProcess(file);
    const pending = join(queueDir, 'pending');
    await until(() => existsSync(pending) && readdirSync(pending).some((f) => f.endsWith('.json')), 15_000, 'the notification on disk');
    await until(() => /alert notification to \\"hook\\" failed; retrying|"alert notification to \\"hook\\" failed/.test(first.output()) || first.output().includes('failed; retrying'), 10_000, 'a failed attempt');
    const queued = JSON.parse(readFileSync(join(pending, readdirSync(pending).find((f) => f.endsWith('.json'))!), 'utf8')) as { id: string };
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    // Second run: no rule fires any more, so whatever arrives was replayed from disk.
    write([]);
    const rx = await startReceiver(rxPort);
    after(() => rx.close());
    const second = startProcess(file);
    await until(() => rx.got.length >= 1, 15_000, `the replayed notification (gateway output: ${second.output().slice(-500)})`);
    assert.equal(rx.got[0]!.id, queued.id);
    assert.equal(rx.got[0]!.alerts[0]!.rule, 'before-kill');
    await until(() => readdirSync(pending).filter((f) => f.endsWith('.json')).length === 0, 5000, 'the queue file to be removed');
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    assert.match(second.output(), /replaying notifications left by the previous run/);
  });
});
