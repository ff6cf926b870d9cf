// The figures of every scenario side by side across the proxies, with the bars each Brisk
// case is held to (chaos/lib/bars.mjs) and whether it met them: as aligned text for the
// terminal and as markdown.
import { FAULTY, timeline } from './scenarios.mjs';
import { SHARE_AFTER_MS } from './analyze.mjs';
import { checksFor, hasBars } from './bars.mjs';

const fmtS = (ms) => (ms === null || ms === undefined ? '–' : ms === Infinity ? 'never' : `${(ms / 1000).toFixed(2)} s`);
const fmtMs = (ms) => (!Number.isFinite(ms) ? '–' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const pct = (x) => `${Math.round(x * 100)}`;

/** The row of the table each checked figure sits in, and how a verdict line names it. */
const METRICS = {
  errors: { row: 'errors', label: 'client-visible errors', text: (v) => String(v) },
  max: { row: 'latency', label: 'slowest answer (max)', text: (v) => `${fmtMs(v)} ms` },
  p99: { row: 'latency', label: 'p99', text: (v) => `${fmtMs(v)} ms` },
  ejectedAfterMs: { row: 'ejected', label: 'ejected after', text: fmtS },
  backAfterMs: { row: 'back', label: 'back in rotation after', text: fmtS },
  duplicates: { row: 'duplicates', label: 'POSTs received twice', text: (v) => String(v) },
};

/** How a verdict line names a checked figure. */
export const metricLabel = (metric) => METRICS[metric]?.label ?? metric;
/** A checked figure as text. */
export const metricText = (metric, value) => (typeof value === 'number' ? (METRICS[metric]?.text ?? String)(value) : String(value));

/**
 * The rows of one scenario's table. results: Map proxyId → result (or { failed }),
 * baselines: Map proxyId → result of scenario 0. Each row: { label, cells: Map proxyId →
 * text, bars: Map caseId → { bar, verdict } } (bars only for the cases held to one in it:
 * verdict 'PASS' | 'FAIL' | 'n/a').
 */
export function scenarioRows(scenario, results, baselines) {
  const checks = new Map();
  for (const [id, r] of results) if (hasBars(id)) checks.set(id, checksFor(id, scenario.id, r, baselines.get(id)));
  const rows = [];
  const row = (key, label, cell) => {
    const cells = new Map();
    const bars = new Map();
    for (const [id, r] of results) {
      if (r.failed) {
        cells.set(id, rows.length === 0 ? `failed: ${r.failed}` : '');
        continue;
      }
      cells.set(id, cell(r, id));
      const mine = (checks.get(id) ?? []).filter((c) => METRICS[c.metric].row === key);
      if (mine.length > 0) {
        const verdict = mine.some((c) => c.verdict === 'FAIL') ? 'FAIL' : mine.every((c) => c.verdict === 'PASS') ? 'PASS' : 'n/a';
        bars.set(id, { bar: mine.map((c) => c.bar).join('; '), verdict });
      }
    }
    rows.push({ label, cells, bars });
  };

  row('errors', 'client-visible errors', (r) => (r.errors === 0 ? '0' : `${r.errors} (${r.errorKinds.slice(0, 2).join(', ')})`));
  row('latency', 'latency p50 / p99 / max ms', (r) => `${fmtMs(r.p50)} / ${fmtMs(r.p99)} / ${fmtMs(r.max)}`);
  if (scenario.steps(timeline(30_000)).length > 0) {
    const source = scenario.tries === 'proxy' ? "proxy's account" : scenario.tries === 'any' ? 'received' : `answered ${scenario.tries}`;
    row('ejected', `ejected after (${source})`, (r) => `${fmtS(r.ejectedAfterMs)}${r.triesAfterEjection ? ` +${r.triesAfterEjection} later` : ''}`);
    row('tries', `requests to ${FAULTY} during fault`, (r) => String(r.triesInFault ?? '–'));
    if (scenario.tries === 'any') row('answered', `requests ${FAULTY} answered during fault (each waited for it)`, (r) => String(r.answeredInFault ?? '–'));
  }
  if (scenario.steps(timeline(30_000)).length > 1) {
    row('back', 'back in rotation after', (r) => fmtS(r.backAfterMs));
    row('share', `${FAULTY}'s share from ${SHARE_AFTER_MS / 1000} s after the fault %`, (r) => (r.shareAfter === null || r.shareAfter === undefined ? '–' : pct(r.shareAfter)));
  }
  if (scenario.method === 'POST') {
    row('duplicates', 'POSTs received twice', (r) => `${r.duplicates}${r.extraDeliveries > r.duplicates ? ` (${r.extraDeliveries} extra)` : ''}`);
    row('failedButReceived', 'POSTs failed at client, yet received', (r) => String(r.failedButReceived));
  }
  row('served', 'served b1 / b2 / b3 %', (r) => r.servedShare.map(pct).join(' / '));
  row('cpu', 'proxy CPU % (its core busy %)', (r) => (r.cpu ? `${r.cpu.proxyPct.toFixed(0)}${r.cpu.corePct === null ? '' : ` (${r.cpu.corePct.toFixed(0)})`}` : '–'));
  row('requests', 'requests (req/s sent)', (r) => `${r.requests.toLocaleString('en-US')} (${Math.round(r.rate).toLocaleString('en-US')})`);
  return rows;
}

/** metric, then per proxy its figures — and, for a case with bars, its bar and verdict. */
function columns(results, labels) {
  const cols = [{ key: 'label', title: 'metric' }];
  for (const id of results.keys()) {
    cols.push({ key: id, title: labels.get(id) ?? id, strong: hasBars(id) });
    if (hasBars(id)) cols.push({ key: `bar:${id}`, title: 'bar', bar: id }, { key: `verdict:${id}`, title: '', verdict: id });
  }
  return cols;
}

function cellOf(row, col) {
  if (col.key === 'label') return row.label;
  if (col.bar !== undefined) return row.bars.get(col.bar)?.bar ?? '';
  if (col.verdict !== undefined) return row.bars.get(col.verdict)?.verdict ?? '';
  return row.cells.get(col.key) ?? '';
}

export function textTable(scenario, results, baselines, labels) {
  const rows = scenarioRows(scenario, results, baselines);
  const cols = columns(results, labels);
  const widths = cols.map((c) => Math.max(c.title.length, ...rows.map((r) => cellOf(r, c).length)));
  const line = (vals) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols.map((c) => c.title)), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map((r) => line(cols.map((c) => cellOf(r, c))))].join('\n');
}

export function markdownTable(scenario, results, baselines, labels) {
  const rows = scenarioRows(scenario, results, baselines);
  const cols = columns(results, labels);
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  const out = [`| ${cols.map((c) => (c.strong ? `**${c.title}**` : c.title || ' ')).join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    out.push(`| ${cols.map((c) => {
      const text = cellOf(r, c);
      return c.verdict !== undefined && text ? `**${text}**` : esc(text);
    }).join(' | ')} |`);
  }
  return out.join('\n');
}

/**
 * Issue 11's form: per fault, the client errors and the slowest answer of each proxy
 * (scenarios with a fault, GETs: 1–5).
 */
export function faultTable(scenarios, resultsByScenario, proxies, t, { markdown }) {
  const shown = scenarios.filter((sc) => sc.steps(t).length > 0 && sc.method !== 'POST');
  const head = ['fault on one of three targets', ...proxies.flatMap((p) => [`${p.label}: client errors`, 'slowest answer'])];
  const body = shown.map((sc) => [
    `${sc.id} ${sc.name}: ${sc.short(t)}`,
    ...proxies.flatMap((p) => {
      const r = resultsByScenario.get(sc.id)?.get(p.id);
      if (r === undefined) return ['–', '–'];
      if (r.failed) return ['failed', ''];
      return [r.errors.toLocaleString('en-US'), `${Math.round(r.max).toLocaleString('en-US')} ms`];
    }),
  ]);
  if (markdown) {
    return [`| ${head.join(' | ')} |`, `| --- |${proxies.map(() => ' --: | --: |').join('')}`, ...body.map((cells) => `| ${cells.join(' | ')} |`)].join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (vals) => vals.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)].join('\n');
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
