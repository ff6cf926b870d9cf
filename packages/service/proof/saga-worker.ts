/**
 * A saga orchestrator process for the proof: runs the recovery loop until every saga of
 * its round is finished, optionally after enqueuing the round's sagas, and SIGKILLs
 * itself right after a chosen step's participant answered for the Nth time (before the
 * answer is recorded: the worst moment).
 *
 *   node saga-worker.js '{"url":…,"urls":{…},"round":"r1","enqueue":100,"crash":{"index":2,"action":"forward","after":30}}'
 */
import { Database } from '../src/db/database.js';
import { SagaOrchestrator } from '../src/saga/orchestrator.js';
import { quietLogger, sleep } from './common.js';
import { checkoutSaga, type CheckoutInput, type ParticipantName } from './saga-world.js';

interface WorkerArgs {
  url: string;
  urls: Record<ParticipantName, string>;
  round: string;
  enqueue: number;
  crash?: { index: number; action: 'forward' | 'compensate'; after: number };
}

const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
const db = await Database.connect({ url: args.url, logger: quietLogger });
let calls = 0;
const orchestrator = new SagaOrchestrator({
  db,
  definitions: [checkoutSaga(args.urls)],
  leaseMs: 1000,
  pollMs: 100,
  concurrency: 25,
  logger: quietLogger,
  afterCall: ({ index, action }) => {
    if (args.crash !== undefined && index === args.crash.index && action === args.crash.action && ++calls === args.crash.after) process.kill(process.pid, 'SIGKILL');
  },
});
await orchestrator.init();
for (let i = 0; i < args.enqueue; i++) {
  const input: CheckoutInput = { sku: `sku-${i % 7}`, decline: i % 5 === 0 };
  await orchestrator.enqueue('checkout', input, { id: `${args.round}-${i}` });
}
orchestrator.startRecovery();
const deadline = Date.now() + 90_000;
for (;;) {
  const { rows } = await db.read<{ open: number }>(`select count(*)::int as open from brisk.sagas where id like $1 and state not in ('committed', 'compensated')`, [`${args.round}-%`], { primary: true });
  if (rows[0]!.open === 0) break;
  if (Date.now() > deadline) {
    process.stderr.write(`round ${args.round}: ${rows[0]!.open} sagas still open after 90 s\n`);
    process.exit(2);
  }
  await sleep(100);
}
await orchestrator.stop();
await db.close();
process.exit(0);
