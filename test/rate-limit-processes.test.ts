/**
 * Two real processes, each a tiny node:http server running the rate-limit middleware
 * against one real Redis, share one limit: the proof that the Redis store is exact
 * across gateway processes (the gateway-level proof with two Brisk processes is the
 * lead's, once the middleware is wired in).
 *
 * This file is both the test and, started with BRISK_RL_CHILD_REDIS set, the child
 * server: that keeps the whole proof in one file.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import type { RequestContext } from '../src/core/middleware.js';
import { createRateLimit, normalizeRateLimit } from '../src/middlewares/rate-limit/index.js';
import { REDIS_MISSING, startRedis, type RunningServer } from './helpers/servers.js';

const CHILD_ENV = 'BRISK_RL_CHILD_REDIS';

/**
 * 200 per 2 s (100/s), keyed by route: one global counter. The bucket holds 1 s of
 * tokens, so a stall of the busy test machine shorter than that loses none.
 */
const LIMIT = { rate: 200, perS: 2, burst: 100 };

if (process.env[CHILD_ENV] !== undefined) await runChild(process.env[CHILD_ENV]);
else registerTests();

async function runChild(redisUrl: string): Promise<void> {
  const { config, problems } = normalizeRateLimit({
    store: 'redis',
    // A generous timeout: this test is about exactness, and a busy test machine must not
    // turn slow answers into fail-open decisions.
    redis: { url: redisUrl, keyPrefix: 'procs:', timeout: '1s' },
    onStoreError: 'allow',
    limits: [{ name: 'global', rate: LIMIT.rate, per: `${LIMIT.perS}s`, burst: LIMIT.burst, key: 'route' }],
  });
  if (config === undefined) throw new Error(JSON.stringify(problems));
  const logger = {
    warn: (obj: object, msg: string) => process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
    info: (obj: object, msg: string) => process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
  };
  const rl = createRateLimit(config, { logger, routeName: 'api' });
  await rl.whenReady(5000);
  const server = createServer((req, res) => {
    const ctx: RequestContext = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      query: '',
      rawHeaders: req.rawHeaders,
      clientIp: req.socket.remoteAddress ?? '',
      requestId: '',
      routeName: 'api',
      params: null,
      upstreamHeaders: [],
      responseHeaders: null,
      identity: null,
      onFinish: () => {},
    };
    Promise.resolve(rl.handle(ctx)).then(
      (answer) => {
        if (answer === null) res.writeHead(200, ctx.responseHeaders ?? []).end('ok');
        else res.writeHead(answer.status, [...(answer.headers ?? [])]).end(answer.code ?? '');
      },
      () => res.writeHead(500).end(),
    );
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`READY ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    void rl.close().then(() => process.exit(0));
  });
}

interface Child {
  proc: ChildProcess;
  url: string;
}

function startChild(redisUrl: string): Promise<Child> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, [CHILD_ENV]: redisUrl }, stdio: ['ignore', 'pipe', 'inherit'] });
  process.once('exit', () => proc.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child server did not start within 10 s')), 10_000);
    proc.once('exit', (code) => reject(new Error(`child server exited (${code})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /^READY (\d+)$/.exec(line);
      if (m === null) return;
      clearTimeout(timer);
      resolve({ proc, url: `http://127.0.0.1:${m[1]}` });
    });
  });
}

function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), 3000);
    child.proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.proc.kill('SIGTERM');
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function registerTests(): void {
  let redis: RunningServer | null = null;
  const children: Child[] = [];
  const agent = new Agent({ connections: 32 });

  describe('rate limit shared by two gateway processes through Redis', { timeout: 60_000 }, () => {
    before(async () => {
      redis = await startRedis();
      if (redis === null) return;
      children.push(...(await Promise.all([startChild(redis.url), startChild(redis.url)])));
    });
    after(async () => {
      await Promise.all(children.map(stopChild));
      await agent.close();
      await redis?.stop();
    });

    it('holds the global limit within ±5% under ~3× the allowed load; keeps serving when Redis dies', async (t) => {
      if (redis === null) return t.skip(REDIS_MISSING);
      const send = async (child: Child) => {
        const res = await request(child.url, { dispatcher: agent });
        await res.body.text();
        return { status: res.statusCode, retryAfter: res.headers['retry-after'], rateLimit: res.headers['ratelimit'] };
      };

      // Closed-loop clients, 3 per process, each pausing 10 ms between requests: about 3× the
      // allowed rate, and still well above it when the machine is busy and timers run late.
      const results: { status: number; retryAfter: unknown; rateLimit: unknown; child: number }[] = [];
      const started = performance.now();
      let last = started;
      const worker = async (n: number) => {
        while (performance.now() - started < 3000) {
          last = performance.now();
          results.push({ ...(await send(children[n]!)), child: n });
          await sleep(10);
        }
      };
      await Promise.all([0, 1, 0, 1, 0, 1].map(worker));
      const ok = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status === 429);
      assert.equal(ok.length + refused.length, results.length, `unexpected statuses: ${[...new Set(results.map((r) => r.status))].join(',')}`);
      const expected = LIMIT.burst + ((last - started) / 1000) * (LIMIT.rate / LIMIT.perS);
      const deviation = ((ok.length - expected) / expected) * 100;
      t.diagnostic(`offered ${results.length}, allowed ${ok.length} (process 1: ${ok.filter((r) => r.child === 0).length}, process 2: ${ok.filter((r) => r.child === 1).length}), expected ${expected.toFixed(1)}: ${deviation >= 0 ? '+' : ''}${deviation.toFixed(2)}%`);
      assert.ok(results.length >= 1.8 * expected, `offered only ${results.length}`);
      assert.ok(Math.abs(deviation) <= 5, `allowed ${ok.length}, expected ${expected.toFixed(1)} (${deviation.toFixed(2)}%)`);
      for (const n of [0, 1]) assert.ok(ok.filter((r) => r.child === n).length > 0.3 * ok.length, `process ${n + 1} got too small a share`);
      assert.ok(refused.every((r) => r.retryAfter === '1' && typeof r.rateLimit === 'string' && /^"global";r=0;t=1$/.test(r.rateLimit)));
      assert.ok(ok.every((r) => typeof r.rateLimit === 'string'));

      // Redis dies: both processes keep answering (fail-open), promptly, and do not crash.
      await redis.stop();
      for (let round = 0; round < 10; round++) {
        const t0 = performance.now();
        const answers = await Promise.all([send(children[0]!), send(children[1]!)]);
        assert.deepEqual(
          answers.map((a) => a.status),
          [200, 200],
        );
        assert.ok(performance.now() - t0 < 200, 'answered promptly without Redis');
        await sleep(20);
      }
      for (const c of children) assert.equal(c.proc.exitCode, null, 'a child process died');
    });
  });
}
