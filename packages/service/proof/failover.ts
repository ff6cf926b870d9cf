/**
 * Scenarios 1 and 2 on one local cluster (a primary and a synchronous streaming replica):
 * read-your-writes under an artificial replica lag (`recovery_min_apply_delay`), then
 * the primary killed (`pg_ctl stop -m immediate`) and the replica promoted under
 * 200 writes/s + 800 reads/s.
 */
import { Database } from '../src/db/database.js';
import { startLocalPostgres, type LocalPostgresCluster } from '../src/local/postgres.js';
import { openLoop, percent, quietLogger, sleep, type ScenarioResult } from './common.js';

export interface FailoverTiming {
  /** Load before the kill (ms). */
  warmMs: number;
  /** Between the kill and the promotion (ms): detection by the operator / Patroni. */
  promoteAfterMs: number;
  /** Load after the promotion (ms). */
  afterMs: number;
  /** Write + read pairs in the read-your-writes scenario. */
  rywPairs: number;
}

export const FULL: FailoverTiming = { warmMs: 3000, promoteAfterMs: 1000, afterMs: 6000, rywPairs: 500 };
export const SHORT: FailoverTiming = { warmMs: 1500, promoteAfterMs: 1000, afterMs: 3000, rywPairs: 150 };

export async function runPostgresScenarios(timing: FailoverTiming): Promise<ScenarioResult[]> {
  const cluster = await startLocalPostgres({ replicas: 1, synchronous: true });
  let db: Database | undefined;
  try {
    db = await Database.connect({ url: cluster.url, logger: quietLogger, poolSize: 20 });
    await db.write('create table proof_rows (id text primary key, v integer not null)');
    await waitForReplica(db);
    const ryw = await readYourWrites(db, cluster, timing);
    const failover = await killAndPromote(db, cluster, timing);
    return [failover, ryw];
  } finally {
    await db?.close();
    await cluster.stop();
  }
}

async function waitForReplica(db: Database): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (db.status().hosts.filter((h) => h.role === 'replica' && h.reachable).length === 0) {
    if (Date.now() > deadline) throw new Error(`the replica never showed up: ${JSON.stringify(db.status())}`);
    await sleep(50);
  }
}

async function readYourWrites(db: Database, cluster: LocalPostgresCluster, timing: FailoverTiming): Promise<ScenarioResult> {
  const replicaPort = cluster.replicas[0]!.port;
  await cluster.replicas[0]!.configure({ recovery_min_apply_delay: "'200ms'" });
  await sleep(300);
  let staleWithToken = 0;
  let tokenOnReplica = 0;
  let staleWithout = 0;
  let withoutOnReplica = 0;
  let pairs = 0;
  const loops = 10;
  const tokens: { id: string; i: number; token: string }[] = [];
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      for (let i = loop; i < timing.rywPairs; i += loops) {
        const id = `ryw-${i}`;
        const { token } = await db.write('insert into proof_rows (id, v) values ($1, $2)', [id, i]);
        tokens.push({ id, i, token });
        const [withToken, without] = await Promise.all([
          db.read<{ v: number | null; port: number }>('select (select v from proof_rows where id = $1) as v, inet_server_port() as port', [id], { token }),
          db.read<{ v: number | null; port: number }>('select (select v from proof_rows where id = $1) as v, inet_server_port() as port', [id]),
        ]);
        pairs++;
        if (withToken.rows[0]?.v !== i) staleWithToken++;
        if (withToken.rows[0]?.port === replicaPort) tokenOnReplica++;
        if (without.rows[0]?.v !== i) staleWithout++;
        if (without.rows[0]?.port === replicaPort) withoutOnReplica++;
      }
    }),
  );
  // Once the replica has replayed past them (known from its probes), the same tokens are
  // served by the replica: the token narrows the choice, it does not pin reads to the primary.
  await sleep(800);
  let laterOnReplica = 0;
  let laterStale = 0;
  for (const { id, i, token } of tokens) {
    const { rows } = await db.read<{ v: number | null; port: number }>('select (select v from proof_rows where id = $1) as v, inet_server_port() as port', [id], { token });
    if (rows[0]?.v !== i) laterStale++;
    if (rows[0]?.port === replicaPort) laterOnReplica++;
  }
  staleWithToken += laterStale;
  await cluster.replicas[0]!.configure({ recovery_min_apply_delay: '0' });
  const pass = staleWithToken === 0 && withoutOnReplica === pairs;
  return {
    scenario: 'read-your-writes under 200 ms artificial replica lag',
    bar: '0 stale reads with a token; reads without a token still go to the replica',
    measured: `${pairs} write→read pairs: ${staleWithToken} stale with a token (right after the write ${tokenOnReplica} served by the replica, the rest by the primary; the same tokens 0.8 s later: ${laterOnReplica}/${pairs} served by the replica); without a token ${withoutOnReplica}/${pairs} served by the replica, ${staleWithout} of those stale (${percent(staleWithout, pairs)}: the lag is real)`,
    pass,
    details: { pairs, staleWithToken, tokenOnReplica, later: { onReplica: laterOnReplica, stale: laterStale }, withoutToken: { onReplica: withoutOnReplica, stale: staleWithout } },
  };
}

async function killAndPromote(db: Database, cluster: LocalPostgresCluster, timing: FailoverTiming): Promise<ScenarioResult> {
  const replicaPort = cluster.replicas[0]!.port;
  const acked: string[] = [];
  const writeErrors: string[] = [];
  let readErrors = 0;
  let reads = 0;
  const readsByPort = new Map<number, number>();
  const ackTimes: number[] = [];
  let maxWriteMs = 0;
  const writes = openLoop(200, async (n) => {
    const id = `w-${n}`;
    const started = performance.now();
    try {
      await db.write('insert into proof_rows (id, v) values ($1, $2) on conflict (id) do nothing', [id, n], { idempotent: true });
      acked.push(id);
      ackTimes.push(performance.now());
      maxWriteMs = Math.max(maxWriteMs, performance.now() - started);
    } catch (error) {
      writeErrors.push(error instanceof Error ? error.message : String(error));
    }
  });
  const readLoad = openLoop(800, async (n) => {
    try {
      const { rows } = await db.read<{ port: number }>('select inet_server_port() as port, count(*) from proof_rows where id = $1', [`w-${Math.max(0, Math.floor(n / 4) - 50)}`]);
      const port = rows[0]!.port;
      readsByPort.set(port, (readsByPort.get(port) ?? 0) + 1);
      reads++;
    } catch {
      readErrors++;
    }
  });
  await sleep(timing.warmMs);
  await cluster.primary.kill();
  // After pg_ctl returned: writes acknowledged while it ran were still the old primary's.
  const killedAt = performance.now();
  await sleep(timing.promoteAfterMs);
  // Measured from the moment the promotion is asked for (stricter than from its end).
  const promotedAt = performance.now();
  await cluster.replicas[0]!.promote();
  const promoteMs = performance.now() - promotedAt;
  await sleep(timing.afterMs);
  await Promise.all([writes.stop(), readLoad.stop()]);

  const firstAckAfterKill = ackTimes.find((t) => t > killedAt);
  const resumeMs = firstAckAfterKill === undefined ? Infinity : firstAckAfterKill - promotedAt;
  const present = await db.read<{ n: number }>('select count(*)::int as n from proof_rows where id = any($1::text[])', [acked], { primary: true });
  const lost = acked.length - present.rows[0]!.n;
  const onReplica = readsByPort.get(replicaPort) ?? 0;
  const pass = resumeMs <= 5000 && lost === 0 && readErrors === 0 && onReplica === reads;
  return {
    scenario: '200 writes/s + 800 reads/s; primary killed (-m immediate), replica promoted',
    bar: 'writes resume within 5 s of the promotion; no acknowledged write lost; reads never fail (served by the replica throughout)',
    measured: `writes resumed ${resumeMs.toFixed(0)} ms after the promotion began (pg_ctl promote took ${promoteMs.toFixed(0)} ms; ${((firstAckAfterKill ?? NaN) - killedAt).toFixed(0)} ms after the kill); ${acked.length} writes acknowledged, ${lost} lost, ${writeErrors.length} failed; ${reads} reads, ${readErrors} failed, ${onReplica} served by the replica`,
    pass,
    details: { resumeAfterPromotionMs: Math.round(resumeMs), promoteMs: Math.round(promoteMs), outageMs: Math.round((firstAckAfterKill ?? NaN) - killedAt), acknowledged: acked.length, lost, writeErrors: writeErrors.length, firstWriteErrors: writeErrors.slice(0, 3), slowestWriteMs: Math.round(maxWriteMs), reads, readErrors, readsOnReplica: onReplica, status: db.status() },
  };
}
