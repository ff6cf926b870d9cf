// Turning measurements into the table: medians over rounds, ratios against the
// references, an aligned text table for the terminal and a markdown page for the docs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export const median = (xs) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * state: Map caseId -> { status, reason, sizes: Map size -> { runs: [load result], peakRssKb, cpuSec, wallSec } }
 * Returns one row per (size, case), sizes outer, cases in the given order.
 */
export function summarize(state, caseIds, sizes) {
  const rows = [];
  for (const size of sizes) {
    const bySize = new Map();
    for (const id of caseIds) {
      const c = state.get(id);
      const s = c.sizes.get(size);
      if (c.status !== 'ok' || !s || s.runs.length === 0) {
        const reason = c.status === 'skipped' ? `skipped: ${c.reason}` : `failed: ${c.reason ?? 'no measurement'}`;
        rows.push({ id, size, ok: false, reason });
        continue;
      }
      const rpsList = s.runs.map((r) => r.rps);
      const rps = median(rpsList);
      const row = {
        id,
        size,
        ok: true,
        direct: c.direct === true,
        rps,
        rounds: rpsList,
        spread: rpsList.length > 1 ? (Math.max(...rpsList) - Math.min(...rpsList)) / rps : null,
        p50: median(s.runs.map((r) => r.p50)),
        p99: median(s.runs.map((r) => r.p99)),
        errors: s.runs.reduce((n, r) => n + r.errors, 0),
        non2xx: s.runs.reduce((n, r) => n + r.non2xx, 0),
        socketErrors: s.runs.reduce((n, r) => n + r.socketErrors, 0),
        rssMb: c.direct ? null : s.peakRssKb / 1024,
        cpuPct: c.direct || !(s.wallSec > 0) ? null : (100 * s.cpuSec) / s.wallSec,
        // Throughput per second of proxy CPU: comparable even when the proxy was not the bottleneck.
        perCpuSec: c.direct || !(s.cpuSec > 0) ? null : s.runs.reduce((n, r) => n + r.requests, 0) / s.cpuSec,
        // How busy the client+upstream CPUs were (100 = all of them): near 100, they were the limit.
        loadPct: s.loadCpu.total > 0 ? (100 * s.loadCpu.busy) / s.loadCpu.total : null,
        // Share of the proxy's CPUs used by anything but the proxy (other work on the machine).
        foreignPct:
          c.direct || !s.proxyCpus || !(s.proxyCpu.total > 0) || !(s.wallSec > 0)
            ? null
            : Math.max(0, (100 * s.proxyCpu.busy) / s.proxyCpu.total - (100 * s.cpuSec) / s.wallSec / s.proxyCpus),
      };
      rows.push(row);
      bySize.set(id, row);
    }
    for (const row of rows) {
      if (row.size !== size || !row.ok) continue;
      const ratio = (ref) => {
        const r = bySize.get(ref);
        return r === undefined || r.id === row.id ? null : row.rps / r.rps;
      };
      row.vsDirect = ratio('direct');
      row.vsFloor = ratio('node-floor');
      // A case may name its own NGINX counterpart (a compressed case, NGINX with gzip on).
      row.vsNginx = ratio(state.get(row.id)?.def?.nginxPeer ?? 'nginx');
    }
  }
  return rows;
}

const COLUMNS = [
  { key: 'id', title: 'case', left: true },
  { key: 'size', title: 'body', left: true },
  { key: 'rps', title: 'req/s', fmt: (v) => Math.round(v).toLocaleString('en-US') },
  { key: 'spread', title: 'spread', fmt: (v) => `±${((v * 100) / 2).toFixed(1)}%` },
  { key: 'p50', title: 'p50 ms', fmt: (v) => v.toFixed(2) },
  { key: 'p99', title: 'p99 ms', fmt: (v) => v.toFixed(2) },
  { key: 'errors', title: 'errors', fmt: (v) => String(v) },
  { key: 'rssMb', title: 'RSS MB', fmt: (v) => v.toFixed(0) },
  { key: 'cpuPct', title: 'proxy CPU%', fmt: (v) => v.toFixed(0) },
  { key: 'loadPct', title: 'load CPU%', fmt: (v) => v.toFixed(0) },
  { key: 'perCpuSec', title: 'req/CPU-s', fmt: (v) => Math.round(v).toLocaleString('en-US') },
  { key: 'vsDirect', title: 'vs direct', fmt: (v) => `${v.toFixed(2)}x` },
  { key: 'vsFloor', title: 'vs floor', fmt: (v) => `${v.toFixed(2)}x` },
  { key: 'vsNginx', title: 'vs nginx', fmt: (v) => `${v.toFixed(2)}x` },
];

function cells(row) {
  return COLUMNS.map((c) => {
    const v = row[c.key];
    if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '-';
    return c.fmt ? c.fmt(v) : String(v);
  });
}

export function textTable(rows) {
  const data = rows.map((r) => (r.ok ? cells(r) : null));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...rows.map((r, j) => (data[j] ? data[j][i].length : i < 2 ? String(r[c.key]).length : 0))));
  const line = (vals) => vals.map((v, i) => (COLUMNS[i].left ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  const out = [line(COLUMNS.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  ')];
  let lastSize = null;
  rows.forEach((r, j) => {
    if (lastSize !== null && r.size !== lastSize) out.push('');
    lastSize = r.size;
    out.push(data[j] ? line(data[j]) : `${r.id.padEnd(widths[0])}  ${r.size.padEnd(widths[1])}  ${r.reason}`);
  });
  return out.join('\n');
}

export function markdownTable(rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  const out = [
    `| ${COLUMNS.map((c) => c.title).join(' | ')} |`,
    `| ${COLUMNS.map((c) => (c.left ? ':--' : '--:')).join(' | ')} |`,
  ];
  for (const r of rows) {
    const vals = r.ok ? cells(r) : [r.id, r.size, esc(r.reason), ...COLUMNS.slice(3).map(() => '')];
    if (r.ok && r.id === 'brisk') vals[0] = '**brisk**';
    out.push(`| ${vals.join(' | ')} |`);
  }
  return out.join('\n');
}

const BEGIN = '<!-- bench:results:begin (generated by bench/run.mjs --markdown) -->';
const END = '<!-- bench:results:end -->';

/**
 * Put the generated section into a page: between the markers when the page has them (so the
 * hand-written text around the results survives a re-run), else the section alone.
 */
export function spliceResults(page, section) {
  const block = `${BEGIN}\n${section.trimEnd()}\n${END}`;
  if (page !== null) {
    const b = page.indexOf(BEGIN.slice(0, 25));
    const e = page.indexOf(END);
    if (b !== -1 && e > b) return page.slice(0, b) + block + page.slice(e + END.length);
  }
  return block + '\n';
}

/** The page section for docs/benchmarks.md: table, notes, machine, cases. */
export function markdownReport({ machine, settings, sizes, layout, tool, state, rows, notes, warnings, quick }) {
  const noisy = Number(machine.loadavg.split(' ')[0]) > 0.5 || rows.some((r) => r.ok && r.foreignPct > 10);
  const versions = [...state.values()]
    .filter((s) => !s.direct)
    .map((s) => s.version ?? `${s.def.id} ?`)
    .join(', ');
  const described = [...state.values()].map((s) => `- \`${s.def.id}\`: ${s.def.what}${s.status === 'ok' ? '' : ` — **${s.status}**: ${s.reason}`}`);
  return [
    `Measured ${machine.date}${quick ? ` (**quick run**: ${settings.rounds} round(s) × ${settings.duration} s, indicative only)` : ''}.`,
    '',
    ...(noisy
      ? ['**Caution: other work was running on the machine during this run** (see the warnings below); the numbers and ratios are not trustworthy. Rerun on an idle machine.', '']
      : []),
    markdownTable(rows),
    '',
    ...notes.map((n) => `- ${n}`),
    ...warnings.map((w) => `- warning: ${w}`),
    '',
    '**Machine**',
    '',
    `- ${machine.nproc} CPU(s): ${machine.cpu}; ${machine.memory} RAM; ${machine.kernel}; load average at start ${machine.loadavg}`,
    `- Node.js ${machine.node}; load generator ${tool === 'wrk' ? machine.wrk : 'autocannon'}`,
    `- versions: ${versions}`,
    layout.pinned
      ? `- cores: proxy under test pinned to CPU ${layout.proxy} (\`taskset\`); upstream, load generator and harness on CPU ${layout.load}`
      : '- cores: not pinned',
    `- method: ${settings.connections} keep-alive connections, GET of a ${sizes.join(' / ')} body; ${settings.warmup} s warm-up per case, then ${settings.rounds} round(s) × ${settings.duration} s with the cases interleaved`,
    '',
    '**Cases**',
    '',
    ...described,
    '',
  ].join('\n');
}

function sh(cmd, args, stream = 'stdout') {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return String(r[stream] ?? '').split('\n')[0].trim() || '?';
  } catch {
    return '?';
  }
}

/** What the numbers were measured on. */
export function machineInfo() {
  let cpu = os.cpus()[0]?.model ?? '?';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: sh('nproc', []),
    cpu,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    wrk: sh('wrk', ['-v']).replace(/\s+Copyright.*$/, ''),
    loadavg: os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}
