/**
 * Idempotency keys of saga steps: `SAGA:STEP:ACTION`, where ACTION is `forward` or
 * `compensate`. The saga id may itself contain colons (it is split from the right); a
 * step name may not.
 */
export type StepAction = 'forward' | 'compensate';

export function stepKey(sagaId: string, step: string, action: StepAction): string {
  return `${sagaId}:${step}:${action}`;
}

export function parseStepKey(key: string): { sagaId: string; step: string; action: StepAction } | undefined {
  const last = key.lastIndexOf(':');
  const middle = last <= 0 ? -1 : key.lastIndexOf(':', last - 1);
  if (middle <= 0) return undefined;
  const action = key.slice(last + 1);
  if (action !== 'forward' && action !== 'compensate') return undefined;
  return { sagaId: key.slice(0, middle), step: key.slice(middle + 1, last), action };
}
