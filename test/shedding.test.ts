/**
 * Route concurrency limits, gateway-wide load shedding and `limits.maxPendingRequests`
 * through a real gateway with real backends: refusals are immediate and say why, queued
 * requests are served or time out by their deadline, a client that leaves frees its place
 * at once, an overloaded event loop sheds `low` before `critical`, and a reload keeps what
 * did not change.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

type ErrorBody = { error: { code: string; message: string } };

interface Outcome {
  status: number;
  code: string | null;
  retryAfter: string | null;
  ms: number;
}

describe('shedding through the gateway', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  async function gateway(config: object): Promise<TestGateway> {
    const gw = await startGateway(config);
    cleanup.push(() => gw.stop());
    return gw;
  }
  /** A backend that answers after `ms`, counting what it has in hand at once. */
  async function slowBackend(ms: number): Promise<Backend & { peak: () => number; hits: () => number }> {
    let now = 0;
    let peak = 0;
    let hits = 0;
    const b = await startBackend((_req, res) => {
      hits++;
      now++;
      peak = Math.max(peak, now);
      setTimeout(() => {
        now--;
        res.end('ok');
      }, ms);
    });
    cleanup.push(() => b.close());
    return Object.assign(b, { peak: () => peak, hits: () => hits });
  }
  const agent = new Agent({ connections: 200 });
  cleanup.push(() => agent.close());

  async function send(url: string, headers: Record<string, string> = {}): Promise<Outcome> {
    const t0 = performance.now();
    const res = await request(url, { dispatcher: agent, headers });
    const text = await res.body.text();
    const ms = performance.now() - t0;
    let code: string | null = null;
    if (res.statusCode >= 400) code = (JSON.parse(text) as ErrorBody).error.code;
    const retryAfter = res.headers['retry-after'];
    return { status: res.statusCode, code, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, ms };
  }

  it('a route concurrency limit serves maxConcurrent + maxQueue and refuses the rest at once', async () => {
    // The backend holds every request until the refusals are in: on a busy machine the ten
    // requests arrive spread over more than any fixed answer time, and the early ones
    // would be done (their places free) before the last ones came.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let inHand = 0;
    let peak = 0;
    const backend = await startBackend((_req, res) => {
      peak = Math.max(peak, ++inHand);
      void released.then(() => {
        inHand--;
        res.end('ok');
      });
    });
    cleanup.push(() => backend.close());
    const gw = await gateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [{ name: 'limited', upstream: 'app', concurrency: { maxConcurrent: 2, maxQueue: 2, queueTimeout: '30s', codel: false } }],
    });
    let refused = 0;
    const pending = Array.from({ length: 10 }, () => send(`${gw.url}/x`).then((o) => (o.status === 503 && refused++, o)));
    // Six refusals are due at once; a limit that admitted more never gets there (then the
    // counts below say so).
    for (const deadline = Date.now() + 10_000; refused < 6 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    release();
    const outcomes = await Promise.all(pending);
    const served = outcomes.filter((o) => o.status === 200);
    const shed = outcomes.filter((o) => o.code === 'BRISK_SHED');
    assert.equal(served.length, 4, JSON.stringify(outcomes));
    assert.equal(shed.length, 6);
    // Refused at once: before even the first admitted request is back from the backend.
    const firstServed = Math.min(...served.map((o) => o.ms));
    for (const o of shed) {
      assert.equal(o.status, 503);
      assert.ok(o.retryAfter !== null, 'a refusal says when to come back');
      assert.ok(o.ms < firstServed, `refused in ${o.ms.toFixed(1)} ms; the first answer took ${firstServed.toFixed(1)} ms`);
    }
    assert.equal(peak, 2, 'the backend never had more than maxConcurrent');
  });

  it('a queued request that waits past queueTimeout gets BRISK_QUEUE_TIMEOUT, never sent upstream', async () => {
    const backend = await slowBackend(400);
    const gw = await gateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [{ name: 'q', upstream: 'app', concurrency: { maxConcurrent: 1, maxQueue: 5, queueTimeout: '60ms', codel: false } }],
    });
    const first = send(`${gw.url}/x`);
    await new Promise((r) => setTimeout(r, 20));
    const waiting = await send(`${gw.url}/x`);
    assert.equal(waiting.status, 503);
    assert.equal(waiting.code, 'BRISK_QUEUE_TIMEOUT');
    assert.ok(waiting.ms >= 55 && waiting.ms < 250, `timed out after ${waiting.ms.toFixed(1)} ms`);
    assert.equal((await first).status, 200);
    assert.equal(backend.hits(), 1);
  });

  it('a client that leaves while queued gives its place back at once', async () => {
    const backend = await slowBackend(300);
    const gw = await gateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [{ name: 'q', upstream: 'app', concurrency: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '2s', codel: false } }],
    });
    const first = send(`${gw.url}/x`);
    await new Promise((r) => setTimeout(r, 20));
    const leaving = new AbortController();
    const left = request(`${gw.url}/x`, { dispatcher: agent, signal: leaving.signal }).catch(() => null);
    await new Promise((r) => setTimeout(r, 30));
    leaving.abort();
    await left;
    await new Promise((r) => setTimeout(r, 30));
    // The queue's one place is free again: this request waits and is served, not refused.
    const next = await send(`${gw.url}/x`);
    assert.equal(next.status, 200, JSON.stringify(next));
    assert.equal((await first).status, 200);
    assert.equal(backend.hits(), 2, 'the client that left never reached the backend');
  });

  it('limits.maxPendingRequests refuses at once what would wait for a busy connection', async () => {
    const backend = await slowBackend(200);
    const gw = await gateway({
      upstreams: { app: { targets: [{ url: backend.url }], pool: { connections: 1 }, retry: { attempts: 0 }, limits: { maxPendingRequests: 1 } } },
      routes: [{ name: 'r', upstream: 'app' }],
    });
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => send(`${gw.url}/x`)));
    const served = outcomes.filter((o) => o.status === 200);
    const refused = outcomes.filter((o) => o.code === 'BRISK_UPSTREAM_OVERLOADED');
    assert.equal(served.length, 2, JSON.stringify(outcomes));
    assert.equal(refused.length, 2);
    const firstServed = Math.min(...served.map((o) => o.ms));
    for (const o of refused) assert.ok(o.ms < firstServed, `refused in ${o.ms.toFixed(1)} ms; the first answer took ${firstServed.toFixed(1)} ms`);
    const ups = (await (await request(`${gw.adminUrl}/api/upstreams`)).body.json()) as { upstreams: { limits: { pending: number } }[] };
    assert.equal(ups.upstreams[0]!.limits.pending, 0, 'every pending slot came back');
  });

  it('an overloaded event loop sheds low-priority routes and keeps serving critical ones', async () => {
    const backend = await startBackend((_req, res) => {
      res.end('ok');
    });
    cleanup.push(() => backend.close());
    const gw = await gateway({
      overload: { eventLoopLag: '20ms', criticalEventLoopLag: '5s', hold: '100ms', priorityHeader: 'x-priority' },
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [
        { name: 'checkout', match: { pathPrefix: '/checkout' }, upstream: 'app', priority: 'critical' },
        { name: 'search', match: { pathPrefix: '/search' }, upstream: 'app', priority: 'low' },
      ],
    });
    assert.equal((await send(`${gw.url}/search`)).status, 200, 'nothing is shed while the loop is idle');
    // Block the event loop for 40 ms out of every 50 until the shedder has stepped up.
    const blocker = setInterval(() => {
      const until = performance.now() + 40;
      while (performance.now() < until);
    }, 50);
    try {
      const deadline = Date.now() + 5000;
      let shed: Outcome | null = null;
      while (Date.now() < deadline && shed === null) {
        const o = await send(`${gw.url}/search`);
        if (o.code === 'BRISK_SHED') shed = o;
      }
      assert.ok(shed !== null, 'a low-priority request was shed');
      assert.equal(shed.status, 503);
      assert.ok(shed.retryAfter !== null);
      assert.equal((await send(`${gw.url}/checkout`)).status, 200, 'critical requests are still served');
      // A request may raise its own priority only through the configured header.
      assert.equal((await send(`${gw.url}/search`, { 'x-priority': 'critical' })).status, 200);
      assert.ok(gw.logs.some((l) => String(l['msg']).startsWith('load shedding:')), 'the level change is logged');
    } finally {
      clearInterval(blocker);
    }
  });

  it('a reload keeps an unchanged route limiter and applies a changed overload config', async () => {
    const backend = await slowBackend(200);
    const config = {
      overload: { eventLoopLag: '200ms' },
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [{ name: 'q', upstream: 'app', concurrency: { maxConcurrent: 1, maxQueue: 0 } }],
    };
    const gw = await gateway(config);
    const first = send(`${gw.url}/x`);
    await new Promise((r) => setTimeout(r, 20));
    gw.writeConfig({ ...config, overload: { eventLoopLag: '300ms' } });
    const result = await gw.gw.reload();
    assert.ok(result.ok);
    // The limiter survived the reload, still holding the first request's slot.
    assert.equal((await send(`${gw.url}/x`)).code, 'BRISK_SHED');
    assert.equal((await first).status, 200);
    assert.equal((await send(`${gw.url}/x`)).status, 200);
  });

  it('rejects an overload config whose critical lag is not above the normal one, with its position', async () => {
    const { parseConfigText, formatProblem } = await import('../src/config/load.js');
    const yaml = ['listen: [{ address: 127.0.0.1:0 }]', 'overload:', '  eventLoopLag: 100ms', '  criticalEventLoopLag: 50ms', 'upstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }', 'routes: [{ name: r, upstream: app }]'].join('\n');
    const result = parseConfigText(yaml, 'brisk.yaml');
    assert.equal(result.ok, false);
    if (result.ok) return;
    const text = result.problems.map(formatProblem).join('\n');
    assert.match(text, /brisk\.yaml:4:\d+/);
    assert.match(text, /criticalEventLoopLag/);
  });
});
