// The same service and load under PM2, the usual Node answer, for the side-by-side table
// in docs/services.md: cluster mode, 3 instances sharing one port, clients straight at
// it. PM2 is installed on demand (npm, into .proofs/pm2) and runs with a PM2_HOME of its
// own, so an existing PM2 is never touched; its daemon is killed at the end (`pm2 kill`,
// then by the PID in its pid file).
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, SERVICE, sleep, until } from './brisk-stack.mjs';
import { LoadGen } from './loadgen.mjs';

const PM2_VERSION = '7';

function installPm2(base, log) {
  const prefix = path.join(base, 'pm2');
  const bin = path.join(prefix, 'node_modules', 'pm2', 'bin', 'pm2');
  if (!existsSync(bin)) {
    log(`pm2: installing pm2@${PM2_VERSION} into ${prefix} (once)…`);
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `pm2@${PM2_VERSION}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0 || !existsSync(bin)) throw new Error('could not install pm2 with npm');
  }
  const version = JSON.parse(readFileSync(path.join(prefix, 'node_modules', 'pm2', 'package.json'), 'utf8')).version;
  return { bin, version };
}

class Pm2 {
  constructor(bin, home) {
    this.bin = bin;
    this.env = { ...process.env, PM2_HOME: home, PM2_DISCRETE_MODE: 'true' };
    this.home = home;
  }

  run(...args) {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [this.bin, ...args], { env: this.env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`pm2 ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
    });
  }

  async list(name = 'products') {
    const all = JSON.parse(await this.run('jlist'));
    return all.filter((p) => p.name === name).map((p) => ({ id: p.pm_id, pid: p.pid, status: p.pm2_env.status, restarts: p.pm2_env.restart_time, uptime: p.pm2_env.pm_uptime }));
  }

  /** PM2's own log, where it says when it gave up on an app. */
  daemonLog() {
    try {
      return readFileSync(path.join(this.home, 'pm2.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async kill() {
    await this.run('kill').catch(() => {});
    const pidFile = path.join(this.home, 'pm2.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

function row(id, name, expected, pass, observed, slice, times = {}) {
  return { id, name, expected, pass, observed, clientErrors: slice.errors, requests: slice.requests, errorKinds: slice.errorKinds, p50Ms: slice.p50Ms, p99Ms: slice.p99Ms, ...times };
}

/** Runs the scenarios under PM2, judged by the same bars where PM2 has the feature at all. */
export async function runPm2(s, dir, base, log) {
  const { bin, version } = installPm2(base, log);
  const pm2 = new Pm2(bin, path.join(dir, 'home'));
  const port = await freePort();
  // PM2 backs off exponentially (exp_backoff_restart_delay) or gives up after max_restarts
  // unstable restarts, not both: the service backs off like Brisk's, the crash loop gives up.
  const app = (name, extraEnv, instances) => ({
    name,
    script: SERVICE,
    instances,
    exec_mode: 'cluster',
    env: { PORT: String(name === 'products' ? port : port + 1), WORK_MS: String(s.workMs), CONCURRENCY: String(s.concurrency), ...extraEnv },
    kill_timeout: s.stopTimeoutMs,
    ...(name === 'products' ? { exp_backoff_restart_delay: 100 } : { restart_delay: 100, max_restarts: s.crashBudget, min_uptime: 1000 }),
  });
  const eco = path.join(dir, 'ecosystem.config.json');
  writeFileSync(eco, JSON.stringify({ apps: [app('products', {}, s.min)] }));
  const rows = [];
  let load = null;
  try {
    await pm2.run('start', eco);
    await until(async () => ((await pm2.list()).filter((p) => p.status === 'online').length === s.min ? true : null), 20_000);
    await sleep(1000);
    load = new LoadGen(`http://127.0.0.1:${port}/work`, s.baseRate, { timeoutMs: 5000 }).start();
    await sleep(2000);
    log(`pm2 ${version}: started ${s.min} instances in cluster mode on port ${port}`);

    // 1. SIGKILL one of 3.
    let before = await pm2.list();
    let t0 = load.now();
    let at = Date.now();
    process.kill(before[0].pid, 'SIGKILL');
    const back = await until(async () => ((await pm2.list()).find((p) => p.id === before[0].id && p.pid !== before[0].pid && p.status === 'online') ?? null), 15_000);
    const restartMs = back === null ? null : Date.now() - at;
    await sleep(s.settleMs);
    const killSlice = load.slice(t0, load.now());
    rows.push(row(1, 'SIGKILL one of 3 instances', '0 client errors; replaced; back in rotation', back !== null && killSlice.errors === 0, back === null ? 'not restarted' : `restarted after ~${restartMs} ms (by exit)`, killSlice, { restartMs, recoveryMs: restartMs }));
    log(`  pm2 1: ${rows.at(-1).observed}; ${rows.at(-1).clientErrors} errors`);

    // 2. SIGSTOP one: PM2 has no HTTP health check; the stopped worker keeps getting connections.
    before = await pm2.list();
    const victim = before[0];
    t0 = load.now();
    process.kill(victim.pid, 'SIGSTOP');
    const watchMs = s.unhealthyForMs + 8000;
    const restarted = await until(async () => ((await pm2.list()).find((p) => p.id === victim.id && p.pid !== victim.pid) ? true : null), watchMs);
    const stopSlice = load.slice(t0, load.now());
    rows.push(row(2, 'SIGSTOP one instance (hung)', '0 client errors; restarted within unhealthyFor + start time', Boolean(restarted) && stopSlice.errors === 0, restarted ? 'restarted' : `not restarted in ${watchMs} ms (PM2 restarts on exit or memory only); requests routed to it hang until the client gives up`, stopSlice, { restartMs: null }));
    process.kill(victim.pid, 'SIGKILL'); // never leave it stopped; PM2 restarts it on this exit
    await until(async () => ((await pm2.list()).filter((p) => p.status === 'online').length === s.min ? true : null), 15_000);
    await sleep(s.settleMs);
    log(`  pm2 2: ${rows.at(-1).observed}; ${rows.at(-1).clientErrors} errors`);

    // 3. One instance +500 ms (SIGUSR2: instances of a cluster share the port).
    before = await pm2.list();
    t0 = load.now();
    process.kill(before[0].pid, 'SIGUSR2');
    const slowWatch = s.slowForS * 1000 + 8000;
    await sleep(slowWatch);
    const after = await pm2.list();
    const slowRestarted = after.find((p) => p.id === before[0].id)?.pid !== before[0].pid;
    rows.push(row(3, `one instance +${s.slowExtraMs} ms slow`, 'restarted (latency rule, or ejected for losing to hedges); siblings untouched', false, slowRestarted ? 'restarted' : `not restarted in ${slowWatch} ms (no latency rule)`, load.slice(t0, load.now()), { restartMs: null }));
    process.kill(before[0].pid, 'SIGUSR2');
    log(`  pm2 3: ${rows.at(-1).observed}; ${rows.at(-1).clientErrors} errors`);

    // 4. Rolling restart: `pm2 reload`.
    await sleep(s.settleMs);
    t0 = load.now();
    at = Date.now();
    await pm2.run('reload', 'products');
    const reloadMs = Date.now() - at;
    await sleep(s.settleMs);
    const reloadSlice = load.slice(t0, load.now());
    rows.push(row(4, 'rolling restart of all instances', '0 client errors', reloadSlice.errors === 0, `pm2 reload took ${reloadMs} ms`, reloadSlice, { restartMs: reloadMs, recoveryMs: reloadMs }));
    log(`  pm2 4: ${rows.at(-1).observed}; ${rows.at(-1).clientErrors} errors`);

    // 5. Load step ×4: no autoscaling.
    t0 = load.now();
    load.setRate(s.baseRate * s.step);
    await sleep(s.stepMs);
    const stepEnd = load.now();
    const late = load.slice(stepEnd - 4000, stepEnd);
    load.setRate(s.baseRate);
    await sleep(s.settleMs + 5000);
    const instances = (await pm2.list()).length;
    rows.push(row(5, `load step ×${s.step} then back`, 'scales out to meet targetInFlight, p99 recovers; scales back in after the window, 0 errors while draining', false, `stays at ${instances} instances (no autoscaling); p99 ${late.p99Ms} ms at the end of the step`, load.slice(t0, load.now()), { restartMs: null }));
    log(`  pm2 5: ${rows.at(-1).observed}; ${rows.at(-1).clientErrors} errors`);

    // 6. Crash loop: a second app that exits at start, same backoff and budget.
    await until(async () => (load.inFlight < 50 ? true : null), 20_000);
    t0 = load.now();
    at = Date.now();
    writeFileSync(eco, JSON.stringify({ apps: [app('flaky', { CRASH_AT_START: '1' }, 1)] }));
    await pm2.run('start', eco);
    // PM2 logs its give-up; `jlist` may keep showing "waiting restart" with a restart_delay.
    const gaveUp = async () => (await pm2.list('flaky'))[0]?.status === 'errored' || /too many unstable restarts/.test(pm2.daemonLog());
    const errored = await until(async () => ((await gaveUp()) ? true : null), 60_000);
    const erroredMs = Date.now() - at;
    const flaky = (await pm2.list('flaky'))[0];
    await sleep(s.settleMs);
    rows.push(row(6, 'crash loop (exits at start)', 'backoff, gives up after the budget, alert fired, Brisk still serves the other services', false, `${flaky?.restarts ?? '?'} restarts, a fixed 100 ms apart (PM2's exponential backoff turns max_restarts off), ${errored ? `given up ("errored") after ${erroredMs} ms` : 'not given up'}; no alert (none built in); the other app kept serving`, load.slice(t0, load.now()), { recoveryMs: errored ? erroredMs : null }));
    log(`  pm2 6: ${rows.at(-1).observed}; ${rows.at(-1).clientErrors} errors`);
  } finally {
    if (load !== null) await load.stop();
    await pm2.kill();
  }
  return { version, rows };
}
