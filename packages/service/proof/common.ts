/** What every proof scenario shares: its result shape, an open-loop load generator, quiet logs. */
import { pino } from 'pino';

export interface ScenarioResult {
  scenario: string;
  bar: string;
  /** The measured figures, one line for the table. */
  measured: string;
  pass: boolean;
  details: Record<string, unknown>;
}

/** Logs of the toolkit during a proof: warnings and up, to stderr, only with PROOF_LOG=1. */
export const quietLogger = pino({ level: process.env['PROOF_LOG'] === '1' ? 'info' : 'silent' }, pino.destination(2));

/**
 * Starts `rate` operations per second (open loop: an operation is started on schedule
 * whether or not earlier ones have finished) until `stop()`. Returns when stopped, after
 * every started operation settled.
 */
export function openLoop(rate: number, op: (n: number) => Promise<void>): { stop: () => Promise<void>; started: () => number } {
  let n = 0;
  const pending = new Set<Promise<void>>();
  const begin = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - begin) / 1000) * rate);
    while (n < due) {
      const p = op(n++).catch(() => {});
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  }, 5);
  return {
    started: () => n,
    stop: async () => {
      clearInterval(timer);
      await Promise.allSettled([...pending]);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${((100 * part) / whole).toFixed(1)}%`;
}
