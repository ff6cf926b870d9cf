// The figures of every scenario side by side across the proxies, with the bar Brisk is
// held to and whether it met it: as aligned text for the terminal and as markdown.
import { FAULTY, timeline } from './scenarios.mjs';
import { FAILOVER } from './proxies.mjs';
import { SHARE_AFTER_MS } from './analyze.mjs';

const fmtS = (ms) => (ms === null || ms === undefined ? '–' : ms === Infinity ? 'never' : `${(ms / 1000).toFixed(2)} s`);
const fmtMs = (ms) => (!Number.isFinite(ms) ? '–' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const pct = (x) => `${Math.round(x * 100)}`;

/** The bar for back in rotation: one health interval plus slow start. */
export const BACK_BAR_MS = FAILOVER.healthIntervalMs + FAILOVER.slowStartMs;

/**
 * The rows of one scenario's table. results: Map proxyId → result (or { failed }),
 * baselines: Map proxyId → result of scenario 0. Each row: { label, cells: Map proxyId →
 * text, bar, verdict (for Brisk: 'PASS' | 'FAIL' | null) }.
 */
export function scenarioRows(scenario, results, baselines) {
  const rows = [];
  const row = (label, cell, barFor = null) => {
    const cells = new Map();
    let bar = null;
    let verdict = null;
    for (const [id, r] of results) {
      if (r.failed) {
        cells.set(id, rows.length === 0 ? `failed: ${r.failed}` : '');
        continue;
      }
      cells.set(id, cell(r, id));
      if (id === 'brisk' && barFor !== null) {
        const b = barFor(r);
        if (b !== null) ({ bar, verdict } = b);
      }
    }
    rows.push({ label, cells, bar, verdict });
  };
  const check = (bar, pass) => ({ bar, verdict: pass === null ? 'n/a' : pass ? 'PASS' : 'FAIL' });

  row(
    'client-visible errors',
    (r) => (r.errors === 0 ? '0' : `${r.errors} (${r.errorKinds.slice(0, 2).join(', ')})`),
    scenario.errorBar ? (r) => check('0', r.errors === 0) : null,
  );
  row(
    'latency p50 / p99 / max ms',
    (r) => `${fmtMs(r.p50)} / ${fmtMs(r.p99)} / ${fmtMs(r.max)}`,
    scenario.p99Bar
      ? (r) => {
          const base = baselines.get('brisk');
          if (!base || base.failed) return check(`p99 ≤ ${scenario.p99Bar}× baseline`, null);
          const limit = scenario.p99Bar * base.p99;
          return check(`p99 ≤ ${fmtMs(limit)} (${scenario.p99Bar}× ${fmtMs(base.p99)})`, r.p99 <= limit);
        }
      : null,
  );
  if (scenario.steps(timeline(30_000)).length > 0) {
    const source = scenario.tries === 'proxy' ? "proxy's account" : scenario.tries === 'any' ? 'received' : `answered ${scenario.tries}`;
    row(
      `ejected after (${source})`,
      (r) => `${fmtS(r.ejectedAfterMs)}${r.triesAfterEjection ? ` +${r.triesAfterEjection} later` : ''}`,
      scenario.ejectBarMs ? (r) => check(`≤ ${fmtS(scenario.ejectBarMs)}`, r.ejectedAfterMs <= scenario.ejectBarMs) : null,
    );
    row(`requests to ${FAULTY} during fault`, (r) => String(r.triesInFault ?? '–'));
  }
  if (scenario.steps(timeline(30_000)).length > 1) {
    row('back in rotation after', (r) => fmtS(r.backAfterMs), scenario.backBar ? (r) => check(`≤ ${fmtS(BACK_BAR_MS)}`, r.backAfterMs <= BACK_BAR_MS) : null);
    row(`${FAULTY}'s share from ${SHARE_AFTER_MS / 1000} s after the fault %`, (r) => (r.shareAfter === null || r.shareAfter === undefined ? '–' : pct(r.shareAfter)));
  }
  if (scenario.duplicateBar) {
    row('POSTs received twice', (r) => `${r.duplicates}${r.extraDeliveries > r.duplicates ? ` (${r.extraDeliveries} extra)` : ''}`, (r) => check('0', r.duplicates === 0));
    row('POSTs failed at client, yet received', (r) => String(r.failedButReceived));
  }
  row('served b1 / b2 / b3 %', (r) => r.servedShare.map(pct).join(' / '));
  row('proxy CPU % (its core busy %)', (r) => (r.cpu ? `${r.cpu.proxyPct.toFixed(0)}${r.cpu.corePct === null ? '' : ` (${r.cpu.corePct.toFixed(0)})`}` : '–'));
  row('requests (req/s sent)', (r) => `${r.requests.toLocaleString('en-US')} (${Math.round(r.rate).toLocaleString('en-US')})`);
  return rows;
}

function columns(results, labels) {
  const ids = [...results.keys()];
  const brisk = ids.includes('brisk');
  const cols = [{ key: 'label', title: 'metric' }];
  for (const id of ids) {
    cols.push({ key: id, title: labels.get(id) ?? id });
    if (id === 'brisk' && brisk) cols.push({ key: 'bar', title: 'bar' }, { key: 'verdict', title: '' });
  }
  return cols;
}

const cellOf = (row, key) => (key === 'label' ? row.label : key === 'bar' ? row.bar ?? '' : key === 'verdict' ? row.verdict ?? '' : row.cells.get(key) ?? '');

export function textTable(scenario, results, baselines, labels) {
  const rows = scenarioRows(scenario, results, baselines);
  const cols = columns(results, labels);
  const widths = cols.map((c) => Math.max(c.title.length, ...rows.map((r) => cellOf(r, c.key).length)));
  const line = (vals) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols.map((c) => c.title)), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map((r) => line(cols.map((c) => cellOf(r, c.key))))].join('\n');
}

export function markdownTable(scenario, results, baselines, labels) {
  const rows = scenarioRows(scenario, results, baselines);
  const cols = columns(results, labels);
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  const out = [`| ${cols.map((c) => (c.key === 'brisk' ? '**Brisk**' : c.title || ' ')).join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${cols.map((c) => (c.key === 'verdict' && r.verdict ? `**${r.verdict}**` : esc(cellOf(r, c.key)))).join(' | ')} |`);
  return out.join('\n');
}

/** Brisk's verdicts over all scenarios: [{ scenario, label, bar, verdict, value }]. */
export function briskVerdicts(scenarios, resultsByScenario, baselines) {
  const out = [];
  for (const sc of scenarios) {
    const results = resultsByScenario.get(sc.id);
    if (!results?.has('brisk')) continue;
    const brisk = results.get('brisk');
    if (brisk.failed) {
      out.push({ scenario: sc, label: 'run', bar: 'runs', verdict: 'FAIL', value: brisk.failed });
      continue;
    }
    for (const r of scenarioRows(sc, results, baselines)) {
      if (r.verdict !== null) out.push({ scenario: sc, label: r.label, bar: r.bar, verdict: r.verdict, value: r.cells.get('brisk') });
    }
  }
  return out;
}

const BEGIN = '<!-- chaos:results:begin (generated by chaos/run.mjs --markdown) -->';
const END = '<!-- chaos:results:end -->';

/** Puts the generated section between the markers of an existing page, or makes a page of it. */
export function spliceResults(page, section) {
  const block = `${BEGIN}\n${section.trimEnd()}\n${END}`;
  if (page !== null) {
    const b = page.indexOf(BEGIN.slice(0, 26));
    const e = page.indexOf(END);
    if (b !== -1 && e > b) return page.slice(0, b) + block + page.slice(e + END.length);
  }
  return block + '\n';
}
