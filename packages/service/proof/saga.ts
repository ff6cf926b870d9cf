/**
 * Scenario 5: the saga orchestrator SIGKILLed at each step in turn. Each round enqueues
 * its sagas and runs an orchestrator process that kills itself right after a chosen
 * step's participant answered (the answer not yet recorded); a second orchestrator
 * process then resumes the orphaned sagas once their leases expire. At the end every
 * database is read: each saga must be committed or fully compensated, and no step or
 * compensation applied twice.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Database } from '../src/db/database.js';
import { startLocalPostgres } from '../src/local/postgres.js';
import { quietLogger, type ScenarioResult } from './common.js';
import { CHECKOUT_STEPS, PARTICIPANTS, startParticipants } from './saga-world.js';

const WORKER = fileURLToPath(new URL('./saga-worker.js', import.meta.url));

interface Round {
  name: string;
  crash: { index: number; action: 'forward' | 'compensate'; after: number };
}

export const ROUNDS: readonly Round[] = [
  ...CHECKOUT_STEPS.map(([, step], index) => ({ name: `forward:${step}`, crash: { index, action: 'forward' as const, after: index === 3 ? 25 : 30 } })),
  { name: 'compensate:reserve', crash: { index: 0, action: 'compensate', after: 5 } },
];

export async function runSagaScenario(sagasPerRound: number): Promise<ScenarioResult> {
  const cluster = await startLocalPostgres();
  let db: Database | undefined;
  let world: Awaited<ReturnType<typeof startParticipants>> | undefined;
  try {
    db = await Database.connect({ url: cluster.url, logger: quietLogger, poolSize: 20 });
    world = await startParticipants(db, { slowAnswerRate: 0.03 });
    const rounds: { round: string; killed: boolean; recoveredIn: number }[] = [];
    for (const [i, round] of ROUNDS.entries()) {
      const id = `r${i}`;
      const base = { url: cluster.url, urls: world.urls, round: id };
      const crashed = await runWorker({ ...base, enqueue: sagasPerRound, crash: round.crash });
      const started = performance.now();
      const recovered = await runWorker({ ...base, enqueue: 0 });
      if (recovered.code !== 0) throw new Error(`round ${round.name}: the recovering orchestrator exited with ${recovered.code ?? recovered.signal}: ${recovered.stderr}`);
      rounds.push({ round: round.name, killed: crashed.signal === 'SIGKILL', recoveredIn: Math.round(performance.now() - started) });
    }
    const books = await checkBooks(db, sagasPerRound * ROUNDS.length);
    const sameKeyRetries = world.requests.total - world.requests.keys.size;
    const killed = rounds.filter((r) => r.killed).length;
    const pass = killed === ROUNDS.length && books.open === 0 && books.doubles === 0 && books.inconsistent.length === 0 && books.total === sagasPerRound * ROUNDS.length;
    return {
      scenario: `saga orchestrator SIGKILLed at each step in turn (${sagasPerRound} sagas each)`,
      bar: 'every saga ends committed or fully compensated; 0 double applications',
      measured: `${killed}/${ROUNDS.length} rounds killed mid-saga (${ROUNDS.map((r) => r.name).join(', ')}); ${books.total} sagas: ${books.committed} committed, ${books.compensated} compensated, ${books.open} open, ${books.inconsistent.length} half-done; ${books.doubles} double applications; ${sameKeyRetries} step calls repeated with the same key (timeouts, resumed sagas), none applied twice`,
      pass,
      details: { rounds, ...books, stepRequests: world.requests.total, distinctKeys: world.requests.keys.size, sameKeyRetries },
    };
  } finally {
    await world?.stop();
    await db?.close();
    await cluster.stop();
  }
}

function runWorker(args: object): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

/** Reads every participant's effects and the saga table, and reconciles them. */
async function checkBooks(db: Database, expected: number) {
  const sagas = (await db.read<{ id: string; state: string }>(`select id, state from brisk.sagas`, [], { primary: true })).rows;
  const effects = new Map<string, number>();
  let doubles = 0;
  for (const name of PARTICIPANTS) {
    const { rows } = await db.read<{ saga_id: string; step: string; action: string; n: number }>(`select saga_id, step, action, count(*)::int as n from ${name}.effects group by 1, 2, 3`, [], { primary: true });
    for (const row of rows) {
      effects.set(`${row.saga_id}:${row.step}:${row.action}`, row.n);
      if (row.n > 1) doubles++;
    }
  }
  const inconsistent: string[] = [];
  for (const saga of sagas) {
    const has = (step: string, action: string) => (effects.get(`${saga.id}:${step}:${action}`) ?? 0) > 0;
    if (saga.state === 'committed') {
      if (!CHECKOUT_STEPS.every(([, step]) => has(step, 'forward') && !has(step, 'compensate'))) inconsistent.push(`${saga.id} committed but not every step applied once`);
    } else if (saga.state === 'compensated') {
      for (const [, step] of CHECKOUT_STEPS) {
        if (has(step, 'forward') !== has(step, 'compensate') && step !== 'confirm') inconsistent.push(`${saga.id}: ${step} applied without its compensation (or the reverse)`);
        if (step === 'confirm' && has(step, 'forward')) inconsistent.push(`${saga.id}: confirmed, then compensated`);
      }
    }
  }
  const reserved = (await db.read<{ n: number }>(`select coalesce(sum(reserved), 0)::int as n from stock.items`, [], { primary: true })).rows[0]!.n;
  const committed = sagas.filter((s) => s.state === 'committed').length;
  if (reserved !== committed) inconsistent.push(`stock reserved ${reserved}, committed sagas ${committed}`);
  const { rows: outbox } = await db.read<{ n: number }>(`select count(*)::int as n from brisk.outbox`, [], { primary: true });
  return {
    total: sagas.length,
    expected,
    committed,
    compensated: sagas.filter((s) => s.state === 'compensated').length,
    open: sagas.filter((s) => s.state !== 'committed' && s.state !== 'compensated').length,
    doubles,
    inconsistent: inconsistent.slice(0, 10),
    outboxEvents: outbox[0]!.n,
  };
}
