/**
 * The supervisor end to end, in a gateway started in this process: real instances (the
 * proof's service, and small `node -e` programs for the bad cases), real health checks,
 * the admin API, reloads and shutdown. The fault scenarios under load (SIGKILL, SIGSTOP,
 * slowness, rolling restart, load step, crash loop) are in supervisor-proof.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { runServices } from '../src/cli/services.js';
import type { ServiceSnapshot } from '../src/observability/snapshot.js';
import { startBackend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const SERVICE = fileURLToPath(new URL('../../proofs/supervisor/service.mjs', import.meta.url));
const NODE = process.execPath;
const CHECK = { path: '/healthz', interval: '200ms', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 1 };

const running: TestGateway[] = [];
after(async () => {
  for (const t of running) await t.stop().catch(() => {});
});

async function start(config: object): Promise<TestGateway> {
  const t = await startGateway(config);
  running.push(t);
  return t;
}

async function admin(t: TestGateway, method: 'GET' | 'POST', path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const res = await request(`${t.adminUrl}${path}`, { method, headers: body === undefined ? {} : { 'content-type': contentType }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? null : JSON.parse(text) };
}

async function service(t: TestGateway, name: string): Promise<ServiceSnapshot> {
  return (await admin(t, 'GET', `/api/services/${name}`)).body as ServiceSnapshot;
}

async function until<T>(what: string, check: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const proofService = (name: string, extra: Record<string, unknown> = {}) => ({
  command: [NODE, SERVICE],
  env: { WORK_MS: '5', CONCURRENCY: '8' },
  upstream: name,
  stopTimeout: '2s',
  ...extra,
});

describe('the supervisor', () => {
  it('starts instances with $PORT and $BRISK_INSTANCE, routes to them once ready, logs their output, and stops them all on shutdown', async () => {
    const t = await start({
      upstreams: { shop: { healthCheck: CHECK } },
      routes: [{ name: 'shop', upstream: 'shop' }],
      services: { shop: proofService('shop', { instances: 2 }) },
    });
    const s = await service(t, 'shop');
    assert.equal(s.ready, 2, 'Brisk opens its listeners with the instances ready');
    assert.deepEqual(s.instances.map((i) => i.id).sort(), [1, 2]);
    assert.notEqual(s.instances[0]!.port, s.instances[1]!.port);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await request(`${t.url}/work`);
      assert.equal(res.statusCode, 200);
      const body = (await res.body.json()) as { instance: string; port: number };
      assert.ok(s.instances.some((x) => x.port === body.port && String(x.id) === body.instance), 'the instance got its number and its port');
      seen.add(body.instance);
    }
    assert.deepEqual([...seen].sort(), ['1', '2']);
    const line = await until('an output line in the log', () => t.logs.find((l) => l['service'] === 'shop' && l['stream'] === 'stdout' && /listening on/.test(String(l['msg']))));
    assert.ok(typeof line['instance'] === 'number' && typeof line['pid'] === 'number');
    const listed = (await admin(t, 'GET', '/api/services')).body.services as ServiceSnapshot[];
    assert.deepEqual(listed.map((x) => x.name), ['shop']);
    const pids = s.instances.map((i) => i.pid!);
    assert.ok(pids.every(alive));
    await t.stop();
    running.pop();
    assert.deepEqual(pids.filter(alive), [], "Brisk's shutdown stopped every instance");
  });

  it('turns bad input into a log line with a code and an alert, never a crash or a restart storm', async () => {
    const t = await start({
      upstreams: { good: { healthCheck: CHECK }, missing: { healthCheck: CHECK }, loop: { healthCheck: CHECK }, deaf: { healthCheck: CHECK } },
      routes: [
        { name: 'good', upstream: 'good' },
        { name: 'missing', match: { pathPrefix: '/missing' }, upstream: 'missing' },
        { name: 'loop', match: { pathPrefix: '/loop' }, upstream: 'loop' },
        { name: 'deaf', match: { pathPrefix: '/deaf' }, upstream: 'deaf' },
      ],
      services: {
        good: proofService('good'),
        missing: { command: ['no-such-program-for-brisk'], upstream: 'missing', restart: { initialBackoff: '50ms', budget: { restarts: 2 } } },
        loop: { command: [NODE, '-e', 'process.exit(3)'], upstream: 'loop', restart: { initialBackoff: '50ms', budget: { restarts: 3 } } },
        deaf: { command: 'exec node -e "setInterval(() => {}, 1000)"', upstream: 'deaf', readyTimeout: '1s', stopTimeout: '1s', restart: { initialBackoff: '50ms', budget: { restarts: 1 } } },
      },
    });
    const loop = await until('the crash loop to be given up', async () => ((await service(t, 'loop')).gaveUp ? service(t, 'loop') : null));
    assert.equal(loop.problem?.code, 'BRISK_SERVICE_CRASH_LOOP');
    assert.match(loop.problem!.message, /gave up after 3 restarts within 60s \(last: exited with code 3\)/);
    assert.equal(loop.restarts.exit, 3);
    const missing = await until('the missing program to be given up', async () => ((await service(t, 'missing')).gaveUp ? service(t, 'missing') : null));
    assert.equal(missing.problem?.code, 'BRISK_SERVICE_CRASH_LOOP');
    assert.ok(t.logs.some((l) => l['code'] === 'BRISK_SERVICE_START_FAILED' && /program "no-such-program-for-brisk" not found/.test(String(l['msg']))));
    const deaf = await until('the deaf service to report it never got ready', async () => {
      const d = await service(t, 'deaf');
      return d.problem !== null ? d : null;
    });
    assert.match(deaf.problem!.message, /never became ready: nothing listens on its port \d+ \(\$PORT\) after 1000ms: does the program listen on \$PORT\?/);
    assert.ok(t.logs.some((l) => l['code'] === 'BRISK_SERVICE_NOT_READY'));
    // No storm: each failing service was started at most budget + 1 times.
    const starts = (name: string) => t.logs.filter((l) => l['service'] === name && /starting instance/.test(String(l['msg']))).length;
    assert.ok(starts('loop') <= 4 && starts('missing') <= 3, `starts: loop ${starts('loop')}, missing ${starts('missing')}`);
    const alerts = await until('the service-problem alerts', async () => {
      const list = (await admin(t, 'GET', '/api/alerts')).body.alerts as { rule: string; state: string; labels: Record<string, string> }[];
      const firing = list.filter((a) => a.rule === 'service-problem' && a.state === 'firing').map((a) => a.labels['service']);
      return ['deaf', 'loop', 'missing'].every((n) => firing.includes(n)) ? firing : null;
    });
    assert.ok(!alerts.includes('good'));
    const res = await request(`${t.url}/work`);
    assert.equal(res.statusCode, 200, 'Brisk still serves the other services');
    await res.body.dump();
    const metrics = await (await request(`${t.adminUrl}/metrics`)).body.text();
    assert.match(metrics, /brisk_service_problem\{service="loop",code="BRISK_SERVICE_CRASH_LOOP"\} 1/);
    assert.match(metrics, /brisk_service_restarts_total\{service="loop",reason="exit"\} 3/);
  });

  it('starts an instance again on another port when its port was taken, and says so after three times', async () => {
    // Hands its port to a grandchild that holds it for 3 s, and exits once the grandchild
    // has bound it (not after a fixed time: on a busy machine a new node process may take
    // longer than that to listen, and the instance's exit would be an ordinary crash): to
    // Brisk, the port was taken.
    const thief = `const p = process.env.PORT; const c = require('child_process').spawn(process.execPath, ['-e', "require('net').createServer().listen(" + p + ", '127.0.0.1', () => { process.send('bound', () => process.disconnect()); setTimeout(() => process.exit(0), 3000); })"], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] }); c.on('message', () => process.exit(1));`;
    const t = await start({
      upstreams: { taken: { healthCheck: CHECK } },
      routes: [{ name: 'taken', upstream: 'taken' }],
      services: { taken: { command: [NODE, '-e', thief], upstream: 'taken', readyTimeout: '5s', restart: { initialBackoff: '50ms', budget: { restarts: 1 } } } },
    });
    const s = await until('the port problem', async () => ((await service(t, 'taken')).problem?.code === 'BRISK_SERVICE_PORT_IN_USE' ? service(t, 'taken') : null), 20_000);
    assert.match(s.problem!.message, /its port \d+ was taken by another process \(4 times in a row\)/);
    const retried = t.logs.filter((l) => l['code'] === 'BRISK_SERVICE_PORT_IN_USE' && /starting it again on another port/.test(String(l['msg'])));
    assert.ok(retried.length >= 3, `${retried.length} retries logged`);
  });

  it('restarts none while every instance answers that it is not ready (a dependency they share), and the odd one out as before', { timeout: 60_000 }, async () => {
    // /readyz answers 503 while DIR/down exists (for every instance) or DIR/down-PORT (for one).
    const dir = mkdtempSync(join(tmpdir(), 'brisk-shared-dep-'));
    const program = `const fs = require('fs'), p = process.env.PORT, d = ${JSON.stringify(dir)}; require('http').createServer((q, s) => { const down = fs.existsSync(d + '/down') || fs.existsSync(d + '/down-' + p); s.writeHead(q.url === '/readyz' && down ? 503 : 200).end('x'); }).listen(p, '127.0.0.1');`;
    const t = await start({
      upstreams: { dep: { healthCheck: { ...CHECK, path: '/readyz' } } },
      routes: [{ name: 'dep', upstream: 'dep' }],
      services: { dep: { command: [NODE, '-e', program], upstream: 'dep', instances: { min: 2, max: 2 }, restart: { unhealthyFor: '1s' } } },
    });
    const unhealthyRestarts = async () => (await service(t, 'dep')).restarts.unhealthy ?? 0;
    await until('two ready', async () => (await service(t, 'dep')).ready === 2);
    writeFileSync(join(dir, 'down'), '');
    const s = await until('the shared problem', async () => ((await service(t, 'dep')).problem?.code === 'BRISK_SERVICE_ALL_UNREADY' ? service(t, 'dep') : null));
    assert.match(s.problem!.message, /every instance \(2\) answers its health check but is not ready/);
    await new Promise((r) => setTimeout(r, 3000)); // three times unhealthyFor
    assert.equal(await unhealthyRestarts(), 0, 'no instance restarted while the dependency is down');
    rmSync(join(dir, 'down'));
    const back = await until('both ready again, the problem gone', async () => {
      const now = await service(t, 'dep');
      return now.ready === 2 && now.problem === null ? now : null;
    });
    assert.equal(await unhealthyRestarts(), 0);
    // One instance not ready while its sibling is fine: the odd one out is restarted.
    writeFileSync(join(dir, `down-${back.instances[0]!.port}`), '');
    await until('the odd one out restarted', async () => (await unhealthyRestarts()) >= 1);
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts rolling with zero failed requests, scales on request, and refuses bad requests with a code', async () => {
    const t = await start({
      upstreams: { shop: { healthCheck: CHECK, drainTimeout: '2s' } },
      routes: [{ name: 'shop', upstream: 'shop' }],
      services: { shop: proofService('shop', { instances: { min: 1, max: 3 } }) },
    });
    let stop = false;
    let failures = 0;
    let sent = 0;
    const traffic = (async () => {
      while (!stop) {
        sent++;
        const res = await request(`${t.url}/work`).catch(() => null);
        if (res === null || res.statusCode !== 200) failures++;
        await res?.body.dump();
      }
    })();
    const scaled = await admin(t, 'POST', '/api/services/shop/scale', { instances: 2 });
    assert.equal(scaled.status, 200);
    assert.equal(scaled.body.scaling, 'manual');
    await until('two ready', async () => (await service(t, 'shop')).ready === 2);
    const before = await service(t, 'shop');
    const restarted = await admin(t, 'POST', '/api/services/shop/restart', { wait: true });
    assert.equal(restarted.status, 200, JSON.stringify(restarted.body));
    stop = true;
    await traffic;
    assert.equal(failures, 0, `${failures} of ${sent} requests failed during the rolling restart`);
    const now = await service(t, 'shop');
    assert.equal(now.ready, 2);
    assert.ok(before.instances.every((o) => !now.instances.some((i) => i.id === o.id)), 'every instance was replaced');
    assert.ok(now.instances.every((i) => i.lastRestart?.reason === 'rolling' && i.restarts === 1));
    assert.equal(now.restarts.rolling, 2);
    await until('an RSS sample', async () => ((await service(t, 'shop')).instances.every((i) => i.rssBytes !== null && i.rssBytes > 1_000_000) ? true : null), 5000);

    const bad = async (path: string, body: unknown, status: number, code: string, contentType?: string) => {
      const r = await admin(t, 'POST', path, body, contentType);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.error.code, code);
      return r.body.error.message as string;
    };
    assert.match(await bad('/api/services/shop/scale', { instances: 9 }, 400, 'BRISK_SERVICE_REQUEST_INVALID'), /runs between 1 and 3 instances/);
    assert.match(await bad('/api/services/shop/scale', { auto: true }, 400, 'BRISK_SERVICE_REQUEST_INVALID'), /has no scale section/);
    assert.match(await bad('/api/services/shop/scale', { instances: 2, x: 1 }, 400, 'BRISK_SERVICE_REQUEST_INVALID'), /send \{"instances": N\}/);
    assert.match(await bad('/api/services/shop/restart', { instance: 999 }, 400, 'BRISK_SERVICE_REQUEST_INVALID'), /has no running instance #999/);
    assert.match(await bad('/api/services/nope/restart', {}, 404, 'BRISK_SERVICE_NOT_FOUND'), /no service "nope"; the configuration has "shop"/);
    await bad('/api/services/shop/restart', 'instance=1', 415, 'BRISK_ADMIN_UNSUPPORTED_MEDIA_TYPE', 'application/x-www-form-urlencoded');
    assert.equal((await admin(t, 'GET', '/api/services/nope')).status, 404);

    const lines: string[] = [];
    const out = { write: (s: string) => lines.push(s) };
    assert.equal(await runServices([], { config: t.file, json: false, admin: t.adminUrl }, out, out), 0);
    assert.match(lines.join(''), /shop {2}upstream shop {2}ready 2\/2 {2}instances 1\.\.3 {2}scaling manual {2}restarts: rolling 2/);
    assert.match(lines.join(''), /rolling: 2 of 2/);
    const metrics = await (await request(`${t.adminUrl}/metrics`)).body.text();
    assert.match(metrics, /brisk_service_restarts_total\{service="shop",reason="rolling"\} 2/);
    assert.match(metrics, /brisk_service_instances\{service="shop",state="ready"\} 2/);
    assert.match(metrics, /brisk_service_scaling_decisions_total\{service="shop",direction="up"\} 1/);
  });

  it('keeps its state across reloads: new services start, changed ones roll, removed ones drain and stop', async () => {
    const config = (services: Record<string, unknown>) => ({
      upstreams: { a: { healthCheck: CHECK }, ...('b' in services ? { b: { healthCheck: CHECK } } : {}) },
      routes: [{ name: 'a', upstream: 'a' }, ...('b' in services ? [{ name: 'b', match: { pathPrefix: '/b' }, upstream: 'b' }] : [])],
      services,
    });
    const t = await start(config({ a: proofService('a') }));
    const first = await service(t, 'a');
    t.writeConfig(config({ a: proofService('a'), b: proofService('b') }));
    assert.equal((await t.gw.reload()).ok, true);
    await until('b ready', async () => (await service(t, 'b'))?.ready === 1);
    assert.equal((await service(t, 'a')).instances[0]!.pid, first.instances[0]!.pid, 'an unchanged service keeps its instances');
    const b = await service(t, 'b');
    t.writeConfig(config({ a: proofService('a', { env: { WORK_MS: '6', CONCURRENCY: '8' } }) }));
    assert.equal((await t.gw.reload()).ok, true);
    await until('a rolled', async () => {
      const a = await service(t, 'a');
      return a.ready === 1 && a.instances.length === 1 && a.instances[0]!.lastRestart?.reason === 'config';
    });
    await until('b stopped', () => !alive(b.instances[0]!.pid!));
    assert.equal((await admin(t, 'GET', '/api/services/b')).status, 404);
    assert.ok(t.logs.some((l) => /service b was removed from the configuration; its instances drain and stop/.test(String(l['msg']))));
  });

  it('runs scale.command instead of starting instances, for capacity elsewhere', async () => {
    const backend = await startBackend();
    after(() => backend.close());
    const out = join(mkdtempSync(join(tmpdir(), 'brisk-scale-')), 'asked.json');
    const script = "require('fs').writeFileSync(process.env.OUT, JSON.stringify({ service: process.env.BRISK_SERVICE, current: process.env.BRISK_SCALE_CURRENT, desired: process.env.BRISK_SCALE_DESIRED, reason: process.env.BRISK_SCALE_REASON }))";
    const t = await start({
      upstreams: { cloud: { targets: [{ url: backend.url }], healthCheck: { ...CHECK, path: '/' } } },
      routes: [{ name: 'cloud', upstream: 'cloud' }],
      services: { cloud: { upstream: 'cloud', env: { OUT: out }, instances: { min: 2, max: 4 }, scale: { targetInFlight: 5, window: '1s', command: [NODE, '-e', script] } } },
    });
    const asked = await until('the scale command', () => (existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>) : null));
    assert.deepEqual({ ...asked, reason: undefined }, { service: 'cloud', current: '1', desired: '2', reason: undefined }, 'one target runs, at least two are wanted');
    const s = await service(t, 'cloud');
    assert.equal(s.scaling, 'command');
    assert.deepEqual(s.instances, [], 'it runs nothing itself');
    // The file is written before the command exits; its log line follows the exit.
    await until('the scale command to be logged', () => t.logs.some((l) => /scale command ran \(1 → 2\)/.test(String(l['msg']))));
    assert.equal((await admin(t, 'POST', '/api/services/cloud/scale', { instances: 3 })).body.error.code, 'BRISK_SERVICE_REQUEST_INVALID');
  });

  it('restarts for memory, and from an alert action; writes output to a rotated file', async () => {
    const t = await start({
      upstreams: { mem: { healthCheck: CHECK }, act: { healthCheck: CHECK } },
      routes: [
        { name: 'mem', upstream: 'mem' },
        { name: 'act', match: { pathPrefix: '/act' }, upstream: 'act' },
      ],
      services: {
        mem: proofService('mem', { restart: { maxMemory: '1mb' }, output: { log: false, file: 'out/{instance}.log', rotate: { maxSize: '1kb', maxFiles: 2 } } }),
        act: proofService('act'),
      },
      alerts: { rules: [{ name: 'act-ready', expr: 'service_ready_instances(service="act") >= 1', actions: [{ restart: 'act' }] }] },
    });
    const replacement = await until('an instance replacing one restarted for memory', async () => (await service(t, 'mem')).instances.find((i) => i.lastRestart?.reason === 'memory'));
    assert.match(replacement.lastRestart!.detail, /^resident memory \d+mb over maxMemory 1mb$/);
    const act = await until('the alert action to restart act', async () => ((await service(t, 'act')).restarts.alert ?? 0) >= 1 ? service(t, 'act') : null);
    assert.equal(act.restarts.alert, 1);
    assert.ok(t.logs.some((l) => /alert action ran: rolling restart of act/.test(String(l['msg']))));
    const dir = join(t.file, '..', 'out');
    const file = await until('the output file', () => (existsSync(join(dir, '1.log')) ? readFileSync(join(dir, '1.log'), 'utf8') : null));
    await until('its first line', () => readFileSync(join(dir, '1.log'), 'utf8').length > 0 || file.length > 0);
    const text = readFileSync(join(dir, '1.log'), 'utf8') + (existsSync(join(dir, '1.log.1')) ? readFileSync(join(dir, '1.log.1'), 'utf8') : '');
    assert.match(text, /^\d{4}-\d\d-\d\dT[\d:.]+Z mem#1 stdout instance 1 listening on \d+$/m);
    assert.ok(!t.logs.some((l) => l['service'] === 'mem' && l['stream'] === 'stdout'), 'output.log: false keeps it out of the log');
  });
});
