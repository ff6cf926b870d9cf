// Reading the game day's records: what the clients saw in each fault's window, how long the
// shop took to recover, and the tables (one per run, then both runs side by side).
import { ENDPOINTS } from './traffic.mjs';

function p99(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))]);
}

/**
 * What the clients saw for the visits sent in [from, to): requests and errors by endpoint,
 * p99 (of every request, an error counted with the time it took, a timeout with the
 * client's timeout), checkouts started and confirmed.
 */
export function summarize(traffic, from, to) {
  const rows = traffic.requests.filter((r) => r.t >= from && r.t < to);
  const endpoints = {};
  for (const kind of ENDPOINTS) {
    const of = rows.filter((r) => r.kind === kind);
    endpoints[kind] = { requests: of.length, errors: of.filter((r) => !r.ok).length, p99Ms: p99(of.map((r) => r.ms)) };
  }
  const errorKinds = {};
  for (const r of rows) {
    if (r.ok) continue;
    const k = `${r.kind} ${r.error ?? r.status}`;
    errorKinds[k] = (errorKinds[k] ?? 0) + 1;
  }
  const checkouts = traffic.checkouts.filter((c) => c.t >= from && c.t < to);
  const outcomes = {};
  for (const c of checkouts) outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
  const confirmed = outcomes['confirmed'] ?? 0;
  return {
    requests: rows.length,
    errors: rows.filter((r) => !r.ok).length,
    errorKinds,
    endpoints,
    checkouts: { started: checkouts.length, confirmed, outcomes, successRate: checkouts.length === 0 ? null : confirmed / checkouts.length },
  };
}

/**
 * Time to recover: when the clients stopped seeing errors, counted from the injection — the
 * end of the last second (by send time) with an error in the window (null when there was
 * none at all). `afterFaultMs` counts it from the end of the fault instead (0 when the
 * errors stopped while the fault lasted: Brisk routed around it). `recovered` is false when
 * errors went on into the last `tailMs` of the window: not recovered when the next fault came.
 */
export function recovery(traffic, window, tailMs = 3000) {
  // An error whose answer (or timeout) came after the next fault began is left to that fault.
  const errors = traffic.requests.filter((r) => !r.ok && r.t >= window.start && r.t + r.ms < window.end);
  if (errors.length === 0) return { recoveryMs: null, afterFaultMs: null, recovered: true };
  const last = Math.max(...errors.map((r) => r.t));
  const lastSecondEnd = window.start + Math.ceil((last - window.start + 1) / 1000) * 1000;
  return { recoveryMs: Math.round(lastSecondEnd - window.start), afterFaultMs: Math.max(0, Math.round(lastSecondEnd - window.faultEnd)), recovered: last < window.end - tailMs };
}

const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(x === 1 || x === 0 ? 0 : 1)} %`);
const ms = (x) => (x === null ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x} ms`);
const recoveryText = (w) => (w.recoveryMs === null ? 'no errors' : w.recovered ? `${(w.recoveryMs / 1000).toFixed(0)} s` : `not within ${((w.end - w.start) / 1000).toFixed(0)} s`);
/** The window's name with how long the fault lasted (when it is not a moment). */
const title = (w) => (w.id === 'warm-up' || w.faultEnd - w.start < 4000 ? w.name : `${w.name} (${Math.round((w.faultEnd - w.start) / 1000)} s)`);

/** The table of one run: a row per window (the warm-up first, then each fault). */
export function runTable(run) {
  const head = `| window | client errors | checkouts confirmed | ${ENDPOINTS.map((e) => `p99 ${e}`).join(' | ')} | time to recover | instances after (products/orders/payments) |`;
  const lines = [head, `|${'---|'.repeat(5 + ENDPOINTS.length)}`];
  const census = (w) => (w.instances === undefined ? '—' : ['products', 'orders', 'payments'].map((n) => w.instances[n] ?? '?').join(' / '));
  for (const w of run.windows) {
    const s = w.summary;
    lines.push(
      `| ${title(w)} | ${s.errors} / ${s.requests} (${pct(s.requests === 0 ? null : s.errors / s.requests)}) | ${s.checkouts.confirmed} / ${s.checkouts.started} (${pct(s.checkouts.successRate)}) | ${ENDPOINTS.map((e) => ms(s.endpoints[e].p99Ms)).join(' | ')} | ${w.id === 'warm-up' ? '—' : recoveryText(w)} | ${census(w)} |`,
    );
  }
  const t = run.total;
  lines.push(`| **whole run** | ${t.errors} / ${t.requests} (${pct(t.requests === 0 ? null : t.errors / t.requests)}) | ${t.checkouts.confirmed} / ${t.checkouts.started} (${pct(t.checkouts.successRate)}) | ${ENDPOINTS.map((e) => ms(t.endpoints[e].p99Ms)).join(' | ')} | | |`);
  return lines.join('\n');
}

/** The books of one run or two. */
export function booksTable(runs) {
  const keys = [
    ['acknowledgedMissing', 'orders acknowledged but missing'],
    ['doubleCharges', 'double charges'],
    ['oversold', 'oversold items'],
    ['nonFinal', 'orders left without a final state'],
    ['chargedNotConfirmed', 'charged but not confirmed'],
    ['confirmedUnpaid', 'confirmed but unpaid'],
  ];
  const lines = [`| books | ${runs.map((r) => r.label).join(' | ')} |`, `|---|${runs.map(() => '---|').join('')}`];
  for (const [k, label] of keys) lines.push(`| ${label} | ${runs.map((r) => (r.books === null ? '—' : String(r.books[k]))).join(' | ')} |`);
  lines.push(`| orders confirmed / cancelled (acknowledged to clients) | ${runs.map((r) => (r.books === null ? '—' : `${r.books.orders.confirmed} / ${r.books.orders.cancelled} (${r.acknowledged})`)).join(' | ')} |`);
  return lines.join('\n');
}

/** Both runs side by side, fault by fault. */
export function compareTable(on, off) {
  const lines = [
    '| window | client errors, protections on | client errors, off | checkouts confirmed, on | off | p99 checkout, on | off | time to recover, on | off |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const w of on.windows) {
    const v = off.windows.find((x) => x.id === w.id);
    const err = (x) => (x === undefined ? '—' : `${x.summary.errors} / ${x.summary.requests}`);
    const co = (x) => (x === undefined ? '—' : pct(x.summary.checkouts.successRate));
    const p = (x) => (x === undefined ? '—' : ms(x.summary.endpoints.checkout.p99Ms));
    const rec = (x) => (x === undefined ? '—' : x.id === 'warm-up' ? '—' : recoveryText(x));
    lines.push(`| ${title(w)} | ${err(w)} | ${err(v)} | ${co(w)} | ${co(v)} | ${p(w)} | ${p(v)} | ${rec(w)} | ${rec(v)} |`);
  }
  const tot = (r) => `${r.total.errors} / ${r.total.requests}`;
  lines.push(`| **whole run** | ${tot(on)} | ${tot(off)} | ${pct(on.total.checkouts.successRate)} | ${pct(off.total.checkouts.successRate)} | ${ms(on.total.endpoints.checkout.p99Ms)} | ${ms(off.total.endpoints.checkout.p99Ms)} | | |`);
  return lines.join('\n');
}
