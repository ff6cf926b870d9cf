/**
 * Timeouts of the lean transport's connections without a timer per request: a connection
 * notes a deadline and one sweep, four times a second, fails those past theirs (undici's
 * "fast timers" do the same at half a second). A timeout of a second or less gets a native
 * timer of its own, as in undici, because the sweep's quarter second would be too coarse.
 */

/** What the sweep looks at. */
export interface Timed {
  /** `performance.now()` when the timeout fires; 0: none. */
  deadline: number;
  onDeadline(): void;
}

const SWEEP_MS = 250;
const SHORT_MS = 1000;
const armed = new Set<Timed>();
let sweeper: NodeJS.Timeout | null = null;

function sweep(): void {
  const now = performance.now();
  for (const t of armed) {
    if (t.deadline === 0) armed.delete(t);
    else if (t.deadline <= now) {
      armed.delete(t);
      t.deadline = 0;
      t.onDeadline();
    }
  }
  if (armed.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** A timeout of `ms` (0: none) for `t`; returns a native timer to clear for a short one, else null. */
export function arm(t: Timed, ms: number): NodeJS.Timeout | null {
  if (ms <= 0) {
    t.deadline = 0;
    return null;
  }
  if (ms <= SHORT_MS) {
    t.deadline = 0;
    return setTimeout(() => t.onDeadline(), ms);
  }
  t.deadline = performance.now() + ms;
  armed.add(t);
  if (sweeper === null) {
    sweeper = setInterval(sweep, SWEEP_MS);
    // The sockets that wait keep the process alive; the sweep itself must not.
    sweeper.unref();
  }
  return null;
}
