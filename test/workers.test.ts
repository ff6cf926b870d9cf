/**
 * Brisk on every core (`workers: 2`): the primary runs the control plane and supervises
 * two data-plane workers that share the listener. The CI short form of the workers proof
 * (`npm run proof:workers` has the bars under load): each test is bounded, stops by
 * itself, and its timing margins are generous (the machine is shared).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Pool, request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, simpleConfig, type TestGateway } from './helpers/gateway.js';
import { PROMTOOL_SKIP, runPromtool, scrape, sum } from './helpers/metrics.js';
import type { WorkerInfo } from '../src/workers/protocol.js';

async function workers(gw: TestGateway): Promise<WorkerInfo[]> {
  const res = await request(`${gw.adminUrl}/api/workers`);
  return ((await res.body.json()) as { workers: WorkerInfo[] }).workers;
}

/** Requests in the last 5 minutes of `/api/stats` (what the dashboard shows). */
async function stats(gw: TestGateway): Promise<number> {
  const res = await request(`${gw.adminUrl}/api/stats?window=300`);
  return ((await res.body.json()) as { total: { requests: number } }).total.requests;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Connections handed to a dead worker and rescued so far (`GET /api/workers`). */
async function rescued(gw: TestGateway): Promise<{ handedOver: number; closed: number }> {
  const res = await request(`${gw.adminUrl}/api/workers`);
  return ((await res.body.json()) as { rescuedConnections: { handedOver: number; closed: number } }).rescuedConnections;
}

/** One GET on a connection of its own; resolves with the status (0: failed or timed out). */
function freshConnection(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Sends `n` GETs over `connections` keep-alive connections; resolves with the statuses (0: a client error). */
async function burst(url: string, n: number, connections: number): Promise<number[]> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  try {
    return await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        try {
          const r = await pool.request({ path: `/r/${i}`, method: 'GET' });
          await r.body.dump();
          return r.statusCode;
        } catch {
          return 0;
        }
      }),
    );
  } finally {
    await pool.close();
  }
}

/** A steady trickle of requests until stopped: counts answers and client errors. */
function trickle(url: string, everyMs: number): { stop(): Promise<{ ok: number; failed: number; statuses: Map<number, number> }> } {
  // A client timeout, as every real client has (undici's default is 300 s): a connection the
  // cluster primary handed to a worker at the instant it was SIGKILLed is handed to another
  // worker (src/workers/handoff.ts), so none should need it; if one did, it counts as failed.
  const pool = new Pool(url, { connections: 4, headersTimeout: 5_000, bodyTimeout: 5_000 });
  let running = true;
  let ok = 0;
  let failed = 0;
  const statuses = new Map<number, number>();
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (!running) return;
    const p = (async () => {
      try {
        const r = await pool.request({ path: '/t', method: 'GET' });
        await r.body.dump();
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        if (r.statusCode === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }, everyMs);
  return {
    async stop() {
      running = false;
      clearInterval(timer);
      await Promise.all(inFlight);
      await pool.close();
      return { ok, failed, statuses };
    },
  };
}

describe('workers: 2', () => {
  let backend: Backend;
  let probes = 0;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((req, res) => {
      if (req.url === '/health') probes++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    gw = await startGateway(simpleConfig([backend.url], { workers: 2, upstreams: { app: { targets: [{ url: backend.url }], healthCheck: { path: '/health', interval: '200ms' } } } }));
  });
  after(async () => {
    if (process.env['BRISK_TEST_LOGS'] === '1') for (const l of gw?.logs ?? []) if (l['level'] !== 'debug') console.error(JSON.stringify(l).slice(0, 300));
    await gw?.stop();
    await backend?.close();
  });

  test('two workers serve one listener; /metrics counts every request once; promtool is clean', { timeout: 60_000 }, async () => {
    const list = await workers(gw);
    assert.equal(list.length, 2);
    assert.deepEqual(
      list.map((w) => [w.slot, w.state, w.version]),
      [
        [1, 'ready', 1],
        [2, 'ready', 1],
      ],
    );
    const before = sum((await scrape(gw.adminUrl)).samples, 'brisk_requests_total');
    const statuses = await burst(gw.url, 400, 20);
    assert.deepEqual([...new Set(statuses)], [200]);
    // Batches arrive with the next report (100 ms).
    const total = await until('the requests in /metrics', 10_000, async () => {
      const t = sum((await scrape(gw.adminUrl)).samples, 'brisk_requests_total');
      return t - before >= 400 ? t : null;
    });
    assert.equal(total - before, 400, 'every request counted exactly once');
    const after = await workers(gw);
    for (const w of after) assert.ok(w.requests > 0, `worker ${w.slot} served some of the 20 connections' requests (${after.map((x) => x.requests).join(' / ')})`);
    const { text, samples } = await scrape(gw.adminUrl);
    assert.equal(sum(samples, 'brisk_workers'), 2);
    assert.equal(sum(samples, 'brisk_worker_requests_total'), after.reduce((a, w) => a + w.requests, 0));
    // The process families are every process's, labelled: the primary and each worker.
    for (const worker of ['primary', '1', '2']) {
      assert.ok(sum(samples, 'brisk_process_cpu_user_seconds_total', { worker }) > 0, `process CPU of ${worker}`);
      assert.ok(sum(samples, 'brisk_process_resident_memory_bytes', { worker }) > 0, `resident memory of ${worker}`);
    }
    assert.equal(text.match(/^# TYPE brisk_process_cpu_user_seconds_total /gm)?.length, 1, 'one family');
    assert.ok(!/^brisk_process_cpu_user_seconds_total /m.test(text), 'no unlabelled process sample');
    if (PROMTOOL_SKIP === false) {
      const r = await runPromtool(['check', 'metrics'], text);
      assert.equal(r.code, 0, r.output);
    }
  });

  test('the dashboard and /api/stats see every worker: the node, not the primary', { timeout: 60_000 }, async () => {
    await burst(gw.url, 200, 20);
    // The gateway started less than 5 minutes ago: the 300 s window holds every request
    // the node answered, once their seconds closed, as /metrics counts them.
    const total = await until('the node\'s requests in /metrics', 10_000, async () => {
      const t = sum((await scrape(gw.adminUrl)).samples, 'brisk_requests_total');
      return t >= 600 ? t : null;
    });
    const seen = await until('/api/stats to catch up with /metrics', 10_000, async () => {
      const s = await stats(gw);
      return s >= total ? s : null;
    });
    assert.equal(seen, total);
  });

  test('health checks run once for the node, not once per worker', { timeout: 30_000 }, async () => {
    const start = probes;
    await new Promise((r) => setTimeout(r, 2000));
    const n = probes - start;
    // One checker at 200 ms: ~10 probes in 2 s; one per worker as well would be ~30.
    assert.ok(n >= 4 && n <= 16, `${n} probes in 2 s`);
  });

  test('a reload is applied by every worker at the same version', { timeout: 60_000 }, async () => {
    gw.writeConfig(simpleConfig([backend.url], { workers: 2, upstreams: { app: { targets: [{ url: backend.url }], healthCheck: { path: '/health', interval: '200ms' } } }, routes: [{ name: 'renamed', match: { pathPrefix: '/' }, upstream: 'app' }] }));
    const result = await gw.gw.reload();
    assert.equal(result.ok, true);
    assert.ok(result.ok && result.workers !== undefined);
    if (result.ok) assert.deepEqual(result.workers, [
      { slot: 1, version: 2 },
      { slot: 2, version: 2 },
    ]);
    const statuses = await burst(gw.url, 50, 10);
    assert.deepEqual([...new Set(statuses)], [200]);
    const samples = await until('the renamed route in /metrics', 10_000, async () => {
      const s = (await scrape(gw.adminUrl)).samples;
      return sum(s, 'brisk_requests_total', { route: 'renamed' }) >= 50 ? s : null;
    });
    assert.equal(sum(samples, 'brisk_requests_total', { route: 'renamed' }), 50);
  });

  test('a killed worker is replaced at once; the other keeps serving; counters stay monotonic', { timeout: 60_000 }, async () => {
    const [victim] = await workers(gw);
    assert.ok(victim?.pid != null);
    const before = sum((await scrape(gw.adminUrl)).samples, 'brisk_requests_total');
    const load = trickle(gw.url, 10);
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const replaced = await until('a new worker in slot 1', 20_000, async () => {
      const w = (await workers(gw))[0]!;
      return w.state === 'ready' && w.pid !== victim.pid ? w : null;
    });
    const tookMs = Date.now() - killedAt;
    await new Promise((r) => setTimeout(r, 500));
    const { ok, failed } = await load.stop();
    assert.equal(replaced.restarts.exit, 1);
    // Generous on a shared machine; the proof holds the 2 s bar.
    assert.ok(tookMs < 15_000, `replaced in ${tookMs} ms`);
    // A trickle of one request per 10 ms has a few in flight at most: only those may fail.
    assert.ok(failed <= 5, `${failed} failed, ${ok} ok`);
    assert.ok(ok > 50);
    // Counted requests reach the primary in batches every 100 ms: the killed worker's last
    // batch dies with it (about 100 ms of its share of the trickle), the rest stays counted.
    await new Promise((r) => setTimeout(r, 1000));
    const counted = sum((await scrape(gw.adminUrl)).samples, 'brisk_requests_total') - before;
    assert.ok(counted <= ok + failed, `${counted} counted, ${ok} answered`);
    assert.ok(ok - counted <= 20, `${ok - counted} answered requests not counted (${counted} of ${ok})`);
  });

  test('a stuck worker (SIGSTOP) is detected by its heartbeat and replaced; the connection handed to it meanwhile is served by the other', { timeout: 60_000 }, async () => {
    const victim = (await workers(gw))[1]!;
    assert.ok(victim.pid != null);
    const rescuedBefore = await rescued(gw);
    const stoppedAt = Date.now();
    process.kill(victim.pid, 'SIGSTOP');
    try {
      // New connections while it is stopped: the primary sends some of them to the stopped
      // worker (until its acknowledgements are overdue). Without the rescue they would wait
      // for the client's timeout; with it, their requests are served by the other worker
      // once the stuck one is killed.
      const fresh = Array.from({ length: 4 }, (_, i) => freshConnection(`${gw.url}/fresh/${i}`, 25_000));
      const replaced = await until('a new worker in slot 2', 30_000, async () => {
        const w = (await workers(gw))[1]!;
        return w.state === 'ready' && w.pid !== victim.pid ? w : null;
      });
      assert.equal(replaced.restarts.stuck, 1);
      assert.ok(Date.now() - stoppedAt < 20_000);
      const answers = await Promise.all(fresh);
      assert.deepEqual(answers, [200, 200, 200, 200], 'every request on a new connection is answered');
      const after = await rescued(gw);
      assert.ok(after.handedOver >= rescuedBefore.handedOver + 1, `a connection was handed over: ${JSON.stringify(after)}`);
    } finally {
      try {
        process.kill(victim.pid, 'SIGKILL');
      } catch {
        // Already gone: the primary killed it.
      }
    }
    const statuses = await burst(gw.url, 40, 8);
    assert.deepEqual([...new Set(statuses)], [200]);
  });

  test('a rolling restart replaces every worker with no failed request', { timeout: 90_000 }, async () => {
    const pids = (await workers(gw)).map((w) => w.pid);
    const load = trickle(gw.url, 10);
    await new Promise((r) => setTimeout(r, 300));
    const res = await request(`${gw.adminUrl}/api/workers/restart`, { method: 'POST' });
    const body = (await res.body.json()) as { workers: WorkerInfo[] };
    await new Promise((r) => setTimeout(r, 300));
    const { ok, failed, statuses } = await load.stop();
    assert.equal(res.statusCode, 200);
    for (const w of body.workers) {
      assert.equal(w.state, 'ready');
      assert.ok(!pids.includes(w.pid), `slot ${w.slot} has a new process`);
    }
    assert.equal(failed, 0, `failed requests during the rolling restart (${ok} ok): ${JSON.stringify([...statuses])}`);
  });
});

/** Sends GETs at `perSecond` for `ms` over `connections` keep-alive connections; counts statuses. */
async function offer(url: string, perSecond: number, ms: number, connections: number): Promise<Map<number, number>> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const statuses = new Map<number, number>();
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < ms) {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond);
    for (; sent < due; sent++) {
      pending.push(
        (async () => {
          try {
            const r = await pool.request({ path: '/limited', method: 'GET' });
            await r.body.dump();
            statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
          } catch {
            statuses.set(0, (statuses.get(0) ?? 0) + 1);
          }
        })(),
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  await pool.close();
  return statuses;
}

describe('workers: 2, shared verdicts: a breaker one worker opens is open in all', () => {
  let failing: Backend;
  let gw: TestGateway;

  before(async () => {
    failing = await startBackend((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('boom');
    });
    gw = await startGateway(
      simpleConfig([failing.url], {
        workers: 2,
        upstreams: { app: { targets: [{ url: failing.url }], retry: { attempts: 0 }, outlierDetection: { consecutive5xx: 0, consecutiveGatewayFailures: 0 }, circuitBreaker: { errorThreshold: 50, minimumRequests: 5, window: '10s', openDuration: '30s', halfOpenRequests: 1 } } },
      }),
    );
  });
  after(async () => {
    await gw?.stop();
    await failing?.close();
  });

  test('failures on one connection (one worker) open the breaker of the other worker too', { timeout: 60_000 }, async () => {
    // One connection: every failure lands on one worker, whose breaker opens.
    const one = new Pool(gw.url, { connections: 1 });
    for (let i = 0; i < 20; i++) await (await one.request({ path: '/x', method: 'GET' })).body.dump();
    await one.close();
    // Give the report and the broadcast a moment, then ask over many connections: both workers refuse.
    await new Promise((r) => setTimeout(r, 1000));
    const statuses = await burst(gw.url, 40, 10);
    const refused = statuses.filter((s) => s === 503).length;
    // 500: a request that reached the failing target (a worker whose breaker was still closed).
    assert.equal(refused, 40, `statuses: ${JSON.stringify(statuses)}`);
    const res = await request(`${gw.adminUrl}/api/upstreams`);
    const body = JSON.stringify(await res.body.json());
    assert.match(body, /"state":"open"/);
  });
});

describe('workers: 2, an in-memory rate limit holds for the node; a purge reaches every worker', () => {
  let backend: Backend;
  let gw: TestGateway;
  let origin = 0;

  before(async () => {
    backend = await startBackend((req, res) => {
      if (req.url?.startsWith('/cached')) origin++;
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300' });
      res.end('ok');
    });
    gw = await startGateway(
      simpleConfig([backend.url], {
        workers: 2,
        routes: [
          { name: 'limited', match: { pathPrefix: '/limited' }, upstream: 'app', rateLimit: { limits: [{ rate: 40, per: '1s', burst: 4, key: 'route' }] } },
          { name: 'cached', match: { pathPrefix: '/cached' }, upstream: 'app', cache: {} },
          { name: 'all', match: { pathPrefix: '/' }, upstream: 'app' },
        ],
      }),
    );
  });
  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  test('40/s offered 120/s over many connections: about 40/s admitted, not 40 per worker', { timeout: 60_000 }, async () => {
    const statuses = await offer(gw.url, 120, 5000, 20);
    const admitted = statuses.get(200) ?? 0;
    // 5 s at 40/s plus the burst (~200); one worker's 40/s each would admit twice as many.
    // Wide on purpose: on a starved machine the shares lag the demand by a report or two.
    assert.ok(admitted >= 130 && admitted <= 280, `${admitted} admitted in 5 s: ${JSON.stringify([...statuses])}`);
    assert.ok((statuses.get(429) ?? 0) > 250);
  });

  test('all of a key on one connection (one worker): its share follows, about 40/s admitted, not 1/N of it', { timeout: 60_000 }, async () => {
    await offer(gw.url, 120, 1500, 1);
    const statuses = await offer(gw.url, 120, 8000, 1);
    const admitted = statuses.get(200) ?? 0;
    // 8 s at 40/s is 320; a worker held to 1/N would admit 160.
    assert.ok(admitted >= 230 && admitted <= 400, `${admitted} admitted in 8 s on one connection: ${JSON.stringify([...statuses])}`);
  });

  test('POST /api/cache/purge empties the memory cache of every worker', { timeout: 60_000 }, async () => {
    const fill = async () => {
      // Many connections: both workers see the URL (each caches in its own memory).
      const pool = new Pool(gw.url, { connections: 16 });
      await Promise.all(Array.from({ length: 64 }, async () => (await pool.request({ path: '/cached/x', method: 'GET' })).body.dump()));
      await pool.close();
    };
    await fill();
    const filled = origin;
    assert.ok(filled >= 1 && filled <= 8, `${filled} origin fetches`);
    await fill();
    assert.equal(origin, filled, 'served from the caches');
    // GET /api/cache: the node's counters are the workers' (the primary's cache serves nothing).
    const stats = (await (await request(`${gw.adminUrl}/api/cache`)).body.json()) as { routes: Record<string, { hits: number; misses: number; memoryEntries: number }>; workers: { slot: number; routes: Record<string, { hits: number; misses: number; memoryEntries: number }> }[] };
    const node = stats.routes['cached']!;
    assert.ok(node.hits >= 64, `the second round was all hits: ${JSON.stringify(stats)}`);
    assert.equal(node.misses, filled, 'a miss per origin fetch');
    assert.equal(stats.workers.reduce((a, w) => a + (w.routes['cached']?.hits ?? 0), 0), node.hits);
    assert.deepEqual(stats.workers.map((w) => w.slot), [1, 2]);
    assert.equal(stats.workers.reduce((a, w) => a + (w.routes['cached']?.memoryEntries ?? 0), 0), node.memoryEntries);
    assert.ok(node.memoryEntries >= 1);
    const res = await request(`${gw.adminUrl}/api/cache/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prefix: '/cached' }) });
    const body = (await res.body.json()) as { workers?: { memory: number } };
    assert.equal(res.statusCode, 200);
    assert.ok((body.workers?.memory ?? 0) >= 1, JSON.stringify(body));
    const before = origin;
    await fill();
    assert.ok(origin > before, 'fetched again after the purge');
    const list = await workers(gw);
    assert.ok(list.every((w) => w.requests > 0), 'both workers served');
  });
});

describe('workers: 2, access logs', () => {
  let backend: Backend;
  let gw: TestGateway;
  const dir = mkdtempSync(join(tmpdir(), 'brisk-workers-log-'));

  before(async () => {
    backend = await startBackend();
    gw = await startGateway(simpleConfig([backend.url], { workers: 2, logging: { accessLog: { file: join(dir, 'access.log') } } }));
  });
  after(async () => {
    await gw?.stop();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('each worker writes its own file; every line is whole; together they hold every request', { timeout: 60_000 }, async () => {
    await burst(gw.url, 600, 20);
    await gw.stop();
    const files = readdirSync(dir).filter((f) => f.startsWith('access')).sort();
    assert.deepEqual(files, ['access-w1.log', 'access-w2.log']);
    let lines = 0;
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(text.endsWith('\n'));
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as { path?: string };
        assert.match(entry.path ?? '', /^\/r\//);
        lines++;
      }
    }
    assert.equal(lines, 600);
  });
});
