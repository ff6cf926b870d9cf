import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Answer, Identity } from '../../core/middleware.js';
import { createRateLimit, normalizeRateLimit, type RawRateLimit } from './index.js';
import { testContext } from './fixture-context.js';

const logger = { warn: () => {}, info: () => {} };

function build(raw: RawRateLimit) {
  const { config, problems } = normalizeRateLimit(raw);
  assert.deepEqual(problems, []);
  let now = 1_000_000; // ms on the injected clock
  const rl = createRateLimit(config!, { logger, routeName: 'api', clock: () => now });
  return {
    rl,
    advance: (ms: number) => (now += ms),
    hit: (over: Parameters<typeof testContext>[0] = {}) => {
      const ctx = testContext(over);
      const answer = rl.handle(ctx);
      assert.ok(!(answer instanceof Promise), 'the memory store decides synchronously');
      return { answer: answer as Answer | null, headers: ctx.responseHeaders };
    },
  };
}

function header(answer: Answer | null, name: string): string | undefined {
  const h = answer?.headers ?? [];
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

describe('rate-limit middleware (memory store)', () => {
  it('allows the burst with headers, then refuses with 429, Retry-After and the IETF fields', () => {
    const { hit, advance, rl } = build({ limits: [{ name: 'per-ip', rate: 10, per: '1s', burst: 2 }] });
    const first = hit();
    assert.equal(first.answer, null);
    assert.deepEqual(first.headers, ['ratelimit-policy', '"per-ip";q=10;w=1', 'ratelimit', '"per-ip";r=1;t=1']);
    assert.equal(hit().answer, null);
    const refused = hit().answer!;
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'BRISK_RATE_LIMITED');
    assert.match(refused.message!, /route "api": rate limit "per-ip" \(10 per 1s by ip\) exceeded/);
    assert.equal(header(refused, 'retry-after'), '1');
    assert.equal(header(refused, 'ratelimit-policy'), '"per-ip";q=10;w=1');
    assert.equal(header(refused, 'ratelimit'), '"per-ip";r=0;t=1');
    // Another client is not affected.
    assert.equal(hit({ clientIp: '10.0.0.2' }).answer, null);
    advance(100);
    assert.equal(hit().answer, null);
    assert.deepEqual(rl.stats(), { allowed: 4, limited: 1, storeErrors: 0 });
  });

  it('Retry-After is the wait rounded up to whole seconds', () => {
    const { hit, advance } = build({ limits: [{ rate: 1, per: '1m' }] });
    assert.equal(hit().answer, null);
    assert.equal(header(hit().answer, 'retry-after'), '60');
    advance(30_500);
    assert.equal(header(hit().answer, 'retry-after'), '30');
    advance(29_000);
    assert.equal(header(hit().answer, 'retry-after'), '1');
    advance(500);
    assert.equal(hit().answer, null);
  });

  it('several limits: all must pass; a refusal consumes none; the refusing limits are named', () => {
    const { hit, advance } = build({
      limits: [
        { name: 'per-ip', rate: 3, per: '1s' },
        { name: 'per-user', algorithm: 'sliding-window', rate: 5, per: '10s', key: 'header:x-user' },
      ],
    });
    const alice = { rawHeaders: ['X-User', 'alice'] };
    for (let i = 0; i < 3; i++) assert.equal(hit(alice).answer, null);
    const byIp = hit(alice).answer!;
    assert.equal(header(byIp, 'ratelimit'), '"per-ip";r=0;t=1');
    assert.equal(header(byIp, 'ratelimit-policy'), '"per-ip";q=3;w=1, "per-user";q=5;w=10');
    // From another address alice has 2 left on per-user: the refusal above consumed nothing there.
    const other = { clientIp: '10.0.0.9', rawHeaders: ['x-user', 'alice'] };
    const allowed = hit(other);
    assert.equal(allowed.answer, null);
    // More per-user quota comes just after the window ends (10 s + 1 µs, rounded up).
    assert.equal(allowed.headers![3], '"per-ip";r=2;t=1, "per-user";r=1;t=11');
    assert.equal(hit(other).answer, null);
    const byUser = hit(other).answer!;
    assert.match(byUser.message!, /"per-user" \(5 per 10s by header:x-user\)/);
    assert.equal(header(byUser, 'ratelimit'), '"per-user";r=0;t=11');
    assert.equal(header(byUser, 'retry-after'), '11');
    // per-ip of 10.0.0.9 was not charged for that refusal: after its refill it has 3 again.
    advance(1000);
    const again = hit({ clientIp: '10.0.0.9', rawHeaders: ['x-user', 'bob'] });
    // bob's one request is counted until just past the end of the next window's start (9 s later).
    assert.equal(again.headers![3], '"per-ip";r=2;t=1, "per-user";r=4;t=10');
  });

  it('requests without the key share one anonymous counter', () => {
    const { hit } = build({ limits: [{ rate: 2, per: '1h', key: 'claim:sub' }] });
    const jwt = (sub: string): Identity => ({ method: 'jwt', subject: sub, claims: { sub } });
    assert.equal(hit({ clientIp: '1.1.1.1' }).answer, null);
    assert.equal(hit({ clientIp: '2.2.2.2' }).answer, null);
    assert.equal(hit({ clientIp: '3.3.3.3' }).answer?.status, 429);
    assert.equal(hit({ identity: jwt('u1') }).answer, null);
  });

  it('headers: false leaves allowed responses alone but still explains refusals', () => {
    const { hit } = build({ headers: false, limits: [{ rate: 1, per: '1s' }] });
    const allowed = hit();
    assert.equal(allowed.answer, null);
    assert.equal(allowed.headers, null);
    assert.equal(header(hit().answer, 'ratelimit'), '"default";r=0;t=1');
  });

  it('adds to response headers other middlewares set', () => {
    const { rl } = build({ limits: [{ rate: 5, per: '500ms' }] });
    const ctx = testContext();
    ctx.responseHeaders = ['x-other', '1'];
    rl.handle(ctx);
    // 500ms is not whole seconds: no `w`.
    assert.deepEqual(ctx.responseHeaders, ['x-other', '1', 'ratelimit-policy', '"default";q=5', 'ratelimit', '"default";r=4;t=1']);
  });

  it('memory stays bounded when a client sprays keys', () => {
    const { hit } = build({ memory: { maxKeys: 100 }, limits: [{ rate: 1, per: '1h', key: 'header:x-k' }] });
    for (let i = 0; i < 10_000; i++) hit({ rawHeaders: ['x-k', `spray-${i}`] });
    // The table holds at most 100 keys; a long-idle key was forgotten and is fresh again.
    assert.equal(hit({ rawHeaders: ['x-k', 'spray-0'] }).answer, null);
    assert.equal(hit({ rawHeaders: ['x-k', 'spray-9999'] }).answer?.status, 429);
  });

  it('close() and whenReady() are immediate for the memory store', async () => {
    const { rl } = build({ limits: [{ rate: 1, per: '1s' }] });
    assert.equal(await rl.whenReady(), true);
    await rl.close();
  });
});
