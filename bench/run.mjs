#!/usr/bin/env node
// Brisk benchmark: the gateway side by side with the ceiling (no proxy), the floor (the
// least a Node proxy does) and peers, in one run, as ratios. See docs/benchmarks.md.
//
//   node bench/run.mjs [--quick] [--only brisk,node-floor] [--case-filter 1k] [--markdown FILE]
//
// Environment: BENCH_DURATION (s per run, 5), BENCH_ROUNDS (3), BENCH_WARMUP (s, 2),
// BENCH_CONNECTIONS (50), BENCH_SIZES (1k,64k), BENCH_LOAD_TOOL (wrk|autocannon),
// BENCH_PROXY_CPUS / BENCH_LOAD_CPUS (taskset lists; default: 2nd CPU / the others).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { ensureBenchPeers } from '../scripts/ensure.mjs';
import { CASES } from './lib/cases.mjs';
import { H2_CASE_IDS, runHttp2Section } from './lib/h2.mjs';
import { loadTool, runLoad } from './lib/load.mjs';
import {
  clockTicks,
  cpuLayout,
  cpuTimes,
  parseCpuList,
  describeExit,
  freePort,
  killAllSync,
  pinSelf,
  runCommand,
  runHarness,
  sleep,
  startProcess,
  startReaper,
  stopAll,
  stopProcess,
  tailFile,
  treeStats,
  waitForPort,
} from './lib/procs.mjs';
import { machineInfo, markdownReport, median, spliceResults, summarize, textTable } from './lib/report.mjs';
import { openLoopTable, runOpenLoopSection } from './lib/open-loop-section.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const WORK = path.join(ROOT, '.bench');
const PAUSE_MS = 300; // between runs: let closed connections settle

const HELP = `Usage: node bench/run.mjs [options]

  --quick               1 round x 2 s, 1 s warm-up (for development)
  --only a,b            cases to run (direct always runs: it is the reference)
                        cases: ${CASES.map((c) => c.id).join(', ')}
                        HTTP/2 cases (h2load; run when named, or when --only is not given): ${H2_CASE_IDS.join(', ')}
  --case-filter s       body sizes whose name contains s (e.g. 1k)
  --markdown FILE       also write the table and the machine description as markdown
  --help

Environment: BENCH_DURATION=5 BENCH_ROUNDS=3 BENCH_WARMUP=2 BENCH_CONNECTIONS=50
             BENCH_SIZES=1k,64k BENCH_LOAD_TOOL=wrk|autocannon BENCH_OPEN_LOOP=0 (skip the open-loop section)
             BENCH_OPEN_LOOP_GENERATOR=c|node BENCH_OPEN_LOOP_UPSTREAM=node|nginx BENCH_OPEN_LOOP_RT=0|load (no SCHED_FIFO | not for the proxy)
             BENCH_PROXY_CPUS=1 BENCH_LOAD_CPUS=0`;

class UsageError extends Error {}

function parseArgs(argv) {
  const o = { quick: false, only: null, caseFilter: null, markdown: null, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const eq = a.indexOf('=');
      if (eq !== -1) return a.slice(eq + 1);
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    const name = a.split('=')[0];
    if (name === '--quick') o.quick = true;
    else if (name === '--only') o.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (name === '--case-filter') o.caseFilter = value();
    else if (name === '--markdown') o.markdown = value();
    else if (name === '--help' || name === '-h') o.help = true;
    else throw new UsageError(`unknown option ${a}`);
  }
  return o;
}

function envNumber(name, def, { min = 1 } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${name}=${raw}: expected a number >= ${min}`);
  return n;
}

function sizeBytes(name) {
  const m = /^(\d+)(k|m)?$/i.exec(name);
  if (!m) throw new UsageError(`body size "${name}": expected e.g. 512, 1k, 64k, 1m`);
  return Number(m[1]) * (m[2] === undefined ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024);
}

/**
 * One plain GET (no keep-alive): the case must answer 200 with exactly the body size
 * (decoded, for a case that asks for compression: then it must be compressed).
 */
function probe(port, size, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/${size}`, agent: false, timeout: 5000, headers }, (res) => {
      let n = 0;
      const wantEncoding = headers['accept-encoding'];
      const encoding = res.headers['content-encoding'];
      const body = encoding === 'gzip' ? res.pipe(zlib.createGunzip()) : res;
      body.on('data', (d) => (n += d.length));
      body.on('end', () => {
        const want = sizeBytes(size);
        if (res.statusCode !== 200) resolve(`GET /${size} answered ${res.statusCode}`);
        else if (wantEncoding !== undefined && encoding !== wantEncoding) resolve(`GET /${size} with Accept-Encoding: ${wantEncoding} came back ${encoding === undefined ? 'uncompressed' : encoding}`);
        else if (n !== want) resolve(`GET /${size} returned ${n} bytes instead of ${want}`);
        else resolve(null);
      });
      body.on('error', (e) => resolve(`GET /${size}: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
    req.on('error', (e) => resolve(`GET /${size}: ${e.message}`));
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const settings = {
    duration: envNumber('BENCH_DURATION', opts.quick ? 2 : 5),
    rounds: Math.round(envNumber('BENCH_ROUNDS', opts.quick ? 1 : 3)),
    warmup: envNumber('BENCH_WARMUP', opts.quick ? 1 : 2, { min: 0 }),
    connections: Math.round(envNumber('BENCH_CONNECTIONS', 50)),
  };
  let sizes = (process.env.BENCH_SIZES || '1k,64k').split(',').map((s) => s.trim()).filter(Boolean);
  sizes.forEach(sizeBytes);
  if (opts.caseFilter !== null) sizes = sizes.filter((s) => s.includes(opts.caseFilter));
  if (sizes.length === 0) throw new UsageError(`--case-filter ${opts.caseFilter} matches no body size`);
  if (opts.only !== null) {
    const unknown = opts.only.filter((id) => !CASES.some((c) => c.id === id) && !H2_CASE_IDS.includes(id));
    if (unknown.length) throw new UsageError(`unknown case ${unknown.join(', ')}; cases: ${[...CASES.map((c) => c.id), ...H2_CASE_IDS].join(', ')}`);
  }
  const cases = CASES.filter((c) => c.direct || opts.only === null || opts.only.includes(c.id));

  fs.mkdirSync(WORK, { recursive: true });
  const machine = machineInfo(); // before pinning: `nproc` counts the CPUs this process may use
  const layout = cpuLayout();
  pinSelf(layout.load);
  startReaper();
  const tool = loadTool();
  // The Node peers and autocannon live in bench/package.json, installed on first use.
  if (tool === 'autocannon' || cases.some((c) => c.peer === true)) ensureBenchPeers();
  const tick = clockTicks();

  // The upstream shares the load generator's CPUs; the proxy under test gets its own.
  const upstreamPort = await freePort();
  const upstream = startProcess({
    name: 'upstream',
    cmd: process.execPath,
    args: [path.join(ROOT, 'bench/upstream.mjs')],
    cpus: layout.load,
    env: { PORT: String(upstreamPort) },
    logPath: path.join(WORK, 'upstream.log'),
  });
  await waitForPort(upstreamPort, upstream);
  for (const size of sizes) {
    const bad = await probe(upstreamPort, size);
    if (bad) throw new Error(`upstream is broken: ${bad}`);
  }

  const ctx = { root: ROOT, workDir: WORK, upstreamPort, cpus: layout.proxy };
  const state = new Map();
  const proxyCpus = layout.pinned ? parseCpuList(layout.proxy).length : 0;
  const warnings = [];
  for (const c of cases) {
    const st = { def: c, status: 'ok', reason: null, direct: c.direct === true, handle: null, port: upstreamPort, version: null, sizes: new Map() };
    for (const size of sizes) st.sizes.set(size, { runs: [], peakRssKb: 0, cpuSec: 0, wallSec: 0, loadCpu: { busy: 0, total: 0 }, proxyCpu: { busy: 0, total: 0 }, proxyCpus });
    state.set(c.id, st);
    if (c.direct) continue;
    st.version = c.version?.(ctx) ?? null;
    const why = c.unavailable?.(ctx) ?? null;
    if (why !== null) {
      st.status = 'skipped';
      st.reason = why;
      continue;
    }
    for (const w of c.warnings?.(ctx) ?? []) warnings.push(`${c.id}: ${w}`);
    try {
      st.port = await freePort();
      st.handle = c.start(ctx, st.port);
      await waitForPort(st.port, st.handle, 20_000);
      for (const size of sizes) {
        const bad = await probe(st.port, size, c.requestHeaders ?? {});
        if (bad) throw new Error(bad);
      }
    } catch (e) {
      st.status = 'failed';
      st.reason = oneLine(e.message);
      if (st.handle) await stopProcess(st.handle);
    }
  }

  const busy = Number(machine.loadavg.split(' ')[0]);
  if (busy > 0.5) warnings.push(`the machine was not idle at start (load average ${busy}): other work competes for the CPUs, numbers are noisy`);

  const active = [...state.values()].filter((s) => s.status === 'ok');
  const runSeconds = sizes.length * active.length * (settings.warmup + settings.rounds * settings.duration + (1 + settings.rounds) * (PAUSE_MS / 1000 + 0.2));
  const wantH2 = opts.only === null || opts.only.some((id) => H2_CASE_IDS.includes(id));
  const h2Seconds = wantH2 ? sizes.length * 3 * (settings.warmup + settings.rounds * settings.duration + 2) + 10 : 0;
  // The open-loop section: a warm-up and a run per case and size; with the NGINX upstream, a restart and a closed-loop warm-up per case too.
  const restarts = process.env.BENCH_OPEN_LOOP_UPSTREAM !== 'node' ? active.length * (2 + sizes.length * (settings.warmup + settings.duration)) : 0;
  const openLoopSeconds = process.env.BENCH_OPEN_LOOP === '0' ? 0 : sizes.length * (active.length + 1) * (settings.warmup + settings.duration + 1) + restarts;
  const estimate = Math.ceil(runSeconds + h2Seconds + openLoopSeconds);
  // Hard bound on the whole run: a hung load generator or server must not hang the harness.
  const watchdog = setTimeout(() => {
    process.stderr.write(`\nbench: watchdog: still running after ${2 * estimate + 120} s, stopping everything\n`);
    killAllSync();
    process.exit(3);
  }, (2 * estimate + 120) * 1000);
  watchdog.unref();

  const header = [
    `Brisk benchmark — ${machine.date}`,
    `machine: ${machine.nproc} CPU(s), ${machine.cpu}, ${machine.memory}, ${machine.kernel}, load avg ${machine.loadavg}`,
    `node ${machine.node}; load generator: ${tool === 'wrk' ? machine.wrk : 'autocannon (Node, pinned child process)'}`,
    layout.pinned
      ? `cores: proxy under test on CPU ${layout.proxy}; upstream + load generator + harness on CPU ${layout.load}`
      : `cores: NOT pinned (${layout.taskset ? 'fewer than 2 CPUs' : 'taskset missing'}): proxy, upstream and client compete for the same CPUs`,
    `method: ${settings.connections} keep-alive connections, GET, bodies ${sizes.join(' / ')}; ${settings.warmup} s warm-up per case, then ${settings.rounds} round(s) x ${settings.duration} s, cases interleaved; req/s, p50, p99 = median over rounds`,
    `cases: ${[...state.values()].map((s) => `${s.def.id}${s.status === 'ok' ? '' : ` (${s.status})`}`).join(', ')}`,
    `estimated time: ~${estimate < 90 ? `${estimate} s` : `${(estimate / 60).toFixed(1)} min`}`,
  ];
  process.stdout.write(header.join('\n') + '\n');
  for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
  process.stdout.write('\n');

  const total = sizes.length * active.length * (settings.rounds + (settings.warmup > 0 ? 1 : 0));
  let done = 0;
  const runOne = async (st, size, seconds, record) => {
    const slot = st.sizes.get(size);
    if (st.status !== 'ok') return;
    if (st.handle && st.handle.exit !== null) {
      markDead(st);
      return;
    }
    const log = st.def.accessLog?.(ctx);
    if (log !== undefined) fs.truncateSync(log, 0);
    const pid = st.handle?.pid;
    const before = pid ? treeStats(pid) : null;
    let peak = before?.rssKb ?? 0;
    const sampler = pid
      ? setInterval(() => {
          peak = Math.max(peak, treeStats(pid).rssKb);
        }, 100)
      : null;
    const loadCpu0 = cpuTimes(layout.load);
    const proxyCpu0 = cpuTimes(layout.proxy);
    const t0 = process.hrtime.bigint();
    let result;
    try {
      result = await runLoad({ tool, url: `http://127.0.0.1:${st.port}/${size}`, connections: settings.connections, seconds, cpus: layout.load, workDir: WORK, headers: st.def.requestHeaders ?? {} });
    } catch (e) {
      // A load generator that fails because the server under test died is that case's failure;
      // otherwise the harness itself is broken.
      if (st.handle?.exit === null) await sleep(500);
      if (st.handle && st.handle.exit !== null) {
        markDead(st);
        return;
      }
      throw e;
    } finally {
      if (sampler) clearInterval(sampler);
    }
    const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
    if (record) {
      const [l, p] = [cpuTimes(layout.load), cpuTimes(layout.proxy)];
      slot.loadCpu.busy += l.busy - loadCpu0.busy;
      slot.loadCpu.total += l.total - loadCpu0.total;
      slot.proxyCpu.busy += p.busy - proxyCpu0.busy;
      slot.proxyCpu.total += p.total - proxyCpu0.total;
    }
    done++;
    if (st.handle && st.handle.exit !== null) {
      markDead(st);
      return;
    }
    if (pid) {
      const after = treeStats(pid);
      peak = Math.max(peak, after.rssKb);
      slot.peakRssKb = Math.max(slot.peakRssKb, peak);
      if (record) {
        slot.cpuSec += (after.cpuTicks - before.cpuTicks) / tick;
        slot.wallSec += wallSec;
      }
    }
    if (record) slot.runs.push(result);
    // Logging must really happen, or the case is cheaper than the one the table claims.
    if (log !== undefined && result.requests > 0 && !(fs.statSync(log, { throwIfNoEntry: false })?.size > 0) && !st.logWarned) {
      st.logWarned = true;
      const w = `${st.def.id}: access log ${path.relative(ROOT, log)} stayed empty during a run of ${result.requests} requests`;
      warnings.push(w);
      process.stdout.write(`  warning: ${w}\n`);
    }
    process.stdout.write(
      `  [${String(done).padStart(String(total).length)}/${total}] ${record ? 'run   ' : 'warmup'} ${st.def.id.padEnd(14)} ${size.padEnd(4)} ${Math.round(result.rps).toLocaleString('en-US').padStart(8)} req/s  p99 ${result.p99.toFixed(2)} ms${result.errors ? `  errors ${result.errors}` : ''}\n`,
    );
    await sleep(PAUSE_MS);
  };
  const markDead = (st) => {
    const tail = tailFile(st.handle.logPath);
    st.status = 'failed';
    st.reason = oneLine(`${describeExit(st.handle.exit)} during the run${tail ? `: ${tail}` : ''}`);
  };

  if (settings.warmup > 0) for (const size of sizes) for (const st of active) await runOne(st, size, settings.warmup, false);
  for (let r = 0; r < settings.rounds; r++) for (const size of sizes) for (const st of active) await runOne(st, size, settings.duration, true);

  // Open loop: latency at a fixed rate, half of each case's own maximum (bench/lib/open-loop-section.mjs).
  let openLoop = { rows: [], notes: [] };
  if (process.env.BENCH_OPEN_LOOP !== '0') {
    process.stdout.write('\n');
    const measured = active.filter((st) => st.status === 'ok' && sizes.every((size) => st.sizes.get(size).runs.length > 0));
    const rps = (st, size) => median(st.sizes.get(size).runs.map((r) => r.rps));
    const closedLoop = (st, size, seconds) =>
      runLoad({ tool, url: `http://127.0.0.1:${st.port}/${size}`, connections: settings.connections, seconds, cpus: layout.load, workDir: WORK, headers: st.def.requestHeaders ?? {} });
    openLoop = await runOpenLoopSection({ active: measured, sizes, sizeBytes, rps, ctx, settings, layout, upstreamPid: upstream.pid, probe, closedLoop });
  }

  await stopAll();
  // HTTP/2 (h2 client → proxy → h2c upstream): its own load tool, its own small table.
  const h2 = wantH2 ? await runHttp2Section({ root: ROOT, workDir: WORK, layout, settings, sizes: sizes.filter((s) => sizeBytes(s) <= 64 * 1024), only: opts.only }) : null;
  clearTimeout(watchdog);
  await stopAll();

  const ids = [...state.keys()];
  const rows = summarize(state, ids, sizes);
  const disturbed = rows.filter((r) => r.ok && r.foreignPct > 10);
  if (disturbed.length > 0) {
    warnings.push(
      `other processes took CPU ${layout.proxy} (the proxy's) during ${disturbed.map((r) => `${r.id} ${r.size} (${r.foreignPct.toFixed(0)} %)`).join(', ')}: those rows are understated`,
    );
  }
  const notes = [
    'req/s, p50, p99: median over rounds; spread: half the range of req/s over rounds; errors: non-2xx + socket errors, all rounds.',
    'RSS: peak resident memory of the proxy process tree (sampled every 100 ms). proxy CPU%: its CPU time / wall time in the measured rounds (100 = one core). load CPU%: how busy the client + upstream CPU(s) were (100 = saturated). req/CPU-s: requests served per second of proxy CPU time.',
    'vs direct / floor / nginx: req/s divided by that case\'s req/s for the same body. When load CPU% is near 100 and proxy CPU% is not, the client + upstream core was the limit, not the proxy.',
  ];
  process.stdout.write('\n' + textTable(rows) + '\n\n' + notes.map((n) => `  ${n}`).join('\n') + '\n');
  if (openLoop.rows.length > 0) {
    process.stdout.write(`\nOpen loop: a fixed rate, half of each case's req/s above; latency from when each request was due (no coordinated omission)\n${openLoopTable(openLoop.rows)}\n`);
    process.stdout.write(`${openLoop.notes.map((n) => `  ${n}`).join('\n')}\n  load average at the end: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
  }
  if (h2 !== null) process.stdout.write(h2.skipped === null ? `\nHTTP/2 (h2 client → proxy → h2c upstream)\n${h2.text}\n` : `\nHTTP/2 cases skipped: ${h2.skipped}\n`);
  for (const w of warnings) process.stdout.write(`  warning: ${w}\n`);

  if (opts.markdown !== null) {
    let md = markdownReport({ machine, settings, sizes, layout, tool, state, rows, notes, warnings, quick: opts.quick });
    if (openLoop.rows.length > 0) md = `${md.trimEnd()}\n\n### Open loop: latency at half of each case's maximum\n\nA fixed rate (half of the case's median req/s above), latency counted from when each request was due, so a stall is charged to every request that waited for it (wrk2's method; bench/lib/open-loop-section.mjs).\n\n${openLoopTable(openLoop.rows, true)}\n\n${openLoop.notes.map((n) => `- ${n}`).join('\n')}\n`;
    if (h2 !== null && h2.skipped === null) md = `${md.trimEnd()}\n\n### HTTP/2: h2 client → proxy → h2c upstream\n\n${h2.markdown}\n`;
    const file = path.resolve(opts.markdown);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, spliceResults(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null, md));
    process.stdout.write(`\nmarkdown written to ${path.relative(process.cwd(), file) || file}\n`);
  }
  return 0;
}

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').trim().slice(0, 300);
}

runHarness({ name: 'bench', main, stop: stopAll, killSync: killAllSync, stopping: 'servers', help: HELP, UsageError });
