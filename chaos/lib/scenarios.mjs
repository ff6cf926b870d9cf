// The scenarios, and running one of them against one proxy: fresh backends, a fresh proxy,
// warm-up, open-loop load, the fault injected on a fixed timeline, everything stopped.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { analyze, timelineText } from './analyze.mjs';
import { startLoad } from './load.mjs';
import { Backend, cpuSample, epochMs, freePort, isAddressInUse, PORT_ATTEMPTS, sleep, stopChild, waitForPort, waitForQuiet } from './processes.mjs';

/** The backend every fault hits. */
export const FAULTY = 'b1';
export const BACKENDS = ['b1', 'b2', 'b3'];

/**
 * When faults start and how long they last, for a run of `durationMs`: with 30 s, the fault
 * starts at 5 s and a long fault lasts 10 s, a short one 5 s; shorter runs scale down, but
 * never below 2 s before the fault (a baseline to compare with) and 2 s of fault.
 */
export function timeline(durationMs) {
  const at = Math.round(Math.min(5000, Math.max(2000, durationMs / 6)));
  const long = Math.round(Math.min(10_000, Math.max(2000, 0.4 * (durationMs - at))));
  return { at, long, short: Math.round(long / 2), end: durationMs };
}

const s = (ms) => `${+(ms / 1000).toFixed(1)} s`;

/**
 * A scenario: `steps(t)` are the fault's actions at times since the start of the measured
 * part (the first one starts the fault, a second one ends it); `tries` says how the
 * requests routed to the faulty backend during the fault are counted:
 *   'proxy'          — from the proxy's own account (a dead backend cannot count);
 *   'any'            — every request the backend's log shows, at the time the client sent it
 *                      (a frozen backend reads them late, but they still count when routed);
 *   '503' | 'reset'  — the requests the backend's log shows it answered that way, at the
 *                      time it did.
 * `short(t)` names the fault in a few words (issue 11's table). The bars each Brisk case
 * is held to in a scenario are in bars.mjs.
 */
export const SCENARIOS = [
  {
    id: 0,
    name: 'baseline',
    short: () => 'none',
    describe: () => 'all three backends healthy',
    steps: () => [],
  },
  {
    id: 1,
    name: 'crash',
    short: (t) => `SIGKILL (restarted after ${s(t.long)})`,
    describe: (t) => `SIGKILL ${FAULTY} at ${s(t.at)}, restart it at ${s(t.at + t.long)}`,
    steps: (t) => [
      { at: t.at, what: 'SIGKILL', run: (b) => b.kill() },
      { at: t.at + t.long, what: 'restart', run: (b) => b.restart() },
    ],
    tries: 'proxy',
  },
  {
    id: 2,
    name: 'freeze',
    short: (t) => `SIGSTOP (frozen) for ${s(t.long)}`,
    describe: (t) => `SIGSTOP ${FAULTY} at ${s(t.at)} for ${s(t.long)}, then SIGCONT`,
    steps: (t) => [
      { at: t.at, what: 'SIGSTOP', run: (b) => b.freeze() },
      { at: t.at + t.long, what: 'SIGCONT', run: (b) => b.thaw() },
    ],
    tries: 'any',
  },
  {
    id: 3,
    name: '503',
    short: (t) => `503 for ${s(t.short)}`,
    describe: (t) => `${FAULTY} answers 503 (health check too) from ${s(t.at)} for ${s(t.short)}`,
    steps: (t) => [
      { at: t.at, what: 'mode 503', run: (b) => b.setMode('503') },
      { at: t.at + t.short, what: 'mode normal', run: (b) => b.setMode('normal') },
    ],
    tries: '503',
  },
  {
    id: 4,
    name: 'reset',
    short: (t) => `RST for ${s(t.long)}`,
    describe: (t) => `${FAULTY} resets every connection it gets a request on (health check too) from ${s(t.at)} for ${s(t.long)}`,
    steps: (t) => [
      { at: t.at, what: 'mode reset', run: (b) => b.setMode('reset') },
      { at: t.at + t.long, what: 'mode normal', run: (b) => b.setMode('normal') },
    ],
    tries: 'reset',
  },
  {
    id: 5,
    name: 'slow',
    short: () => '+500 ms (gray failure)',
    describe: (t) => `${FAULTY} answers 500 ms slower (health check stays fast) from ${s(t.at)} to the end`,
    steps: (t) => [{ at: t.at, what: 'mode slow', run: (b) => b.setMode('slow') }],
    tries: 'any',
    needsBaseline: true,
  },
  {
    id: 6,
    name: 'post-reset',
    short: (t) => `POSTs, read then RST for ${s(t.long)}`,
    describe: (t) => `POSTs without Idempotency-Key; ${FAULTY} reads each request, then resets, from ${s(t.at)} for ${s(t.long)}`,
    steps: (t) => [
      { at: t.at, what: 'mode reset', run: (b) => b.setMode('reset') },
      { at: t.at + t.long, what: 'mode normal', run: (b) => b.setMode('normal') },
    ],
    method: 'POST',
    tries: 'reset',
  },
];

/**
 * Runs one scenario against one proxy and returns its analysis. Throws only when the
 * harness itself broke; a proxy that fails to start or dies is reported in the result.
 */
export async function runScenario({ scenario, proxy, settings, layout, workDir, log, attempt = 1 }) {
  const dir = path.join(workDir, `s${scenario.id}-${proxy.id}${attempt > 1 ? `.${attempt}` : ''}`);
  fs.rmSync(dir, { recursive: true, force: true });
  // A second try of a noisy run from an earlier chaos run would be mistaken for this one's.
  if (attempt === 1) fs.rmSync(`${dir}.2`, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const t = timeline(settings.durationMs);
  const backends = BACKENDS.map((name, index) => new Backend({ name, index, dir, cpus: layout.load, delayMs: settings.backendDelayMs }));
  const faulty = backends.find((b) => b.name === FAULTY);
  let running = null;
  let load = null;
  try {
    const idleBusy = settings.quietWaitMs > 0 ? await waitForQuiet({ maxMs: settings.quietWaitMs }) : null;
    if (idleBusy !== null && idleBusy >= 0.25) log(`    the machine stayed ${(idleBusy * 100).toFixed(0)}% busy with other work; starting anyway`);
    await Promise.all(backends.map((b) => b.start()));
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      running = await proxy.start({ dir, port, backends, cpus: layout.proxy, hedge: settings.hedge });
      try {
        await waitForPort(port, running.handle, 20_000);
        await warm(port, backends);
        break;
      } catch (e) {
        // A port picked free was taken before the proxy bound it: other ports, once more.
        const taken = running.handle.exit !== null && (isAddressInUse(e) || proxyLogsSay(dir, isAddressInUse));
        if (!taken || attempt === PORT_ATTEMPTS) return { failed: `${proxy.label} did not come up: ${oneLine(e.message)}`, dir };
        await stopChild(running.handle, 1000);
        running = null;
      }
    }
    running.observer.start();
    load = startLoad({
      dir,
      url: `http://127.0.0.1:${port}/api/item`,
      rate: settings.rate,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      method: scenario.method ?? 'GET',
      connections: settings.connections,
      timeoutMs: settings.clientTimeoutMs,
      backends: BACKENDS,
      cpus: layout.load,
    });
    const startAt = await load.started;
    const cpu = measureCpu(running.handle.pid, layout.proxy, startAt, settings.durationMs);
    const faults = [];
    const steps = injectFaults(scenario.steps(t), faulty, startAt, load.handle, faults, log);
    const result = await load.done;
    await steps;
    const observed = await running.observer.stop();
    const analysis = {
      cpu: await cpu,
      ...analyze({ scenario, load: result, faults, startAt, backendLogs: new Map(backends.map((b) => [b.name, b.readLog()])), observed, faulty: FAULTY }),
      died: running.handle.exit !== null ? `${proxy.label} exited during the run` : null,
      dir,
      configPath: running.configPath,
    };
    writeRecord(dir, result, analysis, startAt, observed);
    return analysis;
  } finally {
    if (load !== null) await stopChild(load.handle, 1000);
    if (running !== null) await stopChild(running.handle, 3000);
    await Promise.all(backends.map((b) => b.stop()));
  }
}

/** Runs the fault's steps on time (since `startAt`), noting in `faults` when each was done. */
async function injectFaults(steps, backend, startAt, loadHandle, faults, log) {
  for (const step of steps) {
    await sleep(Math.max(0, startAt + step.at - epochMs()));
    if (loadHandle.exit !== null) break;
    await step.run(backend);
    faults.push({ what: step.what, at: step.at, t: epochMs() - startAt });
    log(`    ${(faults.at(-1).t / 1000).toFixed(2).padStart(6)} s  ${step.what} ${backend.name}`);
  }
}

/**
 * CPU over the measured part: the proxy's own (100 = one core), and how busy its core(s)
 * were in all — the difference is other work on the machine, which the figures then carry.
 */
async function measureCpu(pid, cpus, startAt, durationMs) {
  await sleep(Math.max(0, startAt - epochMs()));
  const a = cpuSample(pid, cpus);
  await sleep(Math.max(0, startAt + durationMs - epochMs()));
  const b = cpuSample(pid, cpus);
  const wall = (b.at - a.at) / 1000;
  return {
    proxyPct: Math.max(0, (100 * (b.procSec - a.procSec)) / wall),
    corePct: b.coreTotal > a.coreTotal ? (100 * (b.coreBusy - a.coreBusy)) / (b.coreTotal - a.coreTotal) : null,
  };
}

/** What the run's directory keeps besides the logs: the run in slices, and the figures. */
function writeRecord(dir, load, analysis, startAt, observed) {
  fs.writeFileSync(path.join(dir, 'timeline.txt'), timelineText(load));
  const availability = Object.fromEntries([...observed.states].map(([name, changes]) => [name, changes.map((c) => ({ t: Math.round(c.t - startAt), up: c.up }))]));
  const record = { ...analysis, startAt, startedAt: new Date(startAt).toISOString(), availability, proxyStateAtEnd: observed.last ?? null };
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify(record, (_k, v) => (v === Infinity ? 'Infinity' : v), 2));
}

/**
 * Waits until the proxy has served a request from every backend (bounded), then sends a
 * short burst through it so that it, too, is past its cold start (a Node gateway is several
 * times slower for its first thousand requests) before the ramp-up of the load begins.
 */
async function warm(port, backends) {
  const seen = new Set();
  const deadline = Date.now() + 15_000;
  let last = '';
  while (seen.size < backends.length) {
    if (Date.now() > deadline) throw new Error(`only ${[...seen].join(', ') || 'no backend'} answered through it in 15 s${last ? ` (last: ${last})` : ''}`);
    const r = await get(port);
    if (r.status === 200 && r.servedBy) seen.add(r.servedBy);
    else {
      last = r.error ?? `status ${r.status}`;
      await sleep(50);
    }
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let left = 800;
  const worker = async () => {
    while (left-- > 0) await get(port, agent);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  agent.destroy();
}

function get(port, agent = false) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/warm', agent, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, servedBy: res.headers['x-served-by'] }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
  });
}

/** Whether a log the proxy wrote in the run's directory (its own files: not the backends' or the load generator's) says `test`. */
function proxyLogsSay(dir, test) {
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith('.log') && !/^b\d|^loadgen/.test(e.name)) files.push(f);
    }
  };
  walk(dir);
  return files.some((f) => test(fs.readFileSync(f, 'utf8')));
}

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').trim().slice(0, 300);
}
