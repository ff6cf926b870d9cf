/**
 * The gateway-level proof: two real Brisk processes (`brisk start`), sharing one real
 * Redis, hold one global rate limit within ±5% under load; with Redis killed mid-run they
 * behave as configured (fail-open here) and neither crashes.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { REDIS_MISSING, startRedis, type RunningServer } from './helpers/servers.js';
import { startRateLimitedGateways } from './helpers/brisk-process.js';

const RATE = 200;
const PER_S = 2;
const BURST = 100;


describe('rate limit shared by two gateway processes through Redis', async () => {
  const redis = await startRedis();
  let backend: Backend;
  const gateways: { child: ChildProcess; port: number; out: () => string }[] = [];
  /** When each request the limit let through reached the backend (`performance.now()`). */
  const arrivals: number[] = [];
  let dir: string;

  before(async () => {
    if (redis === null) return;
    backend = await startBackend((req, res) => {
      if (req.url?.startsWith('/api/x') === true) arrivals.push(performance.now());
      res.end('ok');
    });
    dir = mkdtempSync(join(tmpdir(), 'brisk-rl-'));
    const started = await startRateLimitedGateways(dir, 2, { backendUrl: backend.url, redis: `{ url: "redis://127.0.0.1:${redis.port}", timeout: 1s }`, rate: RATE, per: `${PER_S}s`, burst: BURST });
    for (const { brisk, port } of started) gateways.push({ child: brisk.child, port, out: brisk.output });
  });

  after(async () => {
    for (const g of gateways) g.child.kill('SIGKILL');
    await backend?.close();
    await redis?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the global limit within ±5% across both gateways', { skip: redis === null ? REDIS_MISSING : false }, async (t) => {
    const agent = new Agent({ connections: 32 });
    const seconds = 3;
    // Offer about 3× the limit, split over both gateways, for `seconds`.
    const offeredPerSecond = (3 * RATE) / PER_S;
    const started = Date.now();
    let allowed = 0;
    let limited = 0;
    let other = 0;
    const pending: Promise<void>[] = [];
    let sent = 0;
    while (Date.now() - started < seconds * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * offeredPerSecond);
      for (; sent < due; sent++) {
        const g = gateways[sent % 2]!;
        pending.push(
          request(`http://127.0.0.1:${g.port}/api/x`, { dispatcher: agent }).then(
            async (res) => {
              await res.body.dump();
              if (res.statusCode === 200) allowed++;
              else if (res.statusCode === 429) limited++;
              else other++;
            },
            () => void other++,
          ),
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
    // Demand exceeded the limit from the first decision to the last, so tokens accrued over
    // that span. It is read where the decisions land (the backend's arrival times), not at the
    // client: on a loaded machine answers reach the client late, which would stretch the span.
    const elapsed = (arrivals[arrivals.length - 1]! - arrivals[0]!) / 1000;
    await agent.close();
    // A full bucket to start with, then the refill rate for the time the load ran.
    const expected = BURST + (RATE / PER_S) * elapsed;
    const deviation = (allowed - expected) / expected;
    t.diagnostic(`allowed ${allowed} of ${allowed + limited}, expected ${expected.toFixed(0)}: ${(deviation * 100).toFixed(2)}%`);
    assert.equal(other, 0, 'every answer is a 200 or a 429');
    assert.ok(limited > 0, 'the limit refused the excess');
    assert.ok(Math.abs(deviation) <= 0.05, `allowed ${allowed}, expected ${expected.toFixed(0)} (${(deviation * 100).toFixed(1)}%)`);
  });

  it('fails open promptly when Redis dies, and neither gateway crashes', { skip: redis === null ? REDIS_MISSING : false }, async () => {
    await redis!.stop();
    for (const g of gateways) {
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const res = await request(`http://127.0.0.1:${g.port}/api/after-redis`);
        await res.body.dump();
        assert.equal(res.statusCode, 200, 'onStoreError: allow lets requests through');
        assert.ok(performance.now() - t0 < 1500, 'decided promptly');
      }
      assert.equal(g.child.exitCode, null, `gateway still running:\n${g.out()}`);
    }
  });
});

export type { RunningServer };
