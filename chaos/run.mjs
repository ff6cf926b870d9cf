#!/usr/bin/env node
// Chaos run: the proof that a dying backend costs clients nothing. Three backends behind
// the proxy under test (Brisk, and NGINX and HAProxy when installed), steady open-loop
// load, one fault per scenario — crash, freeze, 503s, resets, slowness, and POSTs that must
// never be sent twice — and a side-by-side table of what the clients saw. See docs/chaos.md.
//
//   node chaos/run.mjs [--quick] [--only brisk,nginx] [--scenario 1,3] [--markdown FILE] [--json FILE]
import fs from 'node:fs';
import path from 'node:path';
import { runHarness } from '../bench/lib/procs.mjs';
import { machineInfo } from '../bench/lib/report.mjs';
import { cpuLayout, epochMs, killEverythingSync, pinSelf, ROOT, startReaper, stopEverything } from './lib/processes.mjs';
import { FAILOVER, PROXIES } from './lib/proxies.mjs';
import { BARS, verdicts as barVerdicts } from './lib/bars.mjs';
import { faultTable, markdownTable, metricLabel, metricText, spliceResults, textTable } from './lib/report.mjs';
import { runScenario, SCENARIOS, timeline } from './lib/scenarios.mjs';

const DEFAULT_WORK = path.join(ROOT, '.chaos');
/** A run is noisy, and run again once, when other work took this much of the proxy's core… */
const NOISY_FOREIGN_PCT = 20;
/** …or when the load generator ran this late (p99, ms). */
const NOISY_LAG_MS = 50;
const SETUP_S = 6; // per run: check the machine is quiet, start backends and proxy, warm, stop (for the time estimate)

const HELP = `Usage: npm run chaos -- [options]    (or: node chaos/run.mjs [options])

  --quick             ${8} s per scenario instead of 30 (for development)
  --only a,b          proxies to run: ${PROXIES.map((p) => p.id).join(', ')} (default: all installed)
  --scenario n,m      scenarios to run (default: all); scenario 5 brings scenario 0 along,
                      its bar is relative to the baseline
${SCENARIOS.map((s) => `                        ${s.id}  ${s.name.padEnd(10)} ${s.describe(timeline(30_000))}`).join('\n')}
  --markdown FILE     also write the tables as markdown (between the chaos:results markers
                      of FILE when it has them, e.g. docs/chaos.md)
  --json FILE         also write every figure and verdict as JSON to FILE (\`-\`: to stdout,
                      the text then goes to stderr)
  --work-dir DIR      where configs, logs and recordings go (default: .chaos)
  --paired            run the baseline at the same time as the scenario compared with it
                      (5), not before it: other work on a shared machine then weighs on
                      both alike (the CI short form; the two stacks share the cores, so
                      not for published figures)
  --help

Environment: CHAOS_RATE=2000 (req/s)  CHAOS_SECONDS=30 (8 with --quick)  CHAOS_WARMUP=2 (s)
             CHAOS_CONNECTIONS=1000  CHAOS_CLIENT_TIMEOUT=5000 (ms)  CHAOS_BACKEND_DELAY_MS=1
             CHAOS_BRISK_HEDGE=auto|off|p95|<duration> (the tuned Brisk route's hedge; unset:
             no key, Brisk's default, auto)
             CHAOS_PROXY_CPUS / CHAOS_LOAD_CPUS (taskset lists)  CHAOS_PIN=0 (no pinning)
             CHAOS_QUIET_WAIT=30 (s: before each run, wait up to this long for other work on
             the machine to calm down below 25% CPU; 0: do not wait)
             CHAOS_RETRY_NOISY=1 (run a scenario again, once, when other work took > 20% of the
             proxy's core or the load generator ran > 50 ms late; the quieter run is kept)

Exits 0 whatever the verdicts (they are informative); 1 when the harness itself broke,
2 on a usage error.`;

class UsageError extends Error {}

function parseArgs(argv) {
  const o = { quick: false, only: null, scenarios: null, markdown: null, json: null, workDir: DEFAULT_WORK, paired: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.split('=')[0];
    const value = () => {
      const eq = a.indexOf('=');
      if (eq !== -1) return a.slice(eq + 1);
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (name === '--quick') o.quick = true;
    else if (name === '--only') o.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (name === '--scenario' || name === '--scenarios') o.scenarios = value().split(',').map((s) => Number(s.trim()));
    else if (name === '--markdown') o.markdown = value();
    else if (name === '--json') o.json = value();
    else if (name === '--paired') o.paired = true;
    else if (name === '--work-dir') o.workDir = path.resolve(value());
    else if (name === '--help' || name === '-h') o.help = true;
    else throw new UsageError(`unknown option ${a}`);
  }
  return o;
}

function envNumber(name, def, { min = 0 } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${name}=${raw}: expected a number >= ${min}`);
  return n;
}

/** The human-readable output: stdout, or stderr when the JSON goes to stdout (`--json -`). */
let textStream = process.stdout;
const out = (s = '') => textStream.write(s + '\n');

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    out(HELP);
    return 0;
  }
  if (opts.json === '-') textStream = process.stderr;
  const WORK = opts.workDir;
  // Unset: no `hedge` key in the tuned config, i.e. Brisk's default (`auto`).
  const hedge = process.env.CHAOS_BRISK_HEDGE || null;
  if (hedge !== null && !/^(auto|off|p95|\d+(\.\d+)?\s*(ms|s)?)$/.test(hedge)) throw new UsageError(`CHAOS_BRISK_HEDGE=${hedge}: expected auto, off, p95 or a duration`);
  const settings = {
    rate: envNumber('CHAOS_RATE', 2000, { min: 1 }),
    durationMs: Math.round(1000 * envNumber('CHAOS_SECONDS', opts.quick ? 8 : 30, { min: 4 })),
    warmupMs: Math.round(1000 * envNumber('CHAOS_WARMUP', 2)),
    connections: Math.round(envNumber('CHAOS_CONNECTIONS', 1000, { min: 1 })),
    clientTimeoutMs: Math.round(envNumber('CHAOS_CLIENT_TIMEOUT', 5000, { min: 100 })),
    backendDelayMs: envNumber('CHAOS_BACKEND_DELAY_MS', 1),
    hedge,
    quietWaitMs: Math.round(1000 * envNumber('CHAOS_QUIET_WAIT', 30)),
    retryNoisy: process.env.CHAOS_RETRY_NOISY !== '0',
  };

  if (opts.only !== null) {
    const unknown = opts.only.filter((id) => !PROXIES.some((p) => p.id === id));
    if (unknown.length) throw new UsageError(`unknown proxy ${unknown.join(', ')}; proxies: ${PROXIES.map((p) => p.id).join(', ')}`);
  }
  let scenarios = SCENARIOS;
  if (opts.scenarios !== null) {
    const bad = opts.scenarios.filter((n) => !SCENARIOS.some((s) => s.id === n));
    if (bad.length) throw new UsageError(`unknown scenario ${bad.join(', ')}; scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}`);
    const wanted = new Set(opts.scenarios);
    if (SCENARIOS.some((s) => wanted.has(s.id) && s.needsBaseline)) wanted.add(0);
    scenarios = SCENARIOS.filter((s) => wanted.has(s.id));
  }

  const machine = machineInfo();
  const layout = cpuLayout();
  pinSelf(layout.load);
  startReaper();
  fs.mkdirSync(WORK, { recursive: true });
  // Generated configs, logs and recordings stay out of git without touching .gitignore.
  fs.writeFileSync(path.join(WORK, '.gitignore'), '*\n');

  const proxies = [];
  const skipped = [];
  for (const p of PROXIES) {
    if (opts.only !== null && !opts.only.includes(p.id)) continue;
    const why = p.unavailable();
    if (why !== null) {
      skipped.push(`${p.label}: ${why}`);
      continue;
    }
    const proxy = { ...p, versionText: p.version() };
    try {
      await proxy.prepare?.(WORK);
      proxies.push(proxy);
    } catch (e) {
      skipped.push(`${p.label}: ${e.message}`);
    }
  }
  if (proxies.length === 0) throw new UsageError(`no proxy to run (${skipped.join('; ')})`);
  const labels = new Map(proxies.map((p) => [p.id, p.label]));

  const runS = settings.warmupMs / 1000 + settings.durationMs / 1000 + SETUP_S;
  const estimateS = Math.ceil(scenarios.length * proxies.length * runS);
  const t = timeline(settings.durationMs);
  const warnings = [];
  const busy = Number(machine.loadavg.split(' ')[0]);
  if (busy > 0.7) warnings.push(`the machine was not idle at start (load average ${machine.loadavg}): latencies are noisy`);

  const header = [
    `Brisk chaos run — ${machine.date}`,
    `machine: ${machine.nproc} CPU(s), ${machine.cpu}, ${machine.memory}, ${machine.kernel}, node ${machine.node}, load avg ${machine.loadavg}`,
    `proxies: ${proxies.map(versionLine).join(', ')}${skipped.length ? `; skipped: ${skipped.join('; ')}` : ''}`,
    layout.pinned ? `cores: proxy under test on CPU ${layout.proxy}; backends, load generator and harness on CPU ${layout.load}` : 'cores: not pinned',
    `load: ${settings.rate} req/s open loop (GET; POST in scenario 6), up to ${settings.connections} connections, client timeout ${settings.clientTimeoutMs} ms; ` +
      `${settings.warmupMs / 1000} s warm-up + ${settings.durationMs / 1000} s per scenario; backends answer after ${settings.backendDelayMs} ms`,
    `faults on b1 at ${t.at / 1000} s (long faults ${t.long / 1000} s, short ${t.short / 1000} s); fresh backends and proxy per run`,
    `Brisk (tuned): p2c-ewma, health ${FAILOVER.healthIntervalMs} ms/${FAILOVER.healthTimeoutMs} ms ${FAILOVER.unhealthyThreshold}/${FAILOVER.healthyThreshold}, ` +
      `outlier ${FAILOVER.consecutiveGatewayFailures} gateway failures or ${FAILOVER.consecutive5xx}×5xx for ${FAILOVER.ejectionMs / 1000} s, ` +
      `${FAILOVER.retries} retries, per try ${FAILOVER.perTryTimeoutMs} ms, slow start ${FAILOVER.slowStartMs} ms, hedging ${settings.hedge ?? 'auto (the default)'}`,
    'Brisk defaults: the target-only config (one route to three targets; listen and admin addresses only besides)',
    `estimated time: ~${estimateS < 90 ? `${estimateS} s` : `${(estimateS / 60).toFixed(1)} min`}`,
  ];
  out(header.join('\n'));
  for (const w of warnings) out(`warning: ${w}`);

  // The whole run is bounded: a hung child cannot hang the harness.
  // Every run may be run twice (noisy), each after waiting for a quiet machine.
  const boundS = Math.ceil(2 * estimateS + (2 * scenarios.length * proxies.length * settings.quietWaitMs) / 1000 + 120);
  const watchdog = setTimeout(() => {
    process.stderr.write(`\nchaos: watchdog: still running after ${boundS} s, stopping everything\n`);
    killEverythingSync();
    process.exit(1);
  }, boundS * 1000);
  watchdog.unref();

  const resultsByScenario = new Map();
  const baselines = new Map();
  const tables = [];
  const baselineScenario = scenarios.find((sc) => sc.id === 0);
  const paired = opts.paired && baselineScenario !== undefined && scenarios.some((sc) => sc.needsBaseline);
  const run = { settings, layout, workDir: WORK };
  const record = (sc, results) => {
    for (const [id, r] of results) {
      if (r.noisy) warnings.push(`scenario ${sc.id}, ${labels.get(id)}: ${r.noisy}: its figures carry other work on the machine`);
      if (r.died) warnings.push(`scenario ${sc.id}: ${r.died}`);
      if (sc.id === 0) baselines.set(id, r);
    }
    resultsByScenario.set(sc.id, results);
    out('');
    out(textTable(sc, results, baselines, labels));
    tables.push({ sc, results });
  };
  for (const sc of scenarios) {
    // --paired: the baseline runs beside the scenario compared with it, not on its own.
    if (paired && sc === baselineScenario) continue;
    const pairs = paired && sc.needsBaseline;
    out(`\nScenario ${sc.id} — ${sc.name}: ${sc.describe(t)}${pairs ? `, beside scenario 0 (${baselineScenario.name}) at the same time` : ''}`);
    const results = new Map();
    const baseResults = new Map();
    for (const p of proxies) {
      out(`  ${p.label}`);
      if (pairs) {
        const [base, r] = await runPair(baselineScenario, sc, p, run);
        baseResults.set(p.id, base);
        results.set(p.id, r);
      } else results.set(p.id, await runKeepingQuieter(sc, p, run));
    }
    if (pairs) record(baselineScenario, baseResults);
    record(sc, results);
  }
  clearTimeout(watchdog);
  await stopEverything();

  const shownProxies = proxies.filter((p) => [...resultsByScenario.values()].some((m) => m.has(p.id)));
  if (scenarios.some((sc) => sc.steps(t).length > 0 && sc.method !== 'POST')) {
    out('\nPer fault: client errors and the slowest answer');
    out(faultTable(scenarios, resultsByScenario, shownProxies, t, { markdown: false }));
  }
  const verdicts = barVerdicts(scenarios, resultsByScenario, metricLabel);
  for (const [caseId, list] of verdicts) {
    out(`\n${labels.get(caseId)}: ${verdictSummary(list)}`);
    for (const v of list) if (v.verdict === 'FAIL') out(`  FAIL  scenario ${v.scenario.id} (${v.scenario.name}): ${verdictLine(v)}`);
  }
  for (const w of warnings) out(`warning: ${w}`);

  if (opts.markdown !== null) {
    const md = markdownSection({ machine, settings, t, layout, proxies, shownProxies, skipped, tables, resultsByScenario, scenarios, baselines, labels, verdicts, warnings, quick: opts.quick });
    const file = path.resolve(opts.markdown);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, spliceResults(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null, md));
    out(`\nmarkdown written to ${path.relative(process.cwd(), file) || file}`);
  }
  if (opts.json !== null) {
    const doc = jsonDocument({ machine, settings, t, layout, proxies, skipped, scenarios, resultsByScenario, verdicts, warnings, quick: opts.quick, paired });
    const text = JSON.stringify(doc, (_k, v) => (v === Infinity ? 'Infinity' : Number.isNaN(v) ? null : v), 2) + '\n';
    if (opts.json === '-') process.stdout.write(text);
    else {
      const file = path.resolve(opts.json);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      out(`JSON written to ${path.relative(process.cwd(), file) || file}`);
    }
  }
  return 0;
}

/** A proxy's version, named by its case where one program runs as several (Brisk tuned and defaults). */
const versionLine = (p) => (p.brisk ? `${p.label}: ${p.versionText}` : p.versionText);
const verdictSummary = (list) => `${list.filter((v) => v.verdict === 'PASS').length} of ${list.length} bars met.`;
const verdictLine = (v) => `${v.label} = ${metricText(v.metric, v.value)}, bar ${v.bar}`;

/**
 * Everything a run found, machine readable (`--json`): the setup, per scenario and proxy
 * every figure (as in result.json, without the raw recordings), and per Brisk case its bars
 * and verdicts. Durations in ms; `"Infinity"` where something never happened (never
 * ejected, never back).
 */
function jsonDocument({ machine, settings, t, layout, proxies, skipped, scenarios, resultsByScenario, verdicts, warnings, quick, paired }) {
  return {
    tool: 'brisk chaos',
    date: machine.date,
    quick,
    /** The baseline ran beside the scenarios compared with it (`--paired`). */
    paired,
    machine,
    settings,
    timeline: t,
    cores: layout.pinned ? { proxy: layout.proxy, load: layout.load } : null,
    proxies: proxies.map((p) => ({ id: p.id, label: p.label, version: p.versionText, ...(p.describe ? { describe: p.describe } : {}) })),
    skipped,
    scenarios: scenarios.map((sc) => ({
      id: sc.id,
      name: sc.name,
      fault: sc.describe(t),
      results: Object.fromEntries([...(resultsByScenario.get(sc.id) ?? new Map())].map(([id, r]) => [id, r])),
    })),
    bars: Object.fromEntries(
      [...verdicts].map(([caseId, list]) => [
        caseId,
        {
          summary: BARS[caseId].summary,
          met: list.filter((v) => v.verdict === 'PASS').length,
          total: list.length,
          pass: list.every((v) => v.verdict === 'PASS'),
          checks: list.map((v) => ({ scenario: v.scenario.id, metric: v.metric, bar: v.bar, limit: v.limit, value: v.value, verdict: v.verdict })),
        },
      ]),
    ),
    warnings,
  };
}

/** One run, done again once when it was noisy (CHAOS_RETRY_NOISY); the quieter is kept. */
async function runKeepingQuieter(sc, p, { settings, layout, workDir }) {
  let r = await runOnce(sc, p, settings, layout, workDir, 1);
  if (noise(r) !== null && settings.retryNoisy) {
    out(`    ${noise(r)}: running it again`);
    const again = await runOnce(sc, p, settings, layout, workDir, 2);
    if (noiseScore(again) < noiseScore(r)) r = again;
    out(`    keeping run ${r === again ? 2 : 1}, the quieter one`);
  }
  return noise(r) === null ? r : { ...r, noisy: noise(r) };
}

/**
 * `--paired`: the baseline and the scenario compared with it, at the same time (two
 * stacks of backends, proxy and load generator), so that other work on a shared machine
 * weighs on both alike; done again once when either was noisy, the quieter pair kept.
 */
async function runPair(baseSc, sc, p, { settings, layout, workDir }) {
  const both = (attempt) => Promise.all([runOnce(baseSc, p, settings, layout, workDir, attempt), runOnce(sc, p, settings, layout, workDir, attempt)]);
  let pair = await both(1);
  const why = () => pair.map(noise).filter((n) => n !== null).join('; ') || null;
  if (why() !== null && settings.retryNoisy) {
    out(`    ${why()}: running the pair again`);
    const again = await both(2);
    const score = (x) => noiseScore(x[0]) + noiseScore(x[1]);
    if (score(again) < score(pair)) pair = again;
    out(`    keeping pair ${pair === again ? 2 : 1}, the quieter one`);
  }
  return pair.map((r) => (noise(r) === null ? r : { ...r, noisy: noise(r) }));
}

async function runOnce(sc, p, settings, layout, workDir, attempt) {
  const started = epochMs();
  const r = await runScenario({ scenario: sc, proxy: p, settings, layout, workDir, log: out, attempt });
  out(`    ${summaryLine(r)}  [${((epochMs() - started) / 1000).toFixed(0)} s, logs in ${path.relative(process.cwd(), r.dir) || r.dir}]`);
  return r;
}

/**
 * Why a run's figures cannot be trusted to be the proxy's own, or null: other work took a
 * good part of the proxy's core, or the load generator (on the other core) ran late.
 */
function noise(r) {
  if (r.failed || !r.cpu) return null;
  const foreign = r.cpu.corePct === null ? 0 : r.cpu.corePct - r.cpu.proxyPct;
  const why = [];
  if (foreign > NOISY_FOREIGN_PCT) why.push(`other work took ${foreign.toFixed(0)}% of the proxy's core`);
  if (r.lagP99 > NOISY_LAG_MS) why.push(`the load generator ran ${r.lagP99.toFixed(0)} ms late (p99)`);
  return why.length > 0 ? why.join(', and ') : null;
}

function noiseScore(r) {
  if (r.failed || !r.cpu) return Infinity;
  return Math.max(0, (r.cpu.corePct ?? 0) - r.cpu.proxyPct) + r.lagP99 / 2;
}

function summaryLine(r) {
  if (r.failed) return `FAILED: ${r.failed}`;
  const parts = [`${r.requests.toLocaleString('en-US')} requests`, `errors ${r.errors}${r.errors ? ` (${r.errorKinds.slice(0, 3).join(', ')})` : ''}`, `p99 ${r.p99.toFixed(1)} ms`, `max ${r.max.toFixed(0)} ms`];
  if (r.ejectedAfterMs !== null) parts.push(`ejected ${r.ejectedAfterMs === Infinity ? 'never' : `${(r.ejectedAfterMs / 1000).toFixed(2)} s`}`);
  if (r.backAfterMs !== null) parts.push(`back ${r.backAfterMs === Infinity ? 'never' : `${(r.backAfterMs / 1000).toFixed(2)} s`}`);
  if (r.duplicates !== null) parts.push(`duplicate POSTs ${r.duplicates}`);
  if (r.cpu) parts.push(`proxy CPU ${r.cpu.proxyPct.toFixed(0)}%${r.cpu.corePct === null ? '' : ` (its core ${r.cpu.corePct.toFixed(0)}% busy)`}`);
  return parts.join(', ');
}

function markdownSection({ machine, settings, t, layout, proxies, shownProxies, skipped, tables, resultsByScenario, scenarios, baselines, labels, verdicts, warnings, quick }) {
  const lines = [
    `Measured ${machine.date}${quick ? ' (**quick run**, 8 s per scenario: indicative only)' : ''} with \`npm run chaos${quick ? ' -- --quick' : ''}\`.`,
    '',
    `- machine: ${machine.nproc} CPU(s), ${machine.cpu}, ${machine.memory} RAM, ${machine.kernel}, Node.js ${machine.node}; load average at start ${machine.loadavg}`,
    `- proxies: ${proxies.map(versionLine).join(', ')}${skipped.length ? `; skipped: ${skipped.join('; ')}` : ''}`,
    layout.pinned ? `- cores: proxy under test pinned to CPU ${layout.proxy}; backends, load generator and harness on CPU ${layout.load}` : '- cores: not pinned',
    `- load: ${settings.rate} req/s open loop, ${settings.warmupMs / 1000} s warm-up + ${settings.durationMs / 1000} s per scenario, faults on b1 from ${t.at / 1000} s; backends answer after ${settings.backendDelayMs} ms; Brisk (tuned) hedging ${settings.hedge ?? 'auto (the default)'}`,
    ...[...verdicts.keys()].map((id) => `- bars (${labels.get(id)}): ${BARS[id].summary}`),
    '',
  ];
  if (scenarios.some((sc) => sc.steps(t).length > 0 && sc.method !== 'POST')) {
    lines.push('#### Per fault: client errors and the slowest answer', '', faultTable(scenarios, resultsByScenario, shownProxies, t, { markdown: true }), '');
  }
  for (const { sc, results } of tables) {
    lines.push(`#### Scenario ${sc.id} — ${sc.name}: ${sc.describe(t)}`, '', markdownTable(sc, results, baselines, labels), '');
  }
  for (const [caseId, list] of verdicts) {
    const failed = list.filter((v) => v.verdict === 'FAIL');
    lines.push(`**${labels.get(caseId)}: ${verdictSummary(list)}**${failed.length ? ' Missed:' : ''}`, '');
    for (const v of failed) lines.push(`- scenario ${v.scenario.id} (${v.scenario.name}): ${verdictLine(v)}`);
    if (failed.length) lines.push('');
  }
  for (const w of warnings) lines.push(`- warning: ${w}`);
  return lines.join('\n');
}

runHarness({ name: 'chaos', main, stop: stopEverything, killSync: killEverythingSync, stopping: 'everything', help: HELP, UsageError });
