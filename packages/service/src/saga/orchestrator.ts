/**
 * The saga orchestrator: its state lives in PostgreSQL (table `sagas`), so any instance
 * can resume a saga another one was running when it crashed. See docs/sagas.md.
 *
 * One saga at a time per lease: an orchestrator claims a saga by setting `lease_owner`
 * and `lease_until` (claims of several orchestrators skip each other's rows with
 * `FOR UPDATE SKIP LOCKED`), renews the leases of the sagas it runs, and writes every
 * state change with `WHERE lease_owner = me`: an orchestrator that paused past its lease
 * finds its write refused and stops (fencing), so two never drive one saga.
 *
 * A step is recorded as done only after the participant answered; a crash in between
 * makes the next owner call the step again with the same key, which the participant
 * answers from its record (participant.ts) without applying it twice.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { runWithContext, traceFromHeaders, type RequestContext } from '../context.js';
import type { Database, Tx } from '../db/database.js';
import { isServiceError, ServiceError } from '../errors.js';
import { counter, defaultLogger, gauge, Registry, sleep, type Logger } from '../observability.js';
import { checkDefinition, StepFailed, type CheckedDefinition, type SagaDefinition, type StepContext } from './definition.js';
import { stepKey, type StepAction } from './keys.js';
import { orchestratorTables, schemaName } from './sql.js';

export type SagaState = 'pending' | 'running' | 'compensating' | 'committed' | 'compensated';
export const SAGA_STATES: readonly SagaState[] = ['pending', 'running', 'compensating', 'committed', 'compensated'];

export type SagaRecord = {
  id: string;
  definition: string;
  state: SagaState;
  step: number;
  step_status: 'todo' | 'unknown';
  attempts: number;
  input: unknown;
  results: Record<string, unknown>;
  error: string | null;
};

export interface OrchestratorOptions {
  db: Database;
  definitions: SagaDefinition<unknown>[];
  /** Schema of the `sagas` and `outbox` tables (default `brisk`). */
  schema?: string;
  /** This orchestrator's name in `lease_owner` (default host:pid:random). */
  owner?: string;
  /** Lease length; renewed every third of it (default 5000). */
  leaseMs?: number;
  /** Sagas run at once by this orchestrator (default 16). */
  concurrency?: number;
  /** How often the recovery loop looks for sagas to resume (default 1000). */
  pollMs?: number;
  /** Called after a participant answered and before the answer is recorded (tracing, fault injection). */
  afterCall?: (info: { sagaId: string; step: string; index: number; action: StepAction }) => void;
  logger?: Logger;
  registry?: Registry;
}

const ROW = 'id, definition, state, step, step_status, attempts, input, results, error';

/** A scrape waits at most a second for the counts (not the database's retry budget). */
const SCRAPE_CONTEXT = (): RequestContext => ({ requestId: 'metrics-scrape', deadline: Date.now() + 1000, trace: traceFromHeaders(undefined, undefined), signal: new AbortController().signal });

export class SagaOrchestrator {
  readonly owner: string;
  readonly #db: Database;
  readonly #schema: string;
  readonly #definitions = new Map<string, CheckedDefinition<unknown>>();
  readonly #leaseMs: number;
  readonly #concurrency: number;
  readonly #pollMs: number;
  readonly #log: Logger;
  readonly #afterCall: OrchestratorOptions['afterCall'];
  readonly #active = new Map<string, Promise<void>>();
  readonly #steps;
  #stopping = new AbortController();
  #recovery: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: OrchestratorOptions) {
    this.#db = options.db;
    this.#schema = schemaName(options.schema ?? 'brisk');
    for (const definition of options.definitions) this.#definitions.set(definition.name, checkDefinition(definition));
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#leaseMs = options.leaseMs ?? 5000;
    this.#concurrency = options.concurrency ?? 16;
    this.#pollMs = options.pollMs ?? 1000;
    this.#afterCall = options.afterCall;
    this.#log = options.logger?.child({ orchestrator: this.owner }) ?? defaultLogger('saga');
    const registry = options.registry ?? new Registry();
    this.#steps = counter(registry, { name: 'brisk_svc_saga_steps_total', help: 'Saga step calls by definition, step, action and outcome (ok, failed, unknown)', labelNames: ['saga', 'step', 'action', 'outcome'] });
    const db = this.#db;
    const schema = this.#schema;
    if (registry.getSingleMetric('brisk_svc_sagas') === undefined) {
      gauge(registry, {
        name: 'brisk_svc_sagas',
        help: 'Sagas by definition and state (read from the sagas table at each scrape)',
        labelNames: ['saga', 'state'],
        async collect() {
          // A scrape during a database outage keeps the last counts rather than failing /metrics.
          const rows = await runWithContext(SCRAPE_CONTEXT(), () => db.read<{ definition: string; state: string; n: number }>(`select definition, state, count(*)::int as n from ${schema}.sagas group by 1, 2`, [], { primary: true })).then(
            (r) => r.rows,
            () => undefined,
          );
          if (rows === undefined) return;
          this.reset();
          for (const row of rows) this.set({ saga: row.definition, state: row.state }, row.n);
        },
      });
    }
  }

  /** Creates the tables. */
  async init(): Promise<void> {
    await this.#db.migrate(orchestratorTables(this.#schema));
  }

  /**
   * Starts a saga and runs it here. With an `id` already used (a client's retry), nothing
   * new starts: the existing saga's record is returned once it has finished, or at once if
   * another orchestrator holds it.
   */
  async run<I>(definition: string, input: I, options: { id?: string } = {}): Promise<SagaRecord> {
    if (!this.#definitions.has(definition)) throw new ServiceError('BRISK_SVC_SAGA_NOT_FOUND', `no saga definition named "${definition}" (known: ${[...this.#definitions.keys()].join(', ')})`);
    const id = options.id ?? randomUUID();
    const { rows } = await this.#db.write<{ id: string }>(
      `insert into ${this.#schema}.sagas (id, definition, state, input, lease_owner, lease_until)
       values ($1, $2, 'pending', $3::jsonb, $4, now() + $5 * interval '1 millisecond') on conflict (id) do nothing returning id`,
      [id, definition, JSON.stringify(input ?? null), this.owner, this.#leaseMs],
      { idempotent: true },
    );
    if (rows.length > 0) await this.#drive(id);
    return this.get(id);
  }

  /** Creates a saga without running it (a recovery loop will pick it up). */
  async enqueue<I>(definition: string, input: I, options: { id?: string } = {}): Promise<string> {
    const id = options.id ?? randomUUID();
    await this.#db.write(`insert into ${this.#schema}.sagas (id, definition, state, input) values ($1, $2, 'pending', $3::jsonb) on conflict (id) do nothing`, [id, definition, JSON.stringify(input ?? null)], { idempotent: true });
    return id;
  }

  async get(id: string): Promise<SagaRecord> {
    const { rows } = await this.#db.read<SagaRecord>(`select ${ROW} from ${this.#schema}.sagas where id = $1`, [id], { primary: true });
    if (rows[0] === undefined) throw new ServiceError('BRISK_SVC_SAGA_NOT_FOUND', `no saga with id "${id}"`);
    return rows[0];
  }

  /** Counts by state (all definitions). */
  async counts(): Promise<Record<SagaState, number>> {
    const { rows } = await this.#db.read<{ state: SagaState; n: number }>(`select state, count(*)::int as n from ${this.#schema}.sagas group by 1`, [], { primary: true });
    const counts = Object.fromEntries(SAGA_STATES.map((s) => [s, 0])) as Record<SagaState, number>;
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  /** Starts the recovery loop: resumes sagas whose lease expired (their orchestrator died). */
  startRecovery(): void {
    if (this.#recovery !== undefined) return;
    const signal = this.#stopping.signal;
    this.#startHeartbeat();
    this.#recovery = (async () => {
      while (!signal.aborted) {
        try {
          const claimed = await this.#claim(this.#concurrency - this.#active.size);
          for (const id of claimed) void this.#drive(id, true);
        } catch (error) {
          this.#log.warn({ err: error instanceof Error ? error.message : String(error) }, 'saga: recovery could not claim sagas; retrying');
        }
        await sleep(this.#pollMs, signal);
      }
    })();
  }

  /** Stops the recovery loop and waits for the sagas running here to reach a resting point. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#recovery;
    await Promise.allSettled([...this.#active.values()]);
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#recovery = undefined;
    this.#stopping = new AbortController();
  }

  // -------------------------------------------------------------------------------------

  async #claim(limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const { rows } = await this.#db.write<{ id: string }>(
      `update ${this.#schema}.sagas set lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond', updated_at = now()
       where id in (select id from ${this.#schema}.sagas
                    where state in ('pending', 'running', 'compensating') and (lease_until is null or lease_until < now())
                    order by created_at limit $3 for update skip locked)
       returning id`,
      [this.owner, this.#leaseMs, limit],
    );
    if (rows.length > 0) this.#log.info({ sagas: rows.length }, 'saga: resuming sagas whose orchestrator stopped');
    return rows.map((r) => r.id);
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(() => {
      const ids = [...this.#active.keys()];
      if (ids.length === 0) return;
      this.#db
        .write(`update ${this.#schema}.sagas set lease_until = now() + $2 * interval '1 millisecond' where lease_owner = $1 and id = any($3::text[])`, [this.owner, this.#leaseMs, ids], { idempotent: true })
        .catch((error: unknown) => this.#log.warn({ err: error instanceof Error ? error.message : String(error) }, 'saga: lease renewal failed'));
    }, Math.max(50, Math.floor(this.#leaseMs / 3)));
    this.#heartbeat.unref();
  }

  #drive(id: string, recovered = false): Promise<void> {
    const running = this.#active.get(id);
    if (running !== undefined) return running;
    this.#startHeartbeat();
    const work = this.#execute(id)
      .catch((error: unknown) => {
        if (isServiceError(error, 'BRISK_SVC_SAGA_LEASE_LOST')) this.#log.warn({ saga: id, err: error.message }, 'saga: lease lost; another orchestrator goes on with it');
        else this.#log.error({ saga: id, recovered, err: error instanceof Error ? error.message : String(error) }, 'saga: stopped on an error; the recovery loop resumes it after its lease');
      })
      .finally(() => this.#active.delete(id));
    this.#active.set(id, work);
    return work;
  }

  /** Runs a saga this orchestrator holds the lease of, until it is committed or compensated. */
  async #execute(id: string): Promise<void> {
    let saga = await this.get(id);
    const definition = this.#definitions.get(saga.definition);
    if (definition === undefined) throw new ServiceError('BRISK_SVC_SAGA_NOT_FOUND', `saga "${id}" uses the definition "${saga.definition}", unknown to this orchestrator`);
    const steps = definition.steps;
    while (!this.#stopping.signal.aborted) {
      if (saga.state === 'committed' || saga.state === 'compensated') return;
      if (saga.state === 'pending') {
        saga = await this.#update(saga, { state: 'running' });
        continue;
      }
      if (saga.state === 'running') {
        if (saga.step >= steps.length) {
          saga = await this.#finish(saga, 'committed', definition.name);
          continue;
        }
        const step = steps[saga.step]!;
        const attempt = saga.attempts + 1;
        try {
          const result = await this.#call(saga, step.name, 'forward', attempt, step.timeoutMs ?? 5000, (ctx) => step.forward(ctx));
          this.#afterCall?.({ sagaId: id, step: step.name, index: saga.step, action: 'forward' });
          saga = await this.#update(saga, { step: saga.step + 1, step_status: 'todo', attempts: 0, results: { ...saga.results, [step.name]: result ?? null } });
          continue;
        } catch (error) {
          const definite = error instanceof StepFailed || isServiceError(error, 'BRISK_SVC_SAGA_STEP_REFUSED');
          const reason = `step "${step.name}": ${error instanceof Error ? error.message : String(error)}`;
          if (saga.step > definition.pivotIndex) {
            // Past the pivot: forward only. Retry (same key) until it goes through.
            this.#log.warn({ saga: id, step: step.name, attempt }, 'saga: a step after the pivot failed; retrying (forward recovery)');
            saga = await this.#update(saga, { attempts: attempt, step_status: 'unknown', error: reason });
            await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)), this.#stopping.signal);
          } else if (definite) {
            saga = await this.#update(saga, { state: 'compensating', step: saga.step - 1, attempts: 0, step_status: 'todo', error: reason });
          } else if (attempt <= (step.retries ?? 3)) {
            saga = await this.#update(saga, { attempts: attempt, step_status: 'unknown', error: reason });
            await sleep(Math.min(2000, 50 * 2 ** attempt), this.#stopping.signal);
          } else {
            // Still unknown: compensate this step too (its compensation also refuses a late forward).
            saga = await this.#update(saga, { state: 'compensating', attempts: 0, step_status: 'todo', error: `${reason} (outcome unknown after ${attempt} attempts)` });
          }
          continue;
        }
      }
      // compensating: undo from saga.step down to the first step.
      if (saga.step < 0) {
        saga = await this.#finish(saga, 'compensated', definition.name);
        continue;
      }
      const step = steps[saga.step]!;
      const attempt = saga.attempts + 1;
      try {
        await this.#call(saga, step.name, 'compensate', attempt, step.timeoutMs ?? 5000, (ctx) => step.compensate!(ctx));
        this.#afterCall?.({ sagaId: id, step: step.name, index: saga.step, action: 'compensate' });
        saga = await this.#update(saga, { step: saga.step - 1, attempts: 0, step_status: 'todo' });
      } catch {
        // A compensation must go through in the end: retry with backoff, forever.
        if (attempt % 10 === 0) this.#log.error({ saga: id, step: step.name, attempt }, 'saga: a compensation keeps failing');
        saga = await this.#update(saga, { attempts: attempt, step_status: 'unknown' });
        await sleep(Math.min(5000, 50 * 2 ** Math.min(attempt, 7)), this.#stopping.signal);
      }
    }
  }

  async #call(saga: SagaRecord, step: string, action: StepAction, attempt: number, timeoutMs: number, fn: (context: StepContext<unknown>) => Promise<unknown>): Promise<unknown> {
    const controller = new AbortController();
    const context: StepContext<unknown> = { sagaId: saga.id, step, action, key: stepKey(saga.id, step, action), input: saga.input, results: saga.results, signal: controller.signal, attempt };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no answer within ${timeoutMs} ms (outcome unknown)`));
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([fn(context), timeout]);
      this.#steps.inc({ saga: saga.definition, step, action, outcome: 'ok' });
      return result;
    } catch (error) {
      this.#steps.inc({ saga: saga.definition, step, action, outcome: error instanceof StepFailed || isServiceError(error, 'BRISK_SVC_SAGA_STEP_REFUSED') ? 'failed' : 'unknown' });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes a state change if this orchestrator still holds the lease (fencing). */
  async #update(saga: SagaRecord, change: Partial<Pick<SagaRecord, 'state' | 'step' | 'step_status' | 'attempts' | 'results' | 'error'>>, tx?: Tx): Promise<SagaRecord> {
    const next = { ...saga, ...change };
    const sql = `update ${this.#schema}.sagas set state = $3, step = $4, step_status = $5, attempts = $6, results = $7::jsonb, error = $8,
                 lease_until = now() + $9 * interval '1 millisecond', updated_at = now()
                 where id = $1 and lease_owner = $2 returning ${ROW}`;
    const params = [saga.id, this.owner, next.state, next.step, next.step_status, next.attempts, JSON.stringify(next.results), next.error, this.#leaseMs];
    const rows = tx === undefined ? (await this.#db.write<SagaRecord>(sql, params, { idempotent: true })).rows : (await tx.query<SagaRecord>(sql, params)).rows;
    if (rows[0] === undefined) throw new ServiceError('BRISK_SVC_SAGA_LEASE_LOST', `saga "${saga.id}": the lease of ${this.owner} expired and another orchestrator took it`);
    return rows[0];
  }

  /** The final state and its outbox event, in one transaction. */
  async #finish(saga: SagaRecord, state: 'committed' | 'compensated', definition: string): Promise<SagaRecord> {
    const { value } = await this.#db.transaction(
      async (tx) => {
        const done = await this.#update(saga, { state }, tx);
        await tx.query(`insert into ${this.#schema}.outbox (topic, key, payload) values ($1, $2, $3::jsonb)`, [`saga.${state}`, saga.id, JSON.stringify({ saga: saga.id, definition, state, results: done.results, error: done.error })]);
        await tx.query(`update ${this.#schema}.sagas set lease_owner = null, lease_until = null where id = $1`, [saga.id]);
        return done;
      },
      { idempotent: false },
    );
    this.#log.info({ saga: saga.id, definition, state }, `saga: ${state}`);
    return value;
  }
}
