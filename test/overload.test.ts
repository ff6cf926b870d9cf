/**
 * The route concurrency limiter with real sockets: the overload proof's backend (a
 * service of N workers with a queue) behind its standalone gateway (node:http + undici +
 * the limiter, finish hooks called as the exchange calls them): the limiter's contract
 * with a real request's life, without the rest of Brisk (test/shedding.test.ts has it wired):
 * refusals are immediate, the backend never sees more than `maxConcurrent`, queued
 * requests are served or time out by their deadline, and every slot comes back — also
 * when a client leaves while waiting.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { ConcurrencyStats } from '../src/middlewares/shedding/concurrency.js';
import type { ConcurrencyConfig } from '../src/middlewares/shedding/schema.js';
import { repoRoot } from './helpers/repo-root.js';


const ROOT = repoRoot('overload/proxy.mjs');
const children: ChildProcess[] = [];
const pools: Pool[] = [];
after(async () => {
  for (const p of pools) await p.destroy().catch(() => {});
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

async function start(script: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(ROOT, 'overload', script), [], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} did not start`)), 10_000);
    child.on('message', (m: { type?: string; port?: number }) => {
      if (m.type === 'ready') {
        clearTimeout(t);
        resolve(m.port!);
      }
    });
  });
  return { child, port };
}

let seq = 0;
function stats<T>(child: ChildProcess): Promise<T> {
  const id = ++seq;
  return new Promise((resolve) => {
    const on = (m: { type?: string; id?: number; stats?: T }) => {
      if (m.type === 'stats' && m.id === id) {
        child.off('message', on);
        resolve(m.stats!);
      }
    };
    child.on('message', on);
    child.send({ type: 'stats', id });
  });
}

async function setup(workers: number, latencyMs: number, config: ConcurrencyConfig) {
  const backend = await start('backend.mjs', { WORKERS: String(workers), LATENCY_MS: String(latencyMs) });
  const proxy = await start('proxy.mjs', { BACKEND: `http://127.0.0.1:${backend.port}`, DIST: join(ROOT, 'dist'), CONCURRENCY: JSON.stringify(config), CONNECTIONS: '64' });
  const pool = new Pool(`http://127.0.0.1:${proxy.port}`, { connections: 32, pipelining: 1 });
  pools.push(pool);
  return { backend, proxy, pool };
}

interface Outcome {
  status: number;
  code: string | null;
  retryAfter: string | null;
  ms: number;
}

async function get(pool: Pool, signal?: AbortSignal): Promise<Outcome> {
  const started = performance.now();
  const r = await pool.request({ path: '/', method: 'GET', ...(signal === undefined ? {} : { signal }) });
  const text = await r.body.text();
  const code = /"code":"(BRISK_[A-Z_]+)"/.exec(text)?.[1] ?? null;
  const retryAfter = r.headers['retry-after'];
  return { status: r.statusCode, code, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, ms: performance.now() - started };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('route concurrency limiter in a real proxy', { timeout: 20_000 }, () => {
  it('admits maxConcurrent, queues maxQueue, refuses the rest at once; the backend never sees more than the limit', async () => {
    const { backend, proxy, pool } = await setup(4, 400, { maxConcurrent: 4, maxQueue: 4, queueTimeoutMs: 2000, codel: null, adaptive: null });
    const results = await Promise.all(Array.from({ length: 16 }, () => get(pool)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    assert.equal(ok.length, 8, JSON.stringify(results));
    assert.equal(refused.length, 8);
    for (const r of refused) {
      assert.equal(r.code, 'BRISK_SHED');
      assert.equal(r.retryAfter, '1');
    }
    // Refusals did not wait for anything: all came back before the first admitted answer.
    const firstOk = Math.min(...ok.map((r) => r.ms));
    assert.ok(Math.max(...refused.map((r) => r.ms)) < firstOk, 'every refusal before the first admitted answer');
    // The queued half waited for a slot: a second backend round.
    assert.equal(ok.filter((r) => r.ms >= 700).length, 4, `latencies ${ok.map((r) => Math.round(r.ms)).join(',')}`);
    const b = await stats<{ maxQueue: number; served: number }>(backend.child);
    assert.equal(b.maxQueue, 0, 'the backend never had to queue');
    assert.equal(b.served, 8);
    const l = (await stats<{ limiter: ConcurrencyStats }>(proxy.child)).limiter;
    assert.deepEqual([l.inFlight, l.queued, l.admitted, l.shed, l.doubleFinishes], [0, 0, 8, 8, 0]);
  });

  it('answers BRISK_QUEUE_TIMEOUT at the queue timeout, not later', async () => {
    const { proxy, pool } = await setup(2, 600, { maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 100, codel: null, adaptive: null });
    const results = await Promise.all(Array.from({ length: 4 }, () => get(pool)));
    const timedOut = results.filter((r) => r.code === 'BRISK_QUEUE_TIMEOUT');
    assert.equal(timedOut.length, 2, JSON.stringify(results));
    for (const r of timedOut) assert.ok(r.ms >= 95 && r.ms < 400, `answered after ${r.ms} ms`);
    const l = (await stats<{ limiter: ConcurrencyStats }>(proxy.child)).limiter;
    assert.equal(l.timedOut, 2);
    assert.ok(l.maxQueueWaitMs >= 99 && l.maxQueueWaitMs < 150, `longest wait ${l.maxQueueWaitMs} ms`);
    assert.deepEqual([l.inFlight, l.queued, l.doubleFinishes], [0, 0, 0]);
  });

  it('a client that leaves while waiting gives its place back, and slots of abandoned requests are released', async () => {
    const { proxy, pool } = await setup(2, 500, { maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 5000, codel: null, adaptive: null });
    const holders = [get(pool), get(pool)];
    await sleep(100);
    const leaving = new AbortController();
    const waiter = get(pool, leaving.signal).catch((err: Error) => err);
    await sleep(100);
    assert.equal((await stats<{ limiter: ConcurrencyStats }>(proxy.child)).limiter.queued, 1);
    leaving.abort();
    assert.ok((await waiter) instanceof Error);
    await sleep(100);
    let l = (await stats<{ limiter: ConcurrencyStats }>(proxy.child)).limiter;
    assert.deepEqual([l.queued, l.cancelled, l.inFlight], [0, 1, 2]);
    // A client abandoning an admitted request (499) releases its slot too.
    const admittedButLeaving = new AbortController();
    const holders2 = [get(pool, admittedButLeaving.signal).catch((err: Error) => err)];
    await Promise.all(holders);
    await sleep(50);
    admittedButLeaving.abort();
    await Promise.all(holders2);
    await sleep(100);
    l = (await stats<{ limiter: ConcurrencyStats }>(proxy.child)).limiter;
    assert.deepEqual([l.inFlight, l.queued, l.doubleFinishes], [0, 0, 0]);
  });
});
