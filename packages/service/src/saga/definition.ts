/**
 * A saga's definition: its steps in order, each a forward action and (up to the pivot) a
 * compensation, and the pivot — the step after whose success the saga only goes forward
 * (Garcia-Molina's pivot transaction: e.g. the charge; after it, "confirm" and "ship"
 * are retried until they succeed, never undone).
 */
import { ServiceError } from '../errors.js';
import type { StepAction } from './keys.js';

/** What a step's function gets. */
export interface StepContext<I = unknown> {
  sagaId: string;
  step: string;
  action: StepAction;
  /** The idempotency key of this call, `SAGA:STEP:ACTION`: send it with the call. */
  key: string;
  input: I;
  /** Results of the forward steps done so far, by step name. */
  results: Readonly<Record<string, unknown>>;
  /** Aborted when the step's timeout passes: pass it to fetch. */
  signal: AbortSignal;
  /** Attempt number of this call with this key (1 = first). */
  attempt: number;
}

export interface SagaStep<I = unknown> {
  name: string;
  forward(context: StepContext<I>): Promise<unknown>;
  /** Required for every step up to and including the pivot. */
  compensate?(context: StepContext<I>): Promise<void>;
  /** A call that takes longer has an unknown outcome (default 5000). */
  timeoutMs?: number;
  /** Retries of an unknown outcome with the same key before compensating (default 3). */
  retries?: number;
}

export interface SagaDefinition<I = unknown> {
  name: string;
  steps: SagaStep<I>[];
  /** Name of the pivot step; default: the last step (everything can be compensated). */
  pivot?: string;
}

/**
 * A definite "no" from a participant (insufficient stock, card declined): the step was
 * not applied and will not be by retrying, so the saga compensates at once. Anything
 * else a step throws (timeout, connection error, 5xx) is an *unknown* outcome.
 */
export class StepFailed extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StepFailed';
  }
}

export interface CheckedDefinition<I = unknown> extends SagaDefinition<I> {
  pivotIndex: number;
}

/** Validates a definition; throws `BRISK_SVC_SAGA_DEFINITION_INVALID` naming the fault. */
export function checkDefinition<I>(definition: SagaDefinition<I>): CheckedDefinition<I> {
  const fail = (message: string) => new ServiceError('BRISK_SVC_SAGA_DEFINITION_INVALID', `saga "${definition.name}": ${message}`);
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(definition.name)) throw fail('the name must be 1-100 letters, digits, "_", "." or "-"');
  if (definition.steps.length === 0) throw fail('has no steps');
  const names = new Set<string>();
  for (const step of definition.steps) {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(step.name)) throw fail(`step name "${step.name}" must be 1-100 letters, digits, "_", "." or "-" (no ":": it is part of the idempotency key)`);
    if (names.has(step.name)) throw fail(`two steps are named "${step.name}"`);
    names.add(step.name);
  }
  const pivotIndex = definition.pivot === undefined ? definition.steps.length - 1 : definition.steps.findIndex((s) => s.name === definition.pivot);
  if (pivotIndex < 0) throw fail(`the pivot "${definition.pivot}" names no step (steps: ${[...names].join(', ')})`);
  for (const step of definition.steps.slice(0, pivotIndex + 1)) {
    if (step.compensate === undefined) throw fail(`step "${step.name}" comes before or is the pivot and has no compensate (only steps after the pivot may lack one)`);
  }
  return { ...definition, pivotIndex };
}
