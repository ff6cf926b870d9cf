/**
 * What `hedge: auto` waits for: twice the recent p99 time to a response head of the
 * upstream's answers — but never more than that of its *typical* target, the lower median
 * of the targets' own p99s.
 *
 * Why per target: the answers of a target that turned slow are part of the upstream's
 * latency as soon as one of them beats its hedge. Once they are more than 1% of the
 * answers (a balancer still probing it, other targets slowed for a moment by a busy
 * machine), the upstream-wide p99 is that target's latency, twice it is more than its
 * latency, so its answers always come before a hedge would be sent: it is never hedged
 * around again, never reported, never ejected — the slow target locks hedging out. Seen in
 * the chaos run (docs/chaos.md): a target 500 ms slow answered 2,041 requests in 25 s
 * while the upstream's p95 stood at 481 ms. A target's own answers only lift its own p99;
 * the median of the targets' p99s stays that of the healthy ones, and an upstream that is
 * slow everywhere (a slow endpoint, every target) still has a high median, so it is still
 * not hedged. The smaller of the two is taken: the median only ever brings a hedge
 * forward, where the upstream-wide p99 was lifted by one target; otherwise (a per-target
 * p99 rests on a third of the samples, so it is the noisier estimate) nothing changes.
 */
import { LatencyTracker } from '../latency.js';
import type { Target } from '../target.js';
import type { Upstream } from '../upstream.js';

/** A target's p99 counts once it rests on this many (decayed) samples. */
const MIN_SAMPLES = 20;
/** The result is reused this long (it is asked for on every idempotent request). */
const CACHE_MS = 250;

/** Per target, kept with the target (targets outlive config versions; so do these). */
const headLatency = new WeakMap<Target, LatencyTracker>();
const cache = new WeakMap<Pick<Upstream, 'targets'>, { at: number; ms: number }>();

/** Records one try's time to its response head for its target. */
export function recordTargetHeadLatency(target: Target, ms: number): void {
  let tracker = headLatency.get(target);
  if (tracker === undefined) headLatency.set(target, (tracker = new LatencyTracker()));
  tracker.record(ms);
}

/**
 * The p99 `hedge: auto` doubles: the upstream-wide p99, or the lower median of the p99s of
 * the targets with enough samples (at least two) when that is smaller (0 while nothing
 * has been measured: no automatic hedge yet).
 */
export function autoHedgeBaseMs(upstream: Pick<Upstream, 'targets' | 'latency'>, now = Date.now()): number {
  const hit = cache.get(upstream);
  if (hit !== undefined && now - hit.at < CACHE_MS) return hit.ms;
  const p99s: number[] = [];
  for (const t of upstream.targets) {
    const tracker = headLatency.get(t);
    if (tracker !== undefined && tracker.samples >= MIN_SAMPLES) p99s.push(tracker.p99());
  }
  let ms = upstream.latency.p99();
  if (p99s.length >= 2) {
    p99s.sort((a, b) => a - b);
    ms = Math.min(ms, p99s[(p99s.length - 1) >> 1]!);
  }
  // Nothing measured is not kept: the first estimate is used as soon as there is one.
  if (ms > 0) cache.set(upstream, { at: now, ms });
  return ms;
}
