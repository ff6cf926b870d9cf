/**
 * Rate limiting through a real redis-server: the Lua script's decisions, limits shared
 * by independent middleware instances (as separate gateway processes would share them),
 * and behaviour while Redis is killed, restarted on the same port, or hung.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Answer, RequestContext } from '../src/core/middleware.js';
import { testContext } from '../src/middlewares/rate-limit/fixture-context.js';
import { createRateLimit, normalizeRateLimit, type RateLimitMiddleware, type RawRateLimit } from '../src/middlewares/rate-limit/index.js';
import { RedisConnections } from '../src/middlewares/rate-limit/redis-store.js';
import { freePort } from './helpers/free-port.js';
import { findRedisServer, REDIS_MISSING, redisCommand } from './helpers/servers.js';

/**
 * A redis-server this file can kill and start again on the same port (the shared
 * helper picks a new port each start). Killed on exit if a test fails half-way.
 */
class RestartableRedis {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'brisk-rl-redis-'));
  constructor(
    private readonly bin: string,
    readonly port: number,
  ) {
    process.once('exit', () => this.child?.kill('SIGKILL'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // prettier-ignore
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--logfile', ''];
    const child = spawn(this.bin, args, { stdio: 'ignore' });
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited (${child.exitCode})`);
      if ((await redisCommand(this.port, ['PING'], { timeoutMs: 300 }).catch(() => null)) === 'PONG') return;
      await sleep(30);
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  signal(name: NodeJS.Signals): void {
    this.child?.kill(name);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A logger that keeps what it was told. */
function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  return {
    lines,
    logger: {
      warn: (_obj: object, msg: string) => void lines.push({ level: 'warn', msg }),
      info: (_obj: object, msg: string) => void lines.push({ level: 'info', msg }),
    },
  };
}

const built: RateLimitMiddleware[] = [];

function make(raw: RawRateLimit, options: { connections?: RedisConnections; logger?: ReturnType<typeof recordingLogger>['logger'] } = {}): RateLimitMiddleware {
  const { config, problems } = normalizeRateLimit(raw);
  assert.deepEqual(problems, []);
  const rl = createRateLimit(config!, {
    logger: options.logger ?? { warn: () => {}, info: () => {} },
    routeName: 'api',
    // A pool per instance: each behaves like a gateway process of its own.
    redisConnections: options.connections ?? new RedisConnections(),
  });
  built.push(rl);
  return rl;
}

async function decide(rl: RateLimitMiddleware, ctx: RequestContext = testContext()): Promise<{ answer: Answer | null; ms: number; ctx: RequestContext }> {
  const started = performance.now();
  const answer = await rl.handle(ctx);
  return { answer, ms: performance.now() - started, ctx };
}

function header(answer: Answer | null, name: string): string | undefined {
  const h = answer?.headers ?? [];
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

const bin = findRedisServer();
let redis: RestartableRedis;

describe('rate limits in Redis', { skip: bin === undefined ? REDIS_MISSING : false, timeout: 60_000 }, () => {
  before(async () => {
    redis = new RestartableRedis(bin!, await freePort());
    await redis.start();
  });
  after(async () => {
    await Promise.all(built.map((rl) => rl.close()));
    await redis?.stop();
  });

  it('decides in one script: burst, refusal with Retry-After, all-must-pass, prefixed keys with TTLs', async () => {
    const rl = make({
      store: 'redis',
      redis: { url: redis.url, keyPrefix: 't1:' },
      limits: [
        { name: 'per-ip', rate: 5, per: '10s', burst: 3 },
        { name: 'per-user', algorithm: 'sliding-window', rate: 4, per: '10s', key: 'header:x-user' },
      ],
    });
    assert.equal(await rl.whenReady(), true);
    const alice = (ip: string) => testContext({ clientIp: ip, rawHeaders: ['X-User', 'alice'] });
    for (const r of [2, 1, 0]) {
      const { answer, ctx } = await decide(rl, alice('10.0.0.1'));
      assert.equal(answer, null);
      assert.deepEqual(ctx.responseHeaders?.slice(0, 2), ['ratelimit-policy', '"per-ip";q=5;w=10, "per-user";q=4;w=10']);
      assert.match(ctx.responseHeaders![3]!, new RegExp(`^"per-ip";r=${r};t=2, "per-user";r=${3 - (2 - r)};t=\\d+$`));
    }
    const refused = (await decide(rl, alice('10.0.0.1'))).answer!;
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'BRISK_RATE_LIMITED');
    assert.equal(header(refused, 'retry-after'), '2');
    assert.equal(header(refused, 'ratelimit'), '"per-ip";r=0;t=2');
    // The refusal consumed nothing of per-user: from another address alice has one left.
    assert.equal((await decide(rl, alice('10.0.0.2'))).answer, null);
    const byUser = (await decide(rl, alice('10.0.0.3'))).answer!;
    assert.equal(header(byUser, 'ratelimit')?.startsWith('"per-user";r=0;t='), true);
    // A request without X-User counts under the anonymous key.
    assert.equal((await decide(rl, testContext({ clientIp: '10.0.0.4' }))).answer, null);

    const pttl = (await redisCommand(redis.port, ['PTTL', 't1:api:per-ip:gcra:=10.0.0.1'])) as number;
    assert.ok(pttl > 0 && pttl <= 6000, `per-ip TTL ${pttl} ms: the bucket is full again within 3 × 2 s`);
    assert.equal(await redisCommand(redis.port, ['HGET', 't1:api:per-user:window:=alice', 'c']), '4');
    const userTtl = (await redisCommand(redis.port, ['PTTL', 't1:api:per-user:window:=alice'])) as number;
    assert.ok(userTtl > 10_000 && userTtl <= 20_000, `per-user TTL ${userTtl} ms: two windows`);
    assert.equal(await redisCommand(redis.port, ['HGET', 't1:api:per-user:window:*', 'c']), '1');
    assert.deepEqual(rl.stats(), { allowed: 5, limited: 2, storeErrors: 0 });
  });

  it('falls back from EVALSHA to EVAL when the script cache was flushed', async () => {
    const rl = make({ store: 'redis', redis: { url: redis.url, keyPrefix: 't2:' }, limits: [{ rate: 1, per: '1m' }] });
    assert.equal(await rl.whenReady(), true);
    await sleep(50); // let the connection's own SCRIPT LOAD land first
    assert.equal(await redisCommand(redis.port, ['SCRIPT', 'FLUSH']), 'OK');
    assert.equal((await decide(rl)).answer, null);
    assert.equal((await decide(rl)).answer?.status, 429);
    assert.equal(rl.stats().storeErrors, 0);
  });

  it('two independent instances share one limit exactly (within ±5%) under concurrent load', async (t) => {
    // 200 per 2 s (100/s), offered about 3× that from both "gateways" for 3 s. The bucket
    // holds 1 s of tokens, so a stall of the busy test machine shorter than that loses none.
    // A generous timeout: this test is about exactness, not about a busy machine's slow answers.
    const raw: RawRateLimit = { store: 'redis', redis: { url: redis.url, keyPrefix: 't3:', timeout: '1s' }, limits: [{ rate: 200, per: '2s', burst: 100, key: 'route' }] };
    const gateways = [make(raw), make(raw)];
    for (const g of gateways) assert.equal(await g.whenReady(), true);
    // Closed-loop clients, 3 per gateway, each pausing 10 ms between requests: about 3× the
    // allowed rate, and still well above it when the machine is busy and timers run late.
    const answers: (Answer | null)[] = [];
    const started = performance.now();
    let last = started;
    let n = 0;
    const worker = async (g: RateLimitMiddleware) => {
      while (performance.now() - started < 3000) {
        last = performance.now();
        answers.push(await g.handle(testContext({ clientIp: `10.1.0.${n++ % 250}` })));
        await sleep(10);
      }
    };
    await Promise.all([0, 1, 0, 1, 0, 1].map((i) => worker(gateways[i]!)));
    const allowed = answers.filter((a) => a === null).length;
    const expected = 100 + ((last - started) / 1000) * 100;
    const deviation = ((allowed - expected) / expected) * 100;
    t.diagnostic(`offered ${answers.length}, allowed ${allowed}, expected ${expected.toFixed(1)}: ${deviation >= 0 ? '+' : ''}${deviation.toFixed(2)}%`);
    assert.ok(answers.length >= 1.8 * expected, `offered only ${answers.length}`);
    assert.ok(Math.abs(deviation) <= 5, `allowed ${allowed}, expected ${expected.toFixed(1)} (${deviation.toFixed(2)}%)`);
    const stats = gateways.map((g) => g.stats());
    assert.equal(stats[0]!.storeErrors + stats[1]!.storeErrors, 0);
    assert.equal(stats[0]!.allowed + stats[1]!.allowed, allowed);
    // Both gateways took a share: the limit is global, not per instance.
    assert.ok(stats[0]!.allowed > 0.3 * allowed && stats[1]!.allowed > 0.3 * allowed, JSON.stringify(stats));
  });

  it('Redis killed mid-run: fail-open allows, fail-closed answers 503, promptly; limits return after a restart on the same port', async (t) => {
    const log = recordingLogger();
    const connections = new RedisConnections();
    // Limit names differ: the instances all say route "api", and keys are <prefix><route>:<limit>:<key>.
    const redisAt = { url: redis.url, keyPrefix: 't4:', timeout: '50ms' };
    const open = make({ store: 'redis', redis: redisAt, onStoreError: 'allow', limits: [{ name: 'open', rate: 10_000, per: '1s' }] }, { connections, logger: log.logger });
    const closed = make({ store: 'redis', redis: redisAt, onStoreError: 'deny', limits: [{ name: 'closed', rate: 10_000, per: '1s' }] }, { connections, logger: log.logger });
    const strict = make({ store: 'redis', redis: redisAt, limits: [{ name: 'strict', rate: 2, per: '1m' }] }, { connections, logger: log.logger });
    assert.equal(connections.size, 1, 'routes with the same URL and timeout share a connection');
    for (const rl of [open, closed, strict]) assert.equal(await rl.whenReady(), true);
    assert.equal((await decide(open)).ctx.responseHeaders !== null, true, 'decided by Redis');
    assert.equal((await decide(strict)).answer, null);

    // Load running while Redis dies.
    let slowest = 0;
    let openRefused = 0;
    let closedCodes = new Set<string>();
    let running = true;
    const load = (async () => {
      while (running) {
        const [a, b] = await Promise.all([decide(open), decide(closed)]);
        slowest = Math.max(slowest, a.ms, b.ms);
        if (a.answer !== null) openRefused++;
        if (b.answer !== null) closedCodes.add(`${b.answer.status} ${b.answer.code} retry-after=${header(b.answer, 'retry-after')}`);
        await sleep(2);
      }
    })();
    await sleep(200);
    await redis.kill();
    const killedAt = performance.now();
    closedCodes = new Set();
    await sleep(1000);
    running = false;
    await load;
    assert.ok(slowest < 100, `slowest decision ${slowest.toFixed(1)} ms`);
    assert.equal(openRefused, 0, 'fail-open let everything through');
    assert.deepEqual([...closedCodes], ['503 BRISK_RATE_LIMIT_UNAVAILABLE retry-after=1']);
    assert.ok(open.stats().storeErrors > 10 && closed.stats().storeErrors > 10, JSON.stringify([open.stats(), closed.stats()]));
    // Logged once for the outage, not once per request.
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1, JSON.stringify(log.lines));

    await redis.start();
    // Reconnection happens in the background (backoff up to ~1.1 s).
    let recoveredAfter = -1;
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline) {
      // Allowed responses carry RateLimit headers only when Redis decided.
      const { ctx } = await decide(open);
      if (ctx.responseHeaders !== null) {
        recoveredAfter = performance.now() - killedAt;
        break;
      }
      await sleep(20);
    }
    assert.ok(recoveredAfter > 0, 'limits did not come back after the restart');
    t.diagnostic(`recovered ${recoveredAfter.toFixed(0)} ms after the kill (1 s of it with Redis down)`);
    // The restarted Redis is empty: the strict limit counts from zero and holds again.
    assert.equal((await decide(strict)).answer, null);
    assert.equal((await decide(strict)).answer, null);
    assert.equal((await decide(strict)).answer?.status, 429);
    assert.equal((await decide(closed)).answer, null);
    assert.ok(log.lines.some((l) => l.level === 'info' && /reachable again/.test(l.msg)), JSON.stringify(log.lines));
  });

  it('Redis hung (SIGSTOP): decisions time out at redis.timeout, then fail fast; SIGCONT recovers', async () => {
    const rl = make({ store: 'redis', redis: { url: redis.url, keyPrefix: 't5:', timeout: '50ms' }, onStoreError: 'deny', limits: [{ rate: 10_000, per: '1s' }] });
    assert.equal(await rl.whenReady(), true);
    assert.equal((await decide(rl)).answer, null);
    redis.signal('SIGSTOP');
    try {
      const times: number[] = [];
      for (let round = 0; round < 20; round++) {
        const results = await Promise.all([decide(rl), decide(rl), decide(rl)]);
        for (const r of results) {
          assert.equal(r.answer?.code, 'BRISK_RATE_LIMIT_UNAVAILABLE');
          times.push(r.ms);
        }
      }
      times.sort((a, b) => a - b);
      assert.ok(times.at(-1)! < 100, `slowest ${times.at(-1)!.toFixed(1)} ms`);
      // After a few timeouts only one probe waits; the rest are answered at once.
      assert.ok(times[Math.floor(times.length / 2)]! < 10, `median ${times[Math.floor(times.length / 2)]!.toFixed(1)} ms`);
    } finally {
      redis.signal('SIGCONT');
    }
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = (await decide(rl)).answer === null;
      if (!ok) await sleep(20);
    }
    assert.ok(ok, 'Redis decisions did not come back after SIGCONT');
  });

  it('an error reply (a key of another type) fails that decision only; the connection is not throttled', async () => {
    const log = recordingLogger();
    const rl = make({ store: 'redis', redis: { url: redis.url, keyPrefix: 't6:' }, limits: [{ rate: 100, per: '1s' }] }, { logger: log.logger });
    assert.equal(await rl.whenReady(), true);
    await redisCommand(redis.port, ['LPUSH', 't6:api:default:gcra:=10.6.6.6', 'planted']);
    for (let i = 0; i < 5; i++) assert.equal((await decide(rl, testContext({ clientIp: '10.6.6.6' }))).answer, null, 'fail-open');
    assert.equal(rl.stats().storeErrors, 5);
    // Five concurrent decisions for other keys all reach Redis (allowed answers carry headers only then).
    const others = await Promise.all([1, 2, 3, 4, 5].map((n) => decide(rl, testContext({ clientIp: `10.6.0.${n}` }))));
    assert.deepEqual(
      others.map((o) => o.ctx.responseHeaders !== null),
      [true, true, true, true, true],
    );
    assert.equal(log.lines.length, 1);
    assert.match(log.lines[0]!.msg, /refused by Redis/);
  });

  it('close() releases the shared connection with its last user', async () => {
    const connections = new RedisConnections();
    const a = make({ store: 'redis', redis: { url: redis.url }, limits: [{ rate: 1, per: '1s' }] }, { connections });
    const b = make({ store: 'redis', redis: { url: redis.url }, limits: [{ rate: 1, per: '1s' }] }, { connections });
    await a.whenReady();
    assert.equal(connections.size, 1);
    await a.close();
    assert.equal(connections.size, 1);
    assert.equal((await decide(b)).answer, null);
    await b.close();
    await b.close(); // twice is harmless
    assert.equal(connections.size, 0);
  });
});
