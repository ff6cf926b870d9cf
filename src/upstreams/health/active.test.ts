import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Logger } from '../../observability/logger.js';
import type { HealthCheckConfig } from '../../config/types.js';
import { Target } from '../target.js';
import { ActiveHealthChecker, MAX_PROBE_BODY, nextInterval } from './active.js';

interface LogLine {
  level: number;
  msg: string;
  upstream?: string;
  target?: string;
  reason?: string;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

function config(over: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return {
    type: 'http',
    service: '',
    path: '/healthz',
    method: 'GET',
    expectedStatus: [[200, 399]],
    headers: {},
    intervalMs: 15,
    jitter: 0,
    timeoutMs: 2000,
    unhealthyThreshold: 2,
    healthyThreshold: 2,
    initiallyHealthy: false,
    ...over,
  };
}

interface Backend {
  readonly origin: string;
  readonly server: Server;
  /** Requests seen. */
  readonly requests: IncomingMessage[];
  readonly arrivals: number[];
  /** Requests being answered right now, and the most at once. */
  active: number;
  maxActive: number;
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void;
}

/** Checkers stopped and servers closed after each test, so no test sees another's probes. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(handler: Backend['handler']): Promise<Backend> {
  const b: Backend = {
    origin: '',
    server: createServer((req, res) => {
      b.requests.push(req);
      b.arrivals.push(performance.now());
      b.active++;
      b.maxActive = Math.max(b.maxActive, b.active);
      res.on('close', () => b.active--);
      b.handler(req, res, b.requests.length);
    }),
    requests: [],
    arrivals: [],
    active: 0,
    maxActive: 0,
    handler,
  };
  await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
  (b as { origin: string }).origin = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        b.server.closeAllConnections();
        b.server.close(() => resolve());
      }),
  );
  return b;
}

function status(code: number, body = ''): Backend['handler'] {
  return (_req, res) => {
    res.statusCode = code;
    res.end(body);
  };
}

function target(origin: string, basePath = ''): Target {
  return new Target('u', { origin, basePath, weight: 1 }, {} as never);
}

/** A checker that is stopped after the test, whatever happens in it. */
function checker(cfg: HealthCheckConfig, targets: readonly Target[], logger = captureLogger().logger): ActiveHealthChecker {
  const c = new ActiveHealthChecker('u', cfg, targets, logger);
  cleanups.push(() => c.stop());
  return c;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(3);
  }
}

interface Transition {
  healthy: boolean;
  reason: string | null;
  failures: number;
  successes: number;
}

/** Records each flip of `activeHealthy` with the checker's streak at that moment. */
function watch(t: Target, c: ActiveHealthChecker): Transition[] {
  const flips: Transition[] = [];
  const original = t.setActiveHealth.bind(t);
  t.setActiveHealth = (healthy, reason) => {
    if (healthy !== t.activeHealthy) {
      const s = c.status(t)!;
      flips.push({ healthy, reason, failures: s.consecutiveFailures, successes: s.consecutiveSuccesses });
    }
    original(healthy, reason);
  };
  return flips;
}

/**
 * The timers active.ts creates and has not yet cleared or seen fire. Counting active
 * resources would not do: the checker's timers are unref'd, and node counts only ref'd ones.
 */
function trackTimers(): Set<NodeJS.Timeout> & { restore(): void } {
  const live = new Set<NodeJS.Timeout>() as Set<NodeJS.Timeout> & { restore(): void };
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const fromChecker = /health[\\/]active\.js:/;
  const patchedSet = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): NodeJS.Timeout => {
    // The direct caller only: undici's own timers are set from deeper frames below active.js.
    const ours = fromChecker.test((new Error().stack ?? '').split('\n')[2] ?? '');
    const timer: NodeJS.Timeout = realSet((...a: unknown[]) => {
      live.delete(timer);
      fn(...a);
    }, ms, ...args);
    if (ours) live.add(timer);
    return timer;
  };
  globalThis.setTimeout = patchedSet as unknown as typeof setTimeout;
  globalThis.clearTimeout = ((timer: NodeJS.Timeout | string | number | undefined) => {
    if (typeof timer === 'object') live.delete(timer);
    realClear(timer);
  }) as typeof clearTimeout;
  live.restore = () => {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  };
  return live;
}

function freeClosedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('ActiveHealthChecker thresholds', () => {
  it('one failed probe does not mark a target down; unhealthyThreshold failures in a row do', async () => {
    let failing = false;
    const b = await backend((_req, res, n) => {
      res.statusCode = failing || n === 1 ? 503 : 200;
      res.end();
    });
    const t = target(b.origin);
    const { logger, lines } = captureLogger();
    const c = checker(config({ unhealthyThreshold: 3 }), [t], logger);
    const flips = watch(t, c);
    c.start();
    await waitFor('5 probes', () => b.requests.length >= 5);
    assert.equal(t.activeHealthy, true, 'one lost probe flapped the target');
    assert.deepEqual(flips, []);

    failing = true;
    await waitFor('target down', () => !t.activeHealthy);
    assert.deepEqual(flips, [{ healthy: false, reason: 'GET /healthz → 503', failures: 3, successes: 0 }]);
    assert.equal(t.available, false);
    assert.equal(t.activeReason, 'GET /healthz → 503');
    const warn = lines.find((l) => l.level === 40);
    assert.ok(warn, 'the transition is logged at warn');
    assert.equal(warn.upstream, 'u');
    assert.equal(warn.target, b.origin);
    assert.equal(warn.reason, 'GET /healthz → 503');
  });

  it('a down target comes back after healthyThreshold good probes in a row', async () => {
    let code = 500;
    const b = await backend((_req, res) => {
      res.statusCode = code;
      res.end();
    });
    const t = target(b.origin);
    const { logger, lines } = captureLogger();
    const c = checker(config({ unhealthyThreshold: 2, healthyThreshold: 3 }), [t], logger);
    const flips = watch(t, c);
    c.start();
    await waitFor('target down', () => !t.activeHealthy);
    code = 200;
    await waitFor('target up', () => t.activeHealthy);
    assert.deepEqual(
      flips.map((f) => [f.healthy, f.failures, f.successes]),
      [
        [false, 2, 0],
        [true, 0, 3],
      ],
    );
    assert.equal(t.activeReason, null);
    assert.ok(lines.some((l) => l.level === 30 && /routed to again/.test(l.msg)), 'the recovery is logged at info');
  });
});

describe('ActiveHealthChecker warming', () => {
  it('a new unhealthy target is admitted on its first good probe; firstResults resolves then', async () => {
    const b = await backend(status(200));
    const t = target(b.origin);
    t.setActiveHealth(false, null); // as the upstream creates a new target when initiallyHealthy is false
    const c = checker(config({ intervalMs: 60_000, healthyThreshold: 5 }), [t]);
    c.start();
    await c.firstResults(3000);
    assert.equal(t.activeHealthy, true);
    assert.equal(t.available, true);
    assert.equal(c.status(t)!.consecutiveSuccesses, 1);
    assert.equal(b.requests.length, 1);
  });

  it('a new target that fails its first probe stays out, then needs healthyThreshold good probes', async () => {
    const b = await backend((_req, res, n) => {
      res.statusCode = n === 1 ? 500 : 200;
      res.end();
    });
    const t = target(b.origin);
    t.setActiveHealth(false, null);
    const { logger, lines } = captureLogger();
    const c = checker(config({ healthyThreshold: 3 }), [t], logger);
    const flips = watch(t, c);
    c.start();
    await c.firstResults(3000);
    assert.equal(t.activeHealthy, false);
    assert.equal(t.activeReason, 'GET /healthz → 500');
    assert.ok(lines.some((l) => l.level === 40 && /first health check/.test(l.msg)));
    await waitFor('target up', () => t.activeHealthy);
    assert.equal(flips.length, 1);
    assert.equal(flips[0]!.successes, 3);
  });

  it('firstResults resolves after its timeout when a probe hangs, and at once with no targets', async () => {
    const b = await backend(() => {}); // never answers
    const c = checker(config({ timeoutMs: 10_000 }), [target(b.origin)]);
    c.start();
    const t0 = performance.now();
    await c.firstResults(80);
    const waited = performance.now() - t0;
    assert.ok(waited >= 75 && waited < 1000, `waited ${waited}ms`);
    const empty = checker(config(), []);
    await empty.firstResults(60_000);
  });

  it('probes of several targets are spread over ~100 ms', async () => {
    const b = await backend(status(200));
    const targets = [0, 1, 2, 3, 4].map((i) => target(b.origin, `/t${i}`));
    const c = checker(config({ intervalMs: 60_000 }), targets);
    const t0 = performance.now();
    c.start();
    await c.firstResults(3000);
    assert.deepEqual(b.requests.map((r) => r.url).sort(), ['/t0/healthz', '/t1/healthz', '/t2/healthz', '/t3/healthz', '/t4/healthz']);
    // The last of five is due 80 ms after start (timers never fire early); all at once would be sooner.
    const last = Math.max(...b.arrivals) - t0;
    assert.ok(last >= 78 && last < 1000, `the last probe arrived ${last}ms after start`);
  });
});

describe('ActiveHealthChecker HTTP probes', () => {
  it('sends method, basePath + path, user-agent and the configured headers on a fresh connection; accepts a status in range', async () => {
    const b = await backend(status(204));
    const t = target(b.origin, '/api');
    const c = checker(config({ path: '/status', method: 'HEAD', expectedStatus: [[200, 200], [204, 204], [300, 302]], headers: { 'X-Probe': 'yes', host: 'svc.internal' }, intervalMs: 60_000 }), [t]);
    c.start();
    await c.firstResults(3000);
    const req = b.requests[0]!;
    assert.equal(req.method, 'HEAD');
    assert.equal(req.url, '/api/status');
    assert.equal(req.headers['user-agent'], 'brisk-health-check');
    assert.equal(req.headers['x-probe'], 'yes');
    assert.equal(req.headers.host, 'svc.internal');
    assert.equal(req.headers.connection, 'close');
    assert.deepEqual(c.status(t)!.lastResult && { ok: c.status(t)!.lastResult!.ok, reason: c.status(t)!.lastResult!.reason }, { ok: true, reason: null });
  });

  it('a status outside the ranges fails with the method, path and status', async () => {
    const b = await backend(status(200));
    const t = target(b.origin);
    const c = checker(config({ expectedStatus: [[204, 204]], intervalMs: 60_000 }), [t]);
    c.start();
    await c.firstResults(3000);
    assert.equal(c.status(t)!.lastResult!.reason, 'GET /healthz → 200');
  });

  it('bodyContains finds text split over chunks, fails without it, and reads at most 64 KB', async () => {
    const split = await backend((_req, res) => {
      res.write('status: o');
      setTimeout(() => res.end('k!'), 10);
    });
    const missing = await backend(status(200, 'status: degraded'));
    const late = await backend((_req, res) => {
      res.write(Buffer.alloc(MAX_PROBE_BODY + 1024, 'x'));
      res.end('ok');
    });
    const endless = await backend((_req, res) => {
      // Never ends: the verdict must come from the 64 KB limit, not from the timeout.
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const tEndless = target(endless.origin);
    const tSplit = target(split.origin);
    const tMissing = target(missing.origin);
    const tLate = target(late.origin);
    const c = checker(config({ bodyContains: 'ok', intervalMs: 60_000, timeoutMs: 2000 }), [tSplit, tMissing, tLate, tEndless]);
    c.start();
    await c.firstResults(3000);
    assert.equal(c.status(tSplit)!.lastResult!.ok, true);
    assert.equal(c.status(tMissing)!.lastResult!.reason, 'body does not contain "ok"');
    assert.equal(c.status(tLate)!.lastResult!.reason, 'body does not contain "ok"');
    assert.equal(c.status(tEndless)!.lastResult!.reason, 'body does not contain "ok"');
  });

  it('a target that never answers fails with a timeout within timeoutMs plus a small margin', async () => {
    const b = await backend(() => {});
    const t = target(b.origin);
    const c = checker(config({ timeoutMs: 150, intervalMs: 60_000 }), [t]);
    c.start();
    await c.firstResults(3000);
    const r = c.status(t)!.lastResult!;
    assert.equal(r.reason, 'timeout after 150ms');
    assert.ok(r.durationMs >= 140 && r.durationMs < 600, `took ${r.durationMs}ms`);
  });

  it('a closed port fails with connect ECONNREFUSED', async () => {
    const port = await freeClosedPort();
    const t = target(`http://127.0.0.1:${port}`);
    const c = checker(config({ intervalMs: 60_000 }), [t]);
    c.start();
    await c.firstResults(3000);
    assert.equal(c.status(t)!.lastResult!.reason, 'connect ECONNREFUSED');
  });

  it('never sends two probes of one target at once', async () => {
    const b = await backend((_req, res) => void setTimeout(() => res.end(), 60));
    const c = checker(config({ intervalMs: 5 }), [target(b.origin)]);
    c.start();
    await waitFor('3 probes', () => b.requests.length >= 3);
    assert.equal(b.maxActive, 1);
  });
});

describe('ActiveHealthChecker TCP probes', () => {
  it('a listening port passes, a closed one fails', async () => {
    const listening = createTcpServer((s) => s.destroy());
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => listening.close(resolve)));
    const open = target(`http://127.0.0.1:${(listening.address() as AddressInfo).port}`);
    const closed = target(`http://127.0.0.1:${await freeClosedPort()}`);
    open.setActiveHealth(false, null);
    const c = checker(config({ type: 'tcp', intervalMs: 60_000 }), [open, closed]);
    c.start();
    await c.firstResults(3000);
    assert.equal(c.status(open)!.lastResult!.ok, true);
    assert.equal(open.activeHealthy, true);
    assert.equal(c.status(closed)!.lastResult!.reason, 'connect ECONNREFUSED');
  });
});

describe('ActiveHealthChecker timing', () => {
  it('nextInterval stays within interval × (1 ± jitter)', () => {
    assert.equal(nextInterval(1000, 0.2, () => 0), 800);
    assert.equal(nextInterval(1000, 0.2, () => 0.5), 1000);
    assert.ok(Math.abs(nextInterval(1000, 0.2, () => 0.999999) - 1200) < 0.01);
    assert.equal(nextInterval(1000, 0, Math.random), 1000);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < 10_000; i++) {
      const d = nextInterval(1000, 0.3, Math.random);
      lo = Math.min(lo, d);
      hi = Math.max(hi, d);
    }
    assert.ok(lo >= 700 && hi <= 1300, `${lo}..${hi}`);
    assert.ok(hi - lo > 300, 'jitter spreads the intervals');
  });

  it('live probes keep their intervals within the jitter bounds', async () => {
    const b = await backend(status(200));
    const c = checker(config({ intervalMs: 60, jitter: 0.5 }), [target(b.origin)]);
    const sent: number[] = [];
    c.onProbe = (_t, _r, sentAt) => void sent.push(sentAt);
    c.start();
    await waitFor('7 probes', () => sent.length >= 7);
    c.stop();
    const gaps = sent.slice(1).map((at, i) => at - sent[i]!);
    // Intervals count from the previous probe's start and timers never fire early, so no gap
    // is under 60 × 0.5 (less a millisecond of Date.now() rounding). A loaded machine fires
    // timers late, so the upper bound (60 × 1.5) is checked on the median, with slack.
    const sorted = [...gaps].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    assert.ok(sorted[0]! >= 30 - 1, `gaps ${gaps.join(', ')}`);
    assert.ok(median <= 90 + 40 && sorted.at(-1)! < 1000, `gaps ${gaps.join(', ')}`);
  });

  it('stop() cancels timers and the probe in flight; nothing changes afterwards', async () => {
    const hanging = await backend(() => {}); // the probe is in flight when stop() runs
    const answering = await backend(status(200));
    const tHanging = target(hanging.origin);
    const tAnswering = target(answering.origin);
    tHanging.setActiveHealth(false, null);
    const ours = trackTimers();
    try {
      const c = new ActiveHealthChecker('u', config({ timeoutMs: 60_000, intervalMs: 60_000 }), [tHanging, tAnswering], captureLogger().logger);
      const flips = watch(tHanging, c);
      c.start();
      await waitFor('probes sent and one answered', () => hanging.requests.length === 1 && c.status(tAnswering)!.lastResult !== null);
      const waiting = c.firstResults(60_000);
      assert.equal(ours.size, 3, 'the next probe, the hard timeout and firstResults hold a timer each');
      c.stop();
      assert.equal(ours.size, 0, 'timers left behind');
      await waiting; // released by stop()
      await sleep(50);
      assert.deepEqual(flips, []);
      assert.equal(c.status(tHanging)!.lastProbeAt, null);
      c.start(); // a stopped checker stays stopped
      await sleep(30);
      assert.equal(hanging.requests.length + answering.requests.length, 2);
      assert.equal(ours.size, 0);
    } finally {
      ours.restore();
    }
  });

  it('after stop() no probe result reaches the target, even with short intervals', async () => {
    const b = await backend((_req, res) => void setTimeout(() => res.writeHead(500).end(), 30));
    const t = target(b.origin);
    const c = new ActiveHealthChecker('u', config({ intervalMs: 10, unhealthyThreshold: 1 }), [t], captureLogger().logger);
    const flips = watch(t, c);
    c.start();
    await waitFor('probe in flight', () => b.requests.length >= 1);
    c.stop();
    await sleep(120);
    assert.equal(b.requests.length, 1);
    assert.deepEqual(flips, []);
    assert.equal(t.activeHealthy, true);
  });
});

describe('ActiveHealthChecker following a live target set', () => {
  it('follow() probes a target that joined at once and stops probing one that left (its probe in flight is dropped)', async () => {
    const stays = await backend(status(200));
    const joins = await backend(status(200));
    const leaves = await backend(() => {}); // never answers: its probe is in flight when it leaves
    const tStays = target(stays.origin);
    const tJoins = target(joins.origin);
    const tLeaves = target(leaves.origin);
    tJoins.setActiveHealth(false, 'not probed yet');
    tLeaves.setActiveHealth(false, 'not probed yet');
    const c = checker(config({ intervalMs: 60_000, timeoutMs: 60_000 }), [tStays, tLeaves]);
    c.start();
    await waitFor('first probes sent', () => stays.requests.length === 1 && leaves.requests.length === 1);
    const firstResults = c.firstResults(60_000);

    c.follow([tStays, tJoins]);
    await firstResults; // released: the target it waited for left
    await waitFor('the joining target probed and admitted', () => tJoins.activeHealthy);
    assert.equal(joins.requests.length, 1, 'probed once, at once (not after the 60 s interval)');
    assert.equal(c.status(tLeaves), undefined, 'a target that left is no longer watched');
    assert.equal(tLeaves.activeHealthy, false, 'nor touched');
    assert.ok(c.status(tJoins)!.lastResult?.ok);
    await sleep(30);
    assert.equal(leaves.requests.length, 1);
  });
});
