/**
 * Sagas on real PostgreSQL with in-process participants: the paths the proof does not
 * isolate — a definite failure, an unknown outcome retried and then compensated (the late
 * forward refused), forward recovery after the pivot, lease fencing, the outbox, metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Database } from '../src/db/database.js';
import { isServiceError, ServiceError as ServiceErrorClass, type ServiceError } from '../src/errors.js';
import { startLocalPostgres, postgresInstalled, POSTGRES_NOT_INSTALLED, type LocalPostgresCluster } from '../src/local/postgres.js';
import { Registry } from '../src/observability.js';
import { StepFailed, type SagaDefinition, type StepContext } from '../src/saga/definition.js';
import { SagaOrchestrator } from '../src/saga/orchestrator.js';
import { Outbox, type OutboxEvent } from '../src/saga/outbox.js';
import { Participant } from '../src/saga/participant.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sagas', { skip: postgresInstalled() ? false : POSTGRES_NOT_INSTALLED }, () => {
  let cluster: LocalPostgresCluster;
  let db: Database;
  let ledger: Participant;
  before(async () => {
    cluster = await startLocalPostgres();
    db = await Database.connect({ url: cluster.url, logger: silent });
    ledger = new Participant(db, { schema: 'ledger' });
    await ledger.init();
    await db.write('create table ledger.moves (saga text, step text, action text)');
  });
  after(async () => {
    await db?.close();
    await cluster?.stop();
  });

  /** A participant call as a step: applies once per key, records the move in its transaction. */
  const apply = (ctx: StepContext<unknown>) =>
    ctx.action === 'forward'
      ? ledger.forward(ctx.key, async (tx) => {
          await tx.query('insert into ledger.moves values ($1, $2, $3)', [ctx.sagaId, ctx.step, 'forward']);
          return { step: ctx.step };
        })
      : ledger.compensate(ctx.key, async (tx) => void (await tx.query('insert into ledger.moves values ($1, $2, $3)', [ctx.sagaId, ctx.step, 'compensate'])));
  const moves = async (saga: string) => (await db.read<{ step: string; action: string }>('select step, action from ledger.moves where saga = $1 order by step, action', [saga], { primary: true })).rows.map((r) => `${r.step}:${r.action}`);

  test('the participant applies a key once, refuses a forward after its compensation', async () => {
    const calls: string[] = [];
    const first = await ledger.forward('s0:a:forward', async () => (calls.push('a'), 1));
    const again = await ledger.forward('s0:a:forward', async () => (calls.push('a'), 2));
    assert.deepEqual([first, again, calls], [1, 1, ['a']]);
    assert.deepEqual(await ledger.compensate('s0:b:compensate', async () => void calls.push('undo-b')), { undone: false }, 'nothing to undo');
    await assert.rejects(ledger.forward('s0:b:forward', async () => calls.push('b')), (e: ServiceError) => e.code === 'BRISK_SVC_SAGA_STEP_REFUSED');
    assert.deepEqual(calls, ['a']);
    await assert.rejects(ledger.forward('not-a-key', async () => 0), (e: ServiceError) => e.code === 'BRISK_SVC_BAD_REQUEST');
  });

  test('commit, definite failure, unknown outcome then compensation, forward recovery after the pivot', { timeout: 30_000 }, async () => {
    let chargeCalls = 0;
    let shipFailures = 2;
    const registry = new Registry();
    const definition: SagaDefinition<{ mode: string }> = {
      name: 'order',
      pivot: 'charge',
      steps: [
        { name: 'reserve', forward: apply, compensate: async (c) => void (await apply(c)) },
        {
          name: 'charge',
          timeoutMs: 100,
          retries: 2,
          forward: async (ctx) => {
            if (ctx.input.mode === 'declined') throw new StepFailed('card declined');
            if (ctx.input.mode === 'hang') {
              chargeCalls++;
              // Applied, but the answer never comes in time: every try is an unknown outcome.
              await apply(ctx);
              await sleep(300);
            }
            return apply(ctx);
          },
          compensate: async (c) => void (await apply(c)),
        },
        {
          name: 'ship',
          forward: async (ctx) => {
            if (ctx.input.mode === 'flaky-ship' && shipFailures-- > 0) throw new StepFailed('carrier refused');
            return apply(ctx);
          },
        },
      ],
    };
    const orchestrator = new SagaOrchestrator({ db, definitions: [definition], logger: silent, registry });
    await orchestrator.init();
    const ok = await orchestrator.run('order', { mode: 'ok' }, { id: 'ok' });
    assert.equal(ok.state, 'committed');
    assert.deepEqual(await moves('ok'), ['charge:forward', 'reserve:forward', 'ship:forward']);

    const declined = await orchestrator.run('order', { mode: 'declined' }, { id: 'declined' });
    assert.equal(declined.state, 'compensated');
    assert.match(declined.error ?? '', /card declined/);
    assert.deepEqual(await moves('declined'), ['reserve:compensate', 'reserve:forward']);

    const hang = await orchestrator.run('order', { mode: 'hang' }, { id: 'hang' });
    assert.equal(hang.state, 'compensated');
    assert.equal(chargeCalls, 3, 'first try and 2 retries, all with the same key');
    assert.deepEqual(await moves('hang'), ['charge:compensate', 'charge:forward', 'reserve:compensate', 'reserve:forward'], 'the unknown charge was applied once and compensated once');

    const flaky = await orchestrator.run('order', { mode: 'flaky-ship' }, { id: 'flaky' });
    assert.equal(flaky.state, 'committed', 'after the pivot a failure is retried, never compensated');
    assert.deepEqual(await moves('flaky'), ['charge:forward', 'reserve:forward', 'ship:forward']);

    const again = await orchestrator.run('order', { mode: 'ok' }, { id: 'ok' });
    assert.equal(again.state, 'committed', 'running an id again returns the finished saga');
    assert.deepEqual(await orchestrator.counts(), { pending: 0, running: 0, compensating: 0, committed: 2, compensated: 2 });
    const metrics = await registry.metrics();
    assert.match(metrics, /brisk_svc_sagas\{saga="order",state="compensated"\} 2/);
    assert.match(metrics, /brisk_svc_saga_steps_total\{saga="order",step="charge",action="forward",outcome="unknown"\} 3/);
    await assert.rejects(orchestrator.run('nope', {}), (e: ServiceError) => isServiceError(e, 'BRISK_SVC_SAGA_NOT_FOUND'));
  });

  test('a paused orchestrator loses its lease: another resumes the saga, the first one is fenced off', { timeout: 30_000 }, async () => {
    let release!: () => void;
    const paused = new Promise<void>((r) => (release = r));
    let pausedOnce = false;
    const definition: SagaDefinition<unknown> = {
      name: 'lease',
      steps: [
        {
          name: 'slow',
          timeoutMs: 10_000,
          forward: async (ctx) => {
            if (!pausedOnce) {
              pausedOnce = true;
              await paused;
            }
            return apply(ctx);
          },
          compensate: async (c) => void (await apply(c)),
        },
      ],
    };
    const first = new SagaOrchestrator({ db, definitions: [definition], logger: silent, leaseMs: 300, owner: 'first' });
    const second = new SagaOrchestrator({ db, definitions: [definition], logger: silent, leaseMs: 300, pollMs: 50, owner: 'second' });
    const running = first.run('lease', null, { id: 'leased' });
    try {
      await sleep(100);
      // What a pause past the lease looks like from the database: the lease ran out (and the
      // paused process could not renew it). Another owner name keeps the first one's
      // heartbeat, still ticking in this test, from renewing it.
      await db.write(`update brisk.sagas set lease_owner = 'paused', lease_until = now() - interval '1 second' where id = 'leased'`);
      second.startRecovery();
      const deadline = Date.now() + 10_000;
      while ((await second.get('leased')).state !== 'committed') {
        assert.ok(Date.now() < deadline, 'the second orchestrator did not finish the saga');
        await sleep(50);
      }
    } finally {
      release();
    }
    const seenByFirst = await running;
    await second.stop();
    await first.stop();
    assert.equal(seenByFirst.state, 'committed');
    assert.deepEqual(await moves('leased'), ['slow:forward'], 'applied once, though both orchestrators called it');
  });

  test('the outbox holds the saga events; relays on two instances share them without repeats', async () => {
    const outbox = new Outbox(db, { logger: silent });
    await outbox.init();
    const seen: OutboxEvent[] = [];
    const publish = async (events: OutboxEvent[]) => {
      await sleep(20);
      seen.push(...events);
    };
    const [a, b] = await Promise.all([outbox.relayOnce(publish, 3), outbox.relayOnce(publish, 3)]);
    let rest = 0;
    while ((rest = await outbox.relayOnce(publish)) > 0);
    assert.ok(a > 0 && b > 0, `both relays got work (${a}, ${b})`);
    assert.equal(new Set(seen.map((e) => e.id)).size, seen.length, 'no event published twice');
    assert.ok(seen.some((e) => e.topic === 'saga.committed' && e.key === 'ok'));
    assert.ok(seen.some((e) => e.topic === 'saga.compensated' && e.key === 'declined'));
    assert.equal(rest, 0);
  });

  test('a service adds its own events in its transaction; the running relay publishes them, a failed publish is retried', async () => {
    const outbox = new Outbox(db, { logger: silent });
    const published: string[] = [];
    let failures = 1;
    outbox.start(
      async (events) => {
        if (failures-- > 0) throw new Error('broker down');
        published.push(...events.map((e) => e.topic));
      },
      { pollMs: 20 },
    );
    try {
      await db.transaction(async (tx) => {
        await tx.query('insert into ledger.moves values ($1, $2, $3)', ['own', 'x', 'forward']);
        await outbox.add(tx, 'ledger.moved', { saga: 'own' }, 'own');
      });
      await assert.rejects(
        db.transaction(async (tx) => {
          await outbox.add(tx, 'ledger.never', {});
          throw new Error('rolled back');
        }),
        (e: Error) => e.message === 'rolled back' && !(e instanceof ServiceErrorClass),
        "the caller's own error comes back as it was thrown",
      );
      const deadline = Date.now() + 5000;
      while (!published.includes('ledger.moved')) {
        assert.ok(Date.now() < deadline, 'the relay did not publish the event');
        await sleep(20);
      }
      assert.ok(!published.includes('ledger.never'), 'an event of a rolled-back transaction is never published');
    } finally {
      await outbox.stop();
    }
  });
});
