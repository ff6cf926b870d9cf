// Live target sets through the admin API, under load: targets join (warmed by a health
// check), drain (in-flight requests finish) and are removed without a client error.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, request } from 'undici';
import type { Target } from '../src/upstreams/target.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const TOKEN = 'live-targets-admin-token-0123';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };

/** A backend that records what reached it, when, and which of its connections are open. */
interface TrackedBackend {
  readonly name: string;
  readonly url: string;
  readonly server: Server;
  /** `performance.now()` of every proxied (non-health) request's arrival. */
  readonly arrivals: number[];
  /** Ids (`?id=`) of slow requests being answered right now. */
  readonly slowInFlight: Set<string>;
  /** When the first passing health answer was sent (null: none yet). */
  firstHealthOkAt: number | null;
  /** Client connections open now (the gateway's pool; probes use their own short ones). */
  openSockets: number;
  /** Connections that carried proxied requests and were closed. */
  trafficSocketsClosed: number;
  /** Delay before the first health answer (to make warming observable). */
  firstHealthDelayMs: number;
  close(): Promise<void>;
}

async function trackedBackend(name: string, firstHealthDelayMs = 0): Promise<TrackedBackend> {
  const trafficSockets = new WeakSet<Socket>();
  let healthAnswers = 0;
  const b: TrackedBackend = {
    name,
    url: '',
    server: createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://backend');
      if (url.pathname === '/healthz') {
        const delay = healthAnswers++ === 0 ? b.firstHealthDelayMs : 0;
        setTimeout(() => {
          b.firstHealthOkAt ??= performance.now();
          res.end('ok');
        }, delay);
        return;
      }
      trafficSockets.add(req.socket);
      b.arrivals.push(performance.now());
      if (url.pathname === '/slow') {
        const id = url.searchParams.get('id') ?? '';
        b.slowInFlight.add(id);
        setTimeout(() => {
          b.slowInFlight.delete(id);
          res.end(name);
        }, 300);
        return;
      }
      res.end(name);
    }),
    arrivals: [],
    slowInFlight: new Set(),
    firstHealthOkAt: null,
    openSockets: 0,
    trafficSocketsClosed: 0,
    firstHealthDelayMs,
    close: () =>
      new Promise<void>((resolve) => {
        b.server.close(() => resolve());
        b.server.closeAllConnections();
      }),
  };
  // Idle keep-alive connections stay open far longer than the test: only the gateway closes them.
  b.server.keepAliveTimeout = 120_000;
  b.server.on('connection', (socket: Socket) => {
    b.openSockets++;
    socket.on('close', () => {
      b.openSockets--;
      if (trafficSockets.has(socket)) b.trafficSocketsClosed++;
    });
  });
  await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
  (b as { url: string }).url = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
  return b;
}

function gatewayConfig(targets: readonly TrackedBackend[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    admin: { address: '127.0.0.1:0', token: TOKEN },
    logging: { accessLog: false },
    upstreams: {
      app: {
        targets: targets.map((t) => ({ url: t.url })),
        balancer: 'weighted-round-robin',
        slowStart: '1s',
        drainTimeout: '5s',
        healthCheck: { path: '/healthz', interval: '100ms', timeout: '2s' },
        // A hedge would race the slow requests on another target and cancel the loser (which
        // closes its connection): off, so each request stays on the target it was sent to.
        hedge: 'off',
        ...extra,
      },
    },
    routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
  };
}

interface TargetJson {
  url: string;
  id: string;
  state: string;
  sources: string[];
  weight: number;
  health: string;
  inFlight: number;
}

async function admin(gw: TestGateway, method: string, path: string, body?: unknown, headers: Record<string, string> = JSON_AUTH): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`${gw.adminUrl}${path}`, { method: method as 'GET', headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function targetsOf(gw: TestGateway): Promise<TargetJson[]> {
  const res = await admin(gw, 'GET', '/api/upstreams/app/targets', undefined, AUTH);
  assert.equal(res.status, 200);
  return res.body['targets'] as TargetJson[];
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/**
 * Open-loop load: requests leave at `rate` per second whatever the answers do, on a pool of
 * keep-alive connections; every 20th is a slow one (300 ms at the backend).
 */
function startLoad(url: string, rate: number): { stop(): Promise<{ sent: number; ok: number; errors: string[]; seconds: number; answers: Map<string, string> }> } {
  const pool = new Pool(url, { connections: 64, pipelining: 1 });
  const started = performance.now();
  let sent = 0;
  let ok = 0;
  const errors: string[] = [];
  /** The body of each request answered 200, by id: the name of the backend that answered. */
  const answers = new Map<string, string>();
  const pending = new Set<Promise<void>>();
  const one = (i: number): Promise<void> => {
    const path = i % 20 === 0 ? `/slow?id=s${i}` : `/fast?id=f${i}`;
    return pool
      .request({ path, method: 'GET' })
      .then(async (res) => {
        const text = await res.body.text();
        if (res.statusCode === 200) {
          ok++;
          answers.set(path.slice(path.indexOf('=') + 1), text);
        } else errors.push(`${path}: ${res.statusCode} ${text.slice(0, 200)}`);
      })
      .catch((err: unknown) => void errors.push(`${path}: ${(err as Error).message}`));
  };
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      const p = one(sent++);
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  }, 5);
  return {
    async stop() {
      clearInterval(timer);
      const seconds = (performance.now() - started) / 1000;
      await Promise.all([...pending]);
      await pool.close();
      return { sent, ok, errors, seconds, answers };
    },
  };
}

describe('live target sets', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('adds, drains and removes targets through the admin API under 500+ req/s without a client error', async () => {
    const [a, b, c] = await Promise.all([trackedBackend('a'), trackedBackend('b'), trackedBackend('c')]);
    // The new target's first health answer takes 300 ms: long enough to see it warm.
    const d = await trackedBackend('d', 300);
    const gw = await startGateway(gatewayConfig([a, b, c]));
    cleanups.push(() => gw.stop(), () => a.close(), () => b.close(), () => c.close(), () => d.close());
    const upstream = gw.gw.runtime.upstreams.get('app')!;
    const targetOf = (backend: TrackedBackend): Target => upstream.targets.find((t) => t.origin === backend.url)!;
    const targetA = targetOf(a);
    const targetB = targetOf(b);
    const targetC = targetOf(c);
    const poolA = targetA.pool;

    const load = startLoad(gw.url, 600);
    await sleep(1000);

    // Add: warming (no traffic) until its first probe passes, then active and ramping up.
    const added = await admin(gw, 'POST', '/api/upstreams/app/targets', { url: d.url, weight: 2 });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const addedTarget = added.body['target'] as TargetJson;
    assert.equal(addedTarget.state, 'warming');
    assert.deepEqual(addedTarget.sources, ['admin']);
    assert.equal(addedTarget.weight, 2);
    assert.equal((await targetsOf(gw)).find((t) => t.url === d.url)?.state, 'warming');
    await until('the new target is active', async () => (await targetsOf(gw)).find((t) => t.url === d.url)?.state === 'active');
    await until('the new target takes traffic', () => d.arrivals.length > 20);

    // Drain a target with slow requests in flight: they finish with 200, nothing new goes there.
    await until('b has slow requests in flight', () => b.slowInFlight.size > 0);
    const inFlightAtDrain = [...b.slowInFlight];
    const drained = await admin(gw, 'DELETE', `/api/upstreams/app/targets?url=${encodeURIComponent(b.url)}`);
    const drainedAt = performance.now();
    assert.equal(drained.status, 202, JSON.stringify(drained.body));
    assert.equal((drained.body['target'] as TargetJson).state, 'draining');
    assert.equal((await targetsOf(gw)).find((t) => t.url === b.url)?.state, 'draining');
    await until('b has left the set', async () => (await targetsOf(gw)).every((t) => t.url !== b.url), 2000);
    await until("b's connections are closed", () => b.openSockets === 0, 3000);
    assert.equal(targetB.pool.closed, true, "the drained target's pool is closed");

    // Remove (a drain bounded by 0): cut at once; what was in flight is retried elsewhere.
    await sleep(500);
    const removed = await admin(gw, 'DELETE', `/api/upstreams/app/targets?id=${targetC.id}&timeout=0`);
    const removedAt = performance.now();
    assert.equal(removed.status, 202, JSON.stringify(removed.body));
    await until('c has left the set', async () => (await targetsOf(gw)).every((t) => t.url !== c.url), 2000);
    assert.equal(targetC.pool.destroyed, true, "the removed target's pool is gone");

    await sleep(1500);
    const result = await load.stop();
    const rate = result.sent / result.seconds;
    assert.deepEqual(result.errors, [], 'no client error');
    assert.equal(result.ok, result.sent);
    assert.ok(rate >= 500, `at least 500 req/s (got ${rate.toFixed(0)})`);
    assert.ok(inFlightAtDrain.length > 0);
    for (const id of inFlightAtDrain) assert.equal(result.answers.get(id), 'b', `request ${id}, in flight on b when it was drained, completed there with 200 (not cut and retried)`);
    // Requests already on their way when the drain was answered may still land; nothing later.
    assert.deepEqual(b.arrivals.filter((at) => at > drainedAt + 250), [], 'no request reached b after its drain');
    assert.deepEqual(c.arrivals.filter((at) => at > removedAt + 250), [], 'no request reached c after its removal');
    assert.ok(d.firstHealthOkAt !== null && d.arrivals.length > 0);
    assert.ok(d.arrivals[0]! >= d.firstHealthOkAt!, 'the new target got no traffic before its first passing probe');
    assert.equal(targetOf(a), targetA, 'the target that stays is the same object');
    assert.equal(targetA.pool, poolA, 'with the same pool');
    assert.equal(poolA.closed, false);
    assert.equal(a.trafficSocketsClosed, 0, "the pool of the target that stays stayed warm (no connection of it was closed)");

    const final = await admin(gw, 'GET', '/api/upstreams/app/targets', undefined, AUTH);
    assert.deepEqual((final.body['targets'] as TargetJson[]).map((t) => [t.url, t.state]), [
      [d.url, 'active'],
      [a.url, 'active'],
    ]);
    assert.deepEqual(final.body['heldOut'], [
      { url: b.url, sources: ['file'] },
      { url: c.url, sources: ['file'] },
    ]);
    // The runtime view and the metrics know the target that joined at runtime.
    const upstreams = await admin(gw, 'GET', '/api/upstreams', undefined, AUTH);
    const view = (upstreams.body['upstreams'] as { targets: { url: string; state: string }[] }[])[0]!;
    assert.deepEqual(view.targets.map((t) => t.url).sort(), [a.url, d.url].sort());
    gw.gw.stats.tick();
    const metrics = await (await request(`${gw.adminUrl}/metrics`, { headers: AUTH })).body.text();
    assert.match(metrics, new RegExp(`brisk_target_requests_in_flight\\{upstream="app",target="${d.url}"\\} \\d`));
    assert.match(metrics, new RegExp(`brisk_requests_total\\{route="all",upstream="app",target="${d.url}",status_class="2xx"\\} [1-9]`));
    assert.doesNotMatch(metrics, new RegExp(`brisk_target_healthy\\{upstream="app",target="${c.url}"\\}`), 'a removed target leaves the gauges');
    const stats = await admin(gw, 'GET', '/api/stats?window=60', undefined, AUTH);
    const statTargets = (stats.body['targets'] as { origin: string; window: { requests: number } }[]).map((t) => t.origin).sort();
    assert.deepEqual(statTargets, [a.url, d.url].sort());
  });

  it('a reload replaces the file targets and keeps the ones added through the admin API', async () => {
    const [a, b, e, x] = await Promise.all([trackedBackend('a'), trackedBackend('b'), trackedBackend('e'), trackedBackend('x')]);
    const gw = await startGateway(gatewayConfig([a, b]));
    cleanups.push(() => gw.stop(), () => a.close(), () => b.close(), () => e.close(), () => x.close());
    assert.equal((await admin(gw, 'POST', '/api/upstreams/app/targets', { url: x.url })).status, 201);
    const targetA = gw.gw.runtime.upstreams.get('app')!.targets.find((t) => t.origin === a.url);

    gw.writeConfig(gatewayConfig([a, e]));
    const reloaded = await gw.gw.reload();
    assert.equal(reloaded.ok, true);
    const after1 = await targetsOf(gw);
    assert.deepEqual(after1.map((t) => t.url).sort(), [a.url, e.url, x.url].sort(), 'b drained, e joined, x kept');
    assert.deepEqual(after1.find((t) => t.url === x.url)!.sources, ['admin']);
    assert.equal(after1.find((t) => t.url === e.url)!.state, 'warming', 'a target joining a running upstream warms up');
    assert.equal(gw.gw.runtime.upstreams.get('app')!.targets.find((t) => t.origin === a.url), targetA, 'a kept target is untouched');
    await until('e and x take traffic', async () => (await targetsOf(gw)).every((t) => t.state === 'active'));
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(await (await request(`${gw.url}/fast`)).body.text());
    assert.deepEqual([...seen].sort(), ['a', 'e', 'x']);

    // The admin API may also take a file target out; a reload does not bring it back.
    assert.equal((await admin(gw, 'DELETE', `/api/upstreams/app/targets?url=${encodeURIComponent(a.url)}`)).status, 202);
    assert.equal((await gw.gw.reload()).ok, true);
    assert.deepEqual((await targetsOf(gw)).map((t) => t.url).sort(), [e.url, x.url].sort());
    // …until it is added again.
    assert.equal((await admin(gw, 'POST', '/api/upstreams/app/targets', { url: a.url })).status, 201);
    assert.deepEqual((await targetsOf(gw)).find((t) => t.url === a.url)?.sources, ['admin', 'file']);
  });

  it('answers bad admin calls with their codes', async () => {
    const a = await trackedBackend('a');
    const gw = await startGateway(gatewayConfig([a]));
    cleanups.push(() => gw.stop(), () => a.close());
    const code = (r: { body: Record<string, unknown> }) => (r.body['error'] as { code: string; message: string } | undefined)?.code;
    const post = (body: unknown, headers: Record<string, string> = JSON_AUTH) => admin(gw, 'POST', '/api/upstreams/app/targets', body, headers);

    const cases: [string, Promise<{ status: number; body: Record<string, unknown> }>, number, string][] = [
      ['no token', admin(gw, 'GET', '/api/upstreams/app/targets', undefined, {}), 401, 'BRISK_ADMIN_UNAUTHORIZED'],
      ['wrong token', admin(gw, 'GET', '/api/upstreams', undefined, { authorization: 'Bearer nope-nope-nope-nope' }), 401, 'BRISK_ADMIN_UNAUTHORIZED'],
      ['Basic for a change', post({ url: 'http://127.0.0.1:1' }, { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, 'content-type': 'application/json' }), 401, 'BRISK_ADMIN_UNAUTHORIZED'],
      ['no content type', post({ url: 'http://127.0.0.1:1' }, AUTH), 415, 'BRISK_ADMIN_UNSUPPORTED_MEDIA_TYPE'],
      ['a form post', post('url=http://127.0.0.1:1', { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' }), 415, 'BRISK_ADMIN_UNSUPPORTED_MEDIA_TYPE'],
      ['DELETE without content type', admin(gw, 'DELETE', `/api/upstreams/app/targets?url=${a.url}`, undefined, AUTH), 415, 'BRISK_ADMIN_UNSUPPORTED_MEDIA_TYPE'],
      ['not JSON', post('{url:'), 400, 'BRISK_TARGET_INVALID'],
      ['no url', post({ weight: 1 }), 400, 'BRISK_TARGET_INVALID'],
      ['bad url', post({ url: 'not a url' }), 400, 'BRISK_TARGET_INVALID'],
      ['ftp url', post({ url: 'ftp://127.0.0.1:21' }), 400, 'BRISK_TARGET_INVALID'],
      ['credentials', post({ url: 'http://u:p@127.0.0.1:1' }), 400, 'BRISK_TARGET_INVALID'],
      ['query', post({ url: 'http://127.0.0.1:1/?x=1' }), 400, 'BRISK_TARGET_INVALID'],
      ['weight 0', post({ url: 'http://127.0.0.1:1', weight: 0 }), 400, 'BRISK_TARGET_INVALID'],
      ['weight text', post({ url: 'http://127.0.0.1:1', weight: 'heavy' }), 400, 'BRISK_TARGET_INVALID'],
      ['unknown key', post({ url: 'http://127.0.0.1:1', wieght: 2 }), 400, 'BRISK_TARGET_INVALID'],
      ['an array', post([{ url: 'http://127.0.0.1:1' }]), 400, 'BRISK_TARGET_INVALID'],
      ['exists (from the file)', post({ url: `${a.url}/` }), 409, 'BRISK_TARGET_EXISTS'],
      ['unknown upstream', admin(gw, 'POST', '/api/upstreams/nope/targets', { url: 'http://127.0.0.1:1' }), 404, 'BRISK_ADMIN_UPSTREAM_NOT_FOUND'],
      ['unknown upstream (GET)', admin(gw, 'GET', '/api/upstreams/nope/targets', undefined, AUTH), 404, 'BRISK_ADMIN_UPSTREAM_NOT_FOUND'],
      ['unknown target', admin(gw, 'DELETE', '/api/upstreams/app/targets?url=http://127.0.0.1:1'), 404, 'BRISK_TARGET_NOT_FOUND'],
      ['DELETE names nothing', admin(gw, 'DELETE', '/api/upstreams/app/targets'), 400, 'BRISK_TARGET_INVALID'],
      ['bad drain timeout', admin(gw, 'DELETE', `/api/upstreams/app/targets?url=${a.url}&timeout=soon`), 400, 'BRISK_TARGET_INVALID'],
      ['PUT', admin(gw, 'PUT', '/api/upstreams/app/targets', {}), 405, 'BRISK_ADMIN_METHOD_NOT_ALLOWED'],
    ];
    for (const [what, pending, status, expected] of cases) {
      const res = await pending;
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(code(res), expected, what);
      assert.ok(((res.body['error'] as { message: string }).message ?? '').length > 10, `${what}: a message that says why`);
    }
    const challenge = await request(`${gw.adminUrl}/api/upstreams`);
    assert.deepEqual(challenge.headers['www-authenticate'], ['Bearer realm="brisk-admin"', 'Basic realm="brisk-admin", charset="UTF-8"']);
    await challenge.body.dump();
    // Probes need no token; a browser opens read-only pages with Basic.
    assert.equal((await admin(gw, 'GET', '/healthz', undefined, {})).status, 200);
    assert.equal((await admin(gw, 'GET', '/readyz', undefined, {})).status, 200);
    assert.equal((await admin(gw, 'GET', '/api/upstreams/app/targets', undefined, { authorization: `Basic ${Buffer.from(`me:${TOKEN}`).toString('base64')}` })).status, 200);
    const shown = await admin(gw, 'GET', '/api/config', undefined, AUTH);
    assert.equal((shown.body['config'] as { admin: { token: string } }).admin.token, '[redacted]', 'the token is not shown');
    // Nothing above changed the set.
    assert.deepEqual((await targetsOf(gw)).map((t) => t.url), [a.url]);
  });
});
