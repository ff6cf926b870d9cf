/**
 * Brisk hedges (and retries) POSTs that carry an `Idempotency-Key`, so two copies of one
 * request reach two instances of a service at once. With @brisk/service's `idempotent()`
 * the copy that finds the key claimed waits for the first one's answer and replays it:
 * through a real Brisk with hedging on, in front of two instances sharing a real
 * PostgreSQL, the client never sees `409 BRISK_SVC_IDEMPOTENCY_IN_PROGRESS` and each
 * payment happens once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createService, Database, IdempotencyStore, idempotent, json, type Service } from '@brisk/service';
import { postgresInstalled, POSTGRES_NOT_INSTALLED, startLocalPostgres, type LocalPostgresCluster } from '@brisk/service/local';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('idempotent POSTs hedged by Brisk', { skip: postgresInstalled() ? false : POSTGRES_NOT_INSTALLED, timeout: 120_000 }, () => {
  let cluster: LocalPostgresCluster;
  const dbs: Database[] = [];
  const instances: Service[] = [];
  let gw: TestGateway;
  const runs = new Map<string, number>();

  before(async () => {
    cluster = await startLocalPostgres();
    for (const name of ['a', 'b']) {
      const db = await Database.connect({ url: cluster.url, logger: silent });
      dbs.push(db);
      const store = new IdempotencyStore(db);
      await store.init();
      const service = createService({ name: `payments-${name}`, logger: silent, handleSignals: false }).route(
        'POST',
        '/pay',
        idempotent(store, async (ctx) => {
          runs.set(ctx.idempotencyKey ?? '', (runs.get(ctx.idempotencyKey ?? '') ?? 0) + 1);
          await sleep(400); // well past the hedge delay: the hedge finds the key claimed
          return json(201, { paid: ctx.idempotencyKey, by: name });
        }),
      );
      await service.start();
      instances.push(service);
    }
    gw = await startGateway({
      upstreams: {
        payments: {
          targets: instances.map((s) => ({ url: s.url })),
          balancer: 'round-robin',
          outlierDetection: { consecutiveGatewayFailures: 0, consecutive5xx: 0 },
        },
      },
      routes: [{ name: 'pay', match: { pathPrefix: '/' }, upstream: 'payments', hedge: { delay: '40ms' } }],
    });
  });
  after(async () => {
    await gw?.stop();
    await Promise.allSettled(instances.map((s) => s.stop()));
    await Promise.allSettled(dbs.map((d) => d.close()));
    await cluster?.stop();
  });

  it('the hedge waits for the first try and replays its answer: 201 every time, one payment per key', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gw.url}/pay`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `hedged-${i}`, 'x-request-id': `hedged-${i}` }, body: JSON.stringify({ amount: i }) });
      const body = (await res.json()) as { paid?: string; error?: { code: string } };
      statuses.push(res.status);
      assert.equal(res.status, 201, `request ${i}: ${JSON.stringify(body)}`);
      assert.equal(body.paid, `hedged-${i}`);
    }
    await sleep(100);
    const hedged = gw.logs.filter((l) => l['type'] === 'access' && String(l['requestId']).startsWith('hedged-') && l['hedged'] === true);
    assert.ok(hedged.length >= 3, `Brisk hedged ${hedged.length} of 6 requests; the test needs hedges to mean anything`);
    assert.deepEqual([...runs.values()], [1, 1, 1, 1, 1, 1], 'each key paid once');
    assert.deepEqual(statuses, [201, 201, 201, 201, 201, 201]);
  });
});
