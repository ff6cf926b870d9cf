#!/usr/bin/env node
// The workers proof (issue 14): Brisk with 1 and 2 data-plane workers in front of one
// upstream, on loopback, and the bars of the issue, each measured side by side in one run:
//
//   1. req/s per CPU-second of all Brisk processes (primary + workers), 1 vs 2 workers, at
//      the same fixed open-loop rate over 50 keep-alive connections (h2load --rps), and
//      closed loop (wrk -c 50) as a second view;
//   2. the spread of requests across the 2 workers under those 50 connections (max/min);
//   3. under 1,000 req/s open loop: SIGKILL one worker (client errors vs its in-flight, time
//      to a new worker serving), SIGSTOP one (time to detection and replacement), a rolling
//      restart (failed requests), and /metrics totals against the requests answered;
//   4. a rate limit of 100 req/s on a route, offered 300 req/s across 2 workers;
//   5. promtool check metrics.
//
//   npm run proof:workers [-- --quick] [-- --json]
//
// Prints the table (or JSON); exits 1 when a bar is missed. Processes signalled: the Brisk
// started here (by PID) and the workers it reports (by theirs).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { freePort } from '../supervisor/brisk-stack.mjs';
import { LoadGen } from '../supervisor/loadgen.mjs';
import { snapshotAndKill, victimAccount } from './victim.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
// `--kills=N`: only the SIGKILL bar, N times in a row (each once the warm spare is back).
const kills = Number([...args].find((a) => a.startsWith('--kills='))?.slice(8) ?? 0);
const log = (line) => process.stderr.write(`${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);
const which = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

const S = {
  measureS: quick ? 5 : 10,
  rounds: 3,
  rate: quick ? 1500 : 2000,
  faultRate: 1000,
  rateLimit: 100,
  rateLimitOffered: 300,
  rateLimitS: quick ? 6 : 12,
};

/** Runs a command to its end without blocking this process (Brisk's output keeps draining into its log meanwhile). */
function run(cmd, argv) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.resume();
    child.on('close', () => resolve({ stdout }));
  });
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

class Brisk {
  constructor(dir, workers, upstreamPort, extraRoutes = '') {
    this.dir = dir;
    this.workers = workers;
    this.upstreamPort = upstreamPort;
    this.extraRoutes = extraRoutes;
  }

  async start() {
    this.port = await freePort();
    this.adminPort = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.admin = `http://127.0.0.1:${this.adminPort}`;
    const file = path.join(this.dir, `brisk-${this.workers}.yaml`);
    writeFileSync(
      file,
      `# Written by proofs/workers/run.mjs
workers: ${this.workers}
listen: [{ address: "127.0.0.1:${this.port}" }]
admin: { address: "127.0.0.1:${this.adminPort}" }
logging: { accessLog: false, format: json, level: warn }
upstreams:
  app: { targets: [{ url: "http://127.0.0.1:${this.upstreamPort}" }] }
routes:
${this.extraRoutes}  - { name: all, match: { pathPrefix: / }, upstream: app }
`,
    );
    const out = createWriteStream(path.join(this.dir, `brisk-${this.workers}.log`));
    this.child = spawn(process.execPath, [CLI, 'start', '--config', file, '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.pipe(out);
    this.child.stderr.pipe(out);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const r = await request(`${this.admin}/readyz`);
        const body = await r.body.json();
        if (body.status === 'ready') break;
      } catch {
        // Not up yet.
      }
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`brisk with ${this.workers} worker(s) did not start; see ${this.dir}`);
      await sleep(100);
    }
    // The warm spare boots after the workers serve: measure once it is up, not while it loads.
    while (this.workers > 1 && Date.now() < deadline) {
      const r = await this.api('GET', '/api/workers');
      if (r?.spare === 'ready') break;
      await sleep(100);
    }
  }

  async api(method, p) {
    const r = await request(`${this.admin}${p}`, { method, headersTimeout: 120_000, bodyTimeout: 120_000 });
    return r.statusCode === 200 ? (p === '/metrics' ? r.body.text() : r.body.json()) : (await r.body.dump(), null);
  }

  async workerList() {
    return (await this.api('GET', '/api/workers')).workers;
  }

  async pids() {
    return [this.child.pid, ...(await this.workerList()).map((w) => w.pid).filter((p) => p !== null)];
  }

  async metricTotal(name = 'brisk_requests_total') {
    const text = await this.api('GET', '/metrics');
    let t = 0;
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) t += Number(line.slice(line.lastIndexOf(' ') + 1));
    return t;
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await new Promise((r) => this.child.once('exit', r));
  }
}

/** Runs a load for `seconds`; returns requests answered and the CPU seconds of every Brisk process meanwhile. */
async function measure(brisk, mode, seconds, rate = S.rate) {
  const pids = await brisk.pids();
  const before = (await brisk.workerList()).map((w) => w.requests);
  const cpu0 = pids.map(cpuSeconds);
  let answered;
  if (mode === 'open') {
    const perConn = Math.max(1, Math.round(rate / 50));
    const r = await run('h2load', ['--h1', '-c', '50', '--rps', String(perConn), '-D', String(seconds), `${brisk.url}/`]);
    const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(r.stdout);
    answered = m === null ? 0 : Number(m[1]);
  } else {
    const r = await run('wrk', ['-t', '1', '-c', '50', '-d', `${seconds}s`, `${brisk.url}/`]);
    const m = /(\d+) requests in/.exec(r.stdout);
    answered = m === null ? 0 : Number(m[1]);
  }
  const cpu1 = pids.map(cpuSeconds);
  await sleep(300);
  const after = (await brisk.workerList()).map((w) => w.requests);
  const cpu = cpu1.reduce((a, c, i) => a + (c - cpu0[i]), 0);
  const perWorker = after.map((v, i) => v - (before[i] ?? 0));
  return { answered, cpuS: Math.round(cpu * 100) / 100, reqPerCpuS: cpu > 0 ? Math.round(answered / cpu) : 0, perWorker, primaryCpuS: Math.round((cpu1[0] - cpu0[0]) * 100) / 100 };
}

/** The run with the median req/CPU-s of several, with every round's figure beside it. */
function median(runs) {
  const sorted = [...runs].sort((a, b) => a.reqPerCpuS - b.reqPerCpuS);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], rounds: runs.map((r) => r.reqPerCpuS) };
}

/**
 * 1 and 2 workers side by side: both run at once and the measures alternate, round after
 * round (`S.rounds`), each row its median. On a machine shared with other work, CPU-seconds
 * per request drift by tens of per cent from minute to minute; measured one after the
 * other, the two configurations would see different machines.
 */
async function efficiency(dir, upstreamPort) {
  const modes = which('h2load') ? ['open'] : [];
  if (which('wrk')) modes.push('closed');
  const brisks = { 1: new Brisk(dir, 1, upstreamPort), 2: new Brisk(dir, 2, upstreamPort) };
  const runs = {};
  const add = (key, m) => {
    (runs[key] ??= []).push(m);
    log(`  ${key}: ${m.answered} answered, ${m.cpuS} CPU-s (primary ${m.primaryCpuS}): ${m.reqPerCpuS} req/CPU-s; load average ${os.loadavg()[0].toFixed(1)}`);
  };
  try {
    for (const b of Object.values(brisks)) {
      await b.start();
      // Warm-up: JIT, pools, connections.
      await run('wrk', ['-t', '1', '-c', '50', '-d', '2s', `${b.url}/`]);
    }
    for (let round = 0; round < S.rounds; round++) {
      const order = round % 2 === 0 ? [1, 2] : [2, 1];
      for (const mode of modes) {
        for (const workers of order) {
          log(`efficiency round ${round + 1}/${S.rounds}: ${workers} worker(s), ${mode} loop, ${S.measureS} s…`);
          add(`${mode}-${workers}`, await measure(brisks[workers], mode, S.measureS));
        }
      }
      // The control: one process at half the rate is as busy as each of two workers at the full rate.
      if (modes.includes('open')) {
        log(`efficiency round ${round + 1}/${S.rounds}: 1 worker, open loop at ${S.rate / 2} req/s, ${S.measureS} s…`);
        add('open-1-half', await measure(brisks[1], 'open', S.measureS, S.rate / 2));
      }
    }
  } finally {
    for (const b of Object.values(brisks)) if (b.child !== undefined) await b.stop();
  }
  return { modes, ...Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) };
}

/** Milliseconds until a worker other than `pid` serves in slot `index`, counted from `offsetMs` (≤ 0: that long ago); null after `timeoutMs`. */
async function replacedAfter(brisk, index, pid, offsetMs, timeoutMs) {
  const from = performance.now() + offsetMs;
  while (performance.now() - from < timeoutMs) {
    const w = (await brisk.workerList())[index];
    if (w.state === 'ready' && w.pid !== pid) return Math.round(performance.now() - from);
    await sleep(25);
  }
  return null;
}

/**
 * SIGKILLs worker 1 under the load (its connections read at its death, proofs/workers/victim.mjs);
 * returns its requests in flight, the client errors and the time from the kill until a new
 * worker serves in its slot.
 */
async function killOne(brisk, load) {
  const victim = (await brisk.workerList())[0];
  const { killedAt, readMs, frozenMs, conns } = await snapshotAndKill(victim.pid, brisk.port, load);
  const replacedMs = await replacedAfter(brisk, 0, victim.pid, killedAt - load.now(), 15_000);
  // Every request sent around the kill has an outcome by now (the client timeout is 5 s).
  await sleep(Math.max(0, killedAt + 5500 - load.now()));
  const rescued = (await brisk.api('GET', '/api/workers'))?.rescuedConnections ?? null;
  return { ...victimAccount(load, killedAt, conns), readMs, frozenMs, workerInFlight: victim.inFlight, replacedMs, rescued };
}

async function faults(dir, upstreamPort) {
  const brisk = new Brisk(dir, 2, upstreamPort);
  await brisk.start();
  const r = {};
  try {
    const before = await brisk.metricTotal();
    let load = new LoadGen(`${brisk.url}/`, S.faultRate, { timeoutMs: 5000, connections: 50, trackConnections: true }).start();
    await sleep(3000);
    // SIGKILL worker 1: only its in-flight requests may fail; a new worker within 2 s.
    r.kill = await killOne(brisk, load);
    await load.stop();
    await sleep(500);
    const counted = (await brisk.metricTotal()) - before;
    const answered = load.results.filter((x) => x.status > 0).length;
    r.metrics = { answered, counted, diffPct: answered === 0 ? 0 : Math.round(((counted - answered) / answered) * 10000) / 100 };
    load = new LoadGen(`${brisk.url}/`, S.faultRate, { timeoutMs: 5000, connections: 50 }).start();
    await sleep(1000);
    // SIGSTOP worker 2: detected by its heartbeat and replaced within 5 s. A fault of its
    // own: the spare the SIGKILL used has been replaced first (its boot time is reported).
    const spareFrom = Date.now();
    while (Date.now() - spareFrom < 60_000 && (await brisk.api('GET', '/api/workers'))?.spare !== 'ready') await sleep(100);
    r.spareBootMs = Date.now() - spareFrom;
    const list = await brisk.workerList();
    const stopped = list[1];
    const stopAt = load.now();
    process.kill(stopped.pid, 'SIGSTOP');
    const stopReplacedMs = await replacedAfter(brisk, 1, stopped.pid, 0, 20_000);
    try {
      process.kill(stopped.pid, 'SIGKILL');
    } catch {
      // The primary killed it already.
    }
    await sleep(1500);
    const stop = load.slice(stopAt - 200, load.now());
    r.stop = { replacedMs: stopReplacedMs, errors: stop.errors, openConnections: stopped.openConnections };
    // Rolling restart: no failed request.
    const rollAt = load.now();
    const t0 = Date.now();
    await brisk.api('POST', '/api/workers/restart');
    const rollMs = Date.now() - t0;
    await sleep(1000);
    const roll = load.slice(rollAt, load.now() - 500);
    r.rolling = { ms: rollMs, requests: roll.requests, errors: roll.errors, errorKinds: roll.errorKinds };
    await load.stop();
    const text = await brisk.api('GET', '/metrics');
    const promtool = which('promtool') ? spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' }) : null;
    r.promtool = promtool === null ? null : { ok: promtool.status === 0, output: `${promtool.stdout}${promtool.stderr}`.trim() };
  } finally {
    await brisk.stop();
  }
  return r;
}

async function rateLimit(dir, upstreamPort) {
  const routes = `  - { name: limited, match: { pathPrefix: /limited }, upstream: app, rateLimit: { limits: [{ rate: ${S.rateLimit}, per: 1s, burst: ${S.rateLimit / 10}, key: route }] } }\n`;
  const brisk = new Brisk(dir, 2, upstreamPort, routes);
  await brisk.start();
  try {
    const load = new LoadGen(`${brisk.url}/limited`, S.rateLimitOffered, { timeoutMs: 5000, connections: 50 }).start();
    await sleep(2000);
    const from = load.now();
    await sleep(S.rateLimitS * 1000);
    const to = load.now();
    await load.stop();
    const rows = load.results.filter((x) => x.t >= from && x.t < to);
    const admitted = rows.filter((x) => x.status === 200).length;
    const limited = rows.filter((x) => x.status === 429).length;
    const rate = admitted / ((to - from) / 1000);
    const list = await brisk.workerList();
    return { offered: S.rateLimitOffered, admittedPerS: Math.round(rate * 10) / 10, limited, errorPct: Math.round(((rate - S.rateLimit) / S.rateLimit) * 1000) / 10, perWorker: list.map((w) => w.requests) };
  } finally {
    await brisk.stop();
  }
}

function table(res) {
  const rows = [];
  const e = res.efficiency;
  for (const mode of e.modes) {
    const one = e[`${mode}-1`];
    const two = e[`${mode}-2`];
    const drop = one.reqPerCpuS === 0 ? 0 : Math.round((1 - two.reqPerCpuS / one.reqPerCpuS) * 1000) / 10;
    const label = mode === 'open' ? `open loop ${S.rate} req/s, 50 conns` : 'closed loop wrk -c 50';
    rows.push([`req/CPU-s, ${label}: 1 → 2 workers (median of ${one.rounds.length})`, `${one.reqPerCpuS} → ${two.reqPerCpuS} (${drop > 0 ? '-' : '+'}${Math.abs(drop)}%; primary ${two.primaryCpuS} of ${two.cpuS} CPU-s; rounds ${one.rounds.join(', ')} → ${two.rounds.join(', ')})`, 'drop ≤ 10%', mode === 'closed' ? drop <= 10 : null]);
    const spread = Math.max(...two.perWorker) / Math.max(1, Math.min(...two.perWorker));
    rows.push([`spread across 2 workers, ${label}`, `${two.perWorker.join(' / ')} = ${spread.toFixed(2)}`, 'max/min ≤ 1.5', spread <= 1.5]);
  }
  const half = e['open-1-half'];
  const two = e['open-2'];
  if (half !== undefined && two !== undefined) {
    const drop = Math.round((1 - two.reqPerCpuS / half.reqPerCpuS) * 1000) / 10;
    rows.push([`req/CPU-s at the same load per process: 1 worker at ${S.rate / 2} req/s → 2 workers at ${S.rate} (median of ${half.rounds.length})`, `${half.reqPerCpuS} → ${two.reqPerCpuS} (${drop > 0 ? '-' : '+'}${Math.abs(drop)}%; rounds ${half.rounds.join(', ')} → ${two.rounds.join(', ')})`, 'drop ≤ 10%', drop <= 10]);
  }
  const f = res.faults;
  const k = f.kill;
  rows.push([
    'SIGKILL a worker at 1000 req/s: client errors',
    `${k.errors} ${JSON.stringify(k.errorKinds)}: ${k.errorsOnVictim} on its connections, ${k.errorsElsewhere} elsewhere; its requests in flight ${k.inFlight} (${k.inFlightAtKill} written before the kill; ${k.connections} connections, ${k.connectionsWithUnreadBytes} with unread bytes; it reported ${k.workerInFlight} ≤ 100 ms before); handed over ${JSON.stringify(k.rescued)}`,
    '≤ its in-flight, none elsewhere',
    k.errors <= k.inFlight && k.errorsElsewhere === 0,
  ]);
  rows.push(['SIGKILL: a new worker serving after', `${k.replacedMs} ms`, '≤ 2000 ms', k.replacedMs !== null && k.replacedMs <= 2000]);
  rows.push(['SIGSTOP a worker: detected and replaced after', `${f.stop.replacedMs} ms (${f.stop.errors} errors on its ${f.stop.openConnections} connections; the new spare was up ${f.spareBootMs} ms after the kill's replacement)`, '≤ 5000 ms', f.stop.replacedMs !== null && f.stop.replacedMs <= 5000]);
  rows.push(['rolling restart at 1000 req/s: failed requests', `${f.rolling.errors} of ${f.rolling.requests} (${f.rolling.ms} ms)`, '0', f.rolling.errors === 0]);
  rows.push(['/metrics request total vs answered, across the SIGKILL', `${f.metrics.counted} vs ${f.metrics.answered} (${f.metrics.diffPct}%)`, '±0.5%', Math.abs(f.metrics.diffPct) <= 0.5]);
  rows.push(['promtool check metrics', f.promtool === null ? 'promtool not installed' : f.promtool.ok ? 'clean' : f.promtool.output, 'clean', f.promtool === null ? null : f.promtool.ok]);
  const rl = res.rateLimit;
  rows.push([`rate limit ${S.rateLimit}/s, ${rl.offered} req/s offered over 2 workers`, `${rl.admittedPerS}/s admitted (${rl.errorPct}%)`, '±5%', Math.abs(rl.errorPct) <= 5]);
  return rows;
}

/** `--kills=N`: SIGKILL worker 1 N times under the 1,000 req/s load, one row each. */
async function killRuns(dir, upstreamPort, n) {
  const brisk = new Brisk(dir, 2, upstreamPort);
  await brisk.start();
  const out = [];
  try {
    const load = new LoadGen(`${brisk.url}/`, S.faultRate, { timeoutMs: 5000, connections: 50, trackConnections: true }).start();
    for (let i = 0; i < n; i++) {
      const from = Date.now();
      while (Date.now() - from < 60_000 && (await brisk.api('GET', '/api/workers'))?.spare !== 'ready') await sleep(100);
      await sleep(2000);
      const loadAverage = os.loadavg()[0];
      const k = await killOne(brisk, load);
      out.push({ ...k, loadAverage });
      log(`kill ${i + 1}: ${JSON.stringify({ ...k, loadAverage })}`);
    }
    await load.stop();
  } finally {
    await brisk.stop();
  }
  return out;
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'brisk-workers-proof-'));
  const upstream = spawn(process.execPath, [path.join(ROOT, 'proofs', 'workers', 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const upstreamPort = await new Promise((resolve) => upstream.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  let res;
  if (kills > 0) {
    try {
      const runs = await killRuns(dir, upstreamPort, kills);
      process.stdout.write(`${JSON.stringify(runs, null, json ? 2 : 0)}\n`);
      const bad = runs.filter((k) => !(k.errors <= k.inFlight && k.errorsElsewhere === 0 && k.replacedMs !== null && k.replacedMs <= 2000));
      process.exitCode = bad.length === 0 ? 0 : 1;
    } finally {
      // Before exiting: the upstream is a process of its own.
      upstream.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
    process.exit();
  }
  try {
    res = { settings: S, cores: os.availableParallelism(), loadAverage: os.loadavg()[0] };
    res.efficiency = await efficiency(dir, upstreamPort);
    log('faults: SIGKILL, SIGSTOP, rolling restart at 1000 req/s…');
    res.faults = await faults(dir, upstreamPort);
    log('rate limit…');
    res.rateLimit = await rateLimit(dir, upstreamPort);
  } finally {
    upstream.kill('SIGTERM');
  }
  const rows = table(res);
  const failed = rows.filter((r) => r[3] === false);
  if (json) process.stdout.write(`${JSON.stringify({ ...res, rows, ok: failed.length === 0 }, null, 2)}\n`);
  else {
    const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => String(r[c]).length)));
    const line = (r) => `| ${[0, 1, 2].map((c) => String(r[c]).padEnd(w[c])).join(' | ')} | ${r[3] === '' ? '    ' : r[3] === null ? 'info' : r[3] ? 'ok  ' : 'MISS'} |`;
    process.stdout.write(`Brisk workers proof (${res.cores} cores, load average ${res.loadAverage.toFixed(1)} at start)\n\n`);
    process.stdout.write(`${line(['measure', 'result', 'bar', ''])}\n`);
    for (const r of rows) process.stdout.write(`${line(r)}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(failed.length === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
