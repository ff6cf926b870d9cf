/**
 * The short form of `npm run proof:toolkit`, run by `npm test` (alone, after the other test
 * files: `.solo.test` in its name): the same scenarios and
 * bars against real PostgreSQL (primary + synchronous streaming replica) and real Redis,
 * with shorter phases — load for 1.5 s before the kill and 3 s after the promotion
 * instead of 3 s and 6 s; 150 read-your-writes pairs instead of 500; Redis down 3 s
 * instead of 10 s (at 400 reads/s); the saga rounds are the full ones (100 sagas each).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCacheScenarios, SHORT_CACHE } from '../proof/cache.js';
import { runPostgresScenarios, SHORT } from '../proof/failover.js';
import { runSagaScenario } from '../proof/saga.js';
import { postgresInstalled, POSTGRES_NOT_INSTALLED } from '../src/local/postgres.js';
import { redisServerPath, REDIS_NOT_INSTALLED } from '../src/local/redis.js';

const skip = !postgresInstalled() ? POSTGRES_NOT_INSTALLED : redisServerPath() === undefined ? REDIS_NOT_INSTALLED : false;

describe('toolkit proof (short form)', { skip }, () => {
  test('failover under 200 writes/s + 800 reads/s, and read-your-writes under 200 ms replica lag', { timeout: 120_000 }, async () => {
    const [failover, ryw] = await runPostgresScenarios(SHORT);
    const f = failover!.details as { resumeAfterPromotionMs: number; lost: number; readErrors: number; reads: number; readsOnReplica: number; acknowledged: number };
    assert.ok(f.acknowledged > 200, `too few writes acknowledged to mean anything: ${failover!.measured}`);
    assert.ok(f.resumeAfterPromotionMs <= 5000, `writes resumed ${f.resumeAfterPromotionMs} ms after the promotion (bar: 5000): ${failover!.measured}`);
    assert.equal(f.lost, 0, `acknowledged writes lost: ${failover!.measured}`);
    assert.equal(f.readErrors, 0, `reads failed: ${failover!.measured}`);
    assert.equal(f.readsOnReplica, f.reads, `reads not served by the replica: ${failover!.measured}`);
    const r = ryw!.details as { pairs: number; staleWithToken: number; later: { onReplica: number }; withoutToken: { onReplica: number; stale: number } };
    assert.equal(r.staleWithToken, 0, ryw!.measured);
    assert.ok(r.later.onReplica > r.pairs / 2, `tokens the replica has replayed past should be served by it: ${ryw!.measured}`);
    assert.equal(r.withoutToken.onReplica, r.pairs, ryw!.measured);
    // The lag is real: without a token, reads right after the write miss it.
    assert.ok(r.withoutToken.stale > r.pairs / 2, `the artificial lag did not show: ${ryw!.measured}`);
  });

  test('1,000 concurrent misses load once; Redis killed: 0 errors and the hit ratio recovers', { timeout: 120_000 }, async () => {
    const [stampede, outage] = await runCacheScenarios(SHORT_CACHE);
    assert.equal(stampede!.details['loads'], 1, stampede!.measured);
    assert.equal(stampede!.details['wrongValues'], 0, stampede!.measured);
    const o = outage!.details as { errors: number; ratioBefore: number; ratioDuring: number; ratioAfter: number };
    assert.equal(o.errors, 0, outage!.measured);
    assert.ok(o.ratioDuring < o.ratioBefore, `the outage did not lower the hit ratio, so Redis was not in use: ${outage!.measured}`);
    assert.ok(o.ratioAfter >= o.ratioBefore * 0.9, `hit ratio did not recover: ${outage!.measured}`);
  });

  test('saga orchestrator SIGKILLed at each step: every saga committed or compensated, nothing applied twice', { timeout: 240_000 }, async () => {
    const result = await runSagaScenario(100);
    const d = result.details as { rounds: { killed: boolean }[]; open: number; doubles: number; inconsistent: string[]; total: number; committed: number; compensated: number; sameKeyRetries: number };
    assert.ok(d.rounds.every((r) => r.killed), `an orchestrator was not killed mid-saga: ${JSON.stringify(d.rounds)}`);
    assert.equal(d.total, 500);
    assert.equal(d.open, 0, result.measured);
    assert.equal(d.doubles, 0, result.measured);
    assert.deepEqual(d.inconsistent, [], result.measured);
    assert.ok(d.committed > 0 && d.compensated > 0, result.measured);
    assert.ok(d.sameKeyRetries > 0, `no step was ever retried with its key, so idempotency was not exercised: ${result.measured}`);
  });
});
