// The bars each Brisk case is held to, scenario by scenario, and checking one run against
// them. The tuned case (`brisk`) is held to what its failover settings promise; the
// target-only case (`brisk-defaults`) to issue 11's bar: what a config that names only
// targets must already keep.
import { FAILOVER } from './proxies.mjs';

/** Back in rotation (tuned case): one health interval plus slow start. */
export const BACK_BAR_MS = FAILOVER.healthIntervalMs + FAILOVER.slowStartMs;

/**
 * A bar set: per scenario id, the checks of that scenario —
 *   errors: most client-visible errors;  maxBelowMs: the slowest answer is faster than this;
 *   p99VsBaseline: p99 at most this many times the case's own p99 in scenario 0;
 *   ejectedWithinMs, backWithinMs: ejection and return bounds;  duplicatePosts: most POSTs
 *   received twice.
 * `summary` is the one-line form for headers and docs.
 */
export const BARS = {
  brisk: {
    summary: `no client-visible error in scenarios 1–4; p99 in scenario 5 ≤ 1.5× the baseline p99; ejected within 1 s (2 s when frozen); back in rotation within ${BACK_BAR_MS / 1000} s (health interval + slow start); no POST received twice`,
    scenarios: {
      1: { errors: 0, ejectedWithinMs: 1000, backWithinMs: BACK_BAR_MS },
      2: { errors: 0, ejectedWithinMs: 2000, backWithinMs: BACK_BAR_MS },
      3: { errors: 0, ejectedWithinMs: 1000, backWithinMs: BACK_BAR_MS },
      4: { errors: 0, ejectedWithinMs: 1000, backWithinMs: BACK_BAR_MS },
      5: { p99VsBaseline: 1.5 },
      6: { duplicatePosts: 0 },
    },
  },
  'brisk-defaults': {
    summary: 'no client-visible error in scenarios 1–5; slowest answer in the freeze under 1 s; p99 in scenario 5 ≤ 1.5× the baseline p99; no POST received twice',
    scenarios: {
      1: { errors: 0 },
      2: { errors: 0, maxBelowMs: 1000 },
      3: { errors: 0 },
      4: { errors: 0 },
      5: { errors: 0, p99VsBaseline: 1.5 },
      6: { duplicatePosts: 0 },
    },
  },
};

/** The cases that have bars, in the order given. */
export const hasBars = (id) => Object.hasOwn(BARS, id);

const fmtS = (ms) => (ms === Infinity ? 'never' : `${(ms / 1000).toFixed(2)} s`);
const fmtMs = (ms) => (!Number.isFinite(ms) ? '–' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

/**
 * The checks of one case's run in one scenario: [{ metric, bar (text), limit, value,
 * verdict: 'PASS' | 'FAIL' | 'n/a' }]. `metric` names the figure of the result checked
 * (errors, p99, max, ejectedAfterMs, backAfterMs, duplicates); `limit` is the number it is
 * held to (null when it cannot be computed: no baseline).
 */
export function checksFor(caseId, scenarioId, r, baseline) {
  const bars = BARS[caseId]?.scenarios[scenarioId];
  if (bars === undefined || r === undefined || r.failed) return [];
  const out = [];
  const add = (metric, bar, limit, value, pass) => out.push({ metric, bar, limit, value, verdict: pass === null ? 'n/a' : pass ? 'PASS' : 'FAIL' });
  if (bars.errors !== undefined) add('errors', String(bars.errors), bars.errors, r.errors, r.errors <= bars.errors);
  if (bars.maxBelowMs !== undefined) add('max', `max < ${bars.maxBelowMs / 1000} s`, bars.maxBelowMs, r.max, r.max < bars.maxBelowMs);
  if (bars.p99VsBaseline !== undefined) {
    if (!baseline || baseline.failed) add('p99', `p99 ≤ ${bars.p99VsBaseline}× baseline`, null, r.p99, null);
    else {
      const limit = bars.p99VsBaseline * baseline.p99;
      add('p99', `p99 ≤ ${fmtMs(limit)} (${bars.p99VsBaseline}× ${fmtMs(baseline.p99)})`, limit, r.p99, r.p99 <= limit);
    }
  }
  if (bars.ejectedWithinMs !== undefined) add('ejectedAfterMs', `≤ ${fmtS(bars.ejectedWithinMs)}`, bars.ejectedWithinMs, r.ejectedAfterMs, r.ejectedAfterMs <= bars.ejectedWithinMs);
  if (bars.backWithinMs !== undefined) add('backAfterMs', `≤ ${fmtS(bars.backWithinMs)}`, bars.backWithinMs, r.backAfterMs, r.backAfterMs <= bars.backWithinMs);
  if (bars.duplicatePosts !== undefined) add('duplicates', String(bars.duplicatePosts), bars.duplicatePosts, r.duplicates, r.duplicates <= bars.duplicatePosts);
  return out;
}

/**
 * Every Brisk case's verdicts over the scenarios run: Map caseId → [{ scenario, metric,
 * label, bar, limit, value, verdict }] (a case that failed to run in a scenario with bars
 * gets one FAIL for it). resultsByScenario: Map scenario id → Map case id → result.
 */
export function verdicts(scenarios, resultsByScenario, labelOf) {
  const out = new Map();
  const baselines = resultsByScenario.get(0) ?? new Map();
  for (const caseId of Object.keys(BARS)) {
    const list = [];
    for (const sc of scenarios) {
      const r = resultsByScenario.get(sc.id)?.get(caseId);
      if (r === undefined || BARS[caseId].scenarios[sc.id] === undefined) continue;
      if (r.failed) {
        list.push({ scenario: sc, metric: 'run', label: 'run', bar: 'runs', limit: null, value: r.failed, verdict: 'FAIL' });
        continue;
      }
      for (const c of checksFor(caseId, sc.id, r, baselines.get(caseId))) list.push({ scenario: sc, label: labelOf(c.metric), ...c });
    }
    if (list.length > 0) out.set(caseId, list);
  }
  return out;
}
