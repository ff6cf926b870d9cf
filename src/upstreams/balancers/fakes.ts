// Test support for the balancer tests (not itself a test file).
import { Target } from '../target.js';
import type { Balancer, PickContext } from './index.js';

/**
 * A pool that throws on any use: balancers must decide from the target's own fields and
 * never touch its pool (nor call `toJSON`, which reads `pool.stats`).
 */
const untouchablePool = new Proxy(
  {},
  {
    get(_target, property) {
      throw new Error(`a balancer touched target.pool.${String(property)}`);
    },
  },
);

/** Targets `http://127.0.0.1:7000+i` with the given weights, all available. */
export function makeTargets(weights: readonly number[], upstream = 'u', firstPort = 7000): Target[] {
  return weights.map((weight, i) => {
    const t = new Target(upstream, { origin: `http://127.0.0.1:${firstPort + i}`, basePath: '', weight }, untouchablePool as never);
    // Long available: slow start is over unless a test says otherwise.
    t.availableSince = 0;
    return t;
  });
}

/** A pick context with nothing excluded, no panic, no key, `now` = 1e12 (a fixed instant). */
export function makeCtx(overrides: Partial<PickContext> = {}): PickContext {
  return { exclude: null, panic: false, hashKey: null, now: 1e12, ...overrides };
}

/**
 * Runs `picks` picks with `concurrency` requests in flight: each pick raises the target's
 * `inFlight`, and once more than `concurrency` are outstanding the oldest finishes (FIFO,
 * i.e. equal service times). Returns how many picks each target got (by index).
 */
export function simulate(balancer: Balancer, targets: readonly Target[], ctx: PickContext, picks: number, concurrency: number): number[] {
  const counts = new Array<number>(targets.length).fill(0);
  const index = new Map(targets.map((t, i) => [t, i]));
  const queue: Target[] = [];
  let head = 0;
  for (let p = 0; p < picks; p++) {
    const t = balancer.pick(ctx);
    if (t === null) throw new Error('no target picked');
    counts[index.get(t)!]!++;
    if (concurrency > 0) {
      t.inFlight++;
      queue.push(t);
      if (queue.length - head > concurrency) queue[head++]!.inFlight--;
    }
  }
  for (let i = head; i < queue.length; i++) queue[i]!.inFlight--;
  return counts;
}

/** Shares (0..1) from counts. */
export function shares(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => c / total);
}

/** Asserts each share is within `relative` (e.g. 0.03 = ±3%) of the share its weight gives. */
export function assertShares(counts: readonly number[], weights: readonly number[], relative: number, label: string): void {
  const got = shares(counts);
  const sum = weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < weights.length; i++) {
    const want = weights[i]! / sum;
    if (Math.abs(got[i]! - want) > want * relative) {
      throw new Error(`${label}: target ${i} got ${(got[i]! * 100).toFixed(2)}%, want ${(want * 100).toFixed(2)}% ±${relative * 100}% (shares ${got.map((s) => (s * 100).toFixed(2)).join(' / ')})`);
    }
  }
}
