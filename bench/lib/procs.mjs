// Child processes for the benchmark: start them pinned to CPUs in their own process
// group, wait until they listen, sample their memory and CPU, and stop them — always.
// Every group is also registered with a watchdog (reaper.mjs) that kills it if the
// harness itself dies without cleaning up.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** pgid -> handle of every group started and not yet seen to exit. */
const live = new Map();
let reaper = null;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * A tool of the bench installed from Debian when missing and running as root (apt-get,
 * no recommends; `apt-get update` and a second try when the first fails). Null when the
 * command is there (now), else why not.
 */
export function ensureDebianTool(command, pkg) {
  if (hasCommand(command)) return null;
  if (process.getuid?.() !== 0 || !hasCommand('apt-get')) return `${command} not installed (apt-get install ${pkg})`;
  process.stdout.write(`bench: installing ${command} (apt-get install -y ${pkg}) …\n`);
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (install().status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    install();
  }
  return hasCommand(command) ? null : `${command} could not be installed (apt-get install ${pkg} failed)`;
}

/** Parse a Linux CPU list (`0-3,6`) into numbers. */
export function parseCpuList(s) {
  const out = [];
  for (const part of s.split(',')) {
    const [a, b] = part.trim().split('-').map(Number);
    if (!Number.isInteger(a)) continue;
    for (let c = a; c <= (Number.isInteger(b) ? b : a); c++) out.push(c);
  }
  return out;
}

/**
 * Which CPUs the proxy under test gets, and which the rest (upstream or backends, load
 * generator, harness) share: with 2+ CPUs, the second allowed CPU for the proxy (the
 * proxies measured run single-threaded here), all the others for the rest.
 * `<PREFIX>_PROXY_CPUS` / `<PREFIX>_LOAD_CPUS` override (taskset lists); `<PREFIX>_PIN=0`
 * turns pinning off. Shared by the benchmark (`BENCH`) and the chaos run (`CHAOS`).
 */
export function cpuLayout(envPrefix = 'BENCH') {
  let allowed = [];
  try {
    const m = /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) allowed = parseCpuList(m[1]);
  } catch {
    // not Linux
  }
  const taskset = hasCommand('taskset');
  const off = process.env[`${envPrefix}_PIN`] === '0' || !taskset;
  let proxy = process.env[`${envPrefix}_PROXY_CPUS`] || null;
  let load = process.env[`${envPrefix}_LOAD_CPUS`] || null;
  if (proxy === null && load === null && allowed.length >= 2) {
    proxy = String(allowed[1]);
    load = allowed.filter((c) => c !== allowed[1]).join(',');
  }
  const pinned = !off && proxy !== null && load !== null;
  return { pinned, proxy: pinned ? proxy : null, load: pinned ? load : null, allowed, taskset };
}

/**
 * The end of a harness script: runs `main`, and on its end, an error, a signal or an
 * uncaught error stops every child (`stop`, async) before exiting; `killSync` is the last
 * resort on process exit.
 */
export function runHarness({ name, main, stop, killSync, stopping: what, help, UsageError }) {
  let stopping = false;
  const shutdown = async (code, message) => {
    if (stopping) return;
    stopping = true;
    if (message) process.stderr.write(message + '\n');
    try {
      await stop();
    } finally {
      process.exit(code);
    }
  };
  process.on('exit', killSync);
  process.on('SIGINT', () => shutdown(130, `\n${name}: interrupted, stopping ${what}`));
  process.on('SIGTERM', () => shutdown(143, `${name}: terminated, stopping ${what}`));
  process.on('SIGHUP', () => shutdown(129));
  process.on('uncaughtException', (e) => shutdown(1, `${name}: harness error: ${e.stack ?? e}`));
  process.on('unhandledRejection', (e) => shutdown(1, `${name}: harness error: ${e?.stack ?? e}`));
  main().then(
    (code) => shutdown(code),
    (e) => shutdown(e instanceof UsageError ? 2 : 1, e instanceof UsageError ? `${name}: ${e.message}\n\n${help}` : `${name}: harness error: ${e.stack ?? e}`),
  );
}

/** Move this process (all its threads) to the given CPUs. */
export function pinSelf(cpus) {
  if (cpus === null) return;
  spawnSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}

export function startReaper() {
  if (reaper !== null) return;
  reaper = spawn(process.execPath, [path.join(here, 'reaper.mjs')], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  reaper.on('error', () => {});
  reaper.stdin.on('error', () => {});
  reaper.unref();
  reaper.stdin.unref?.();
}

function tellReaper(line) {
  if (reaper !== null && reaper.stdin.writable) reaper.stdin.write(line + '\n');
}

function pinned(cmd, args, cpus) {
  return cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

/**
 * Start a long-running server. Its stdout goes to `stdoutPath` (default: the log),
 * stderr to `logPath`. Returns a handle: { name, pid, exit, exited, logPath }.
 */
export function startProcess({ name, cmd, args = [], cpus = null, env = {}, cwd, logPath, stdoutPath = logPath }) {
  const [c, a] = pinned(cmd, args, cpus);
  // Opened for appending so that the harness can truncate a log between runs.
  const openLog = (file) => {
    fs.writeFileSync(file, '');
    return fs.openSync(file, 'a');
  };
  const errFd = openLog(logPath);
  const outFd = stdoutPath === logPath ? errFd : openLog(stdoutPath);
  let child;
  try {
    child = spawn(c, a, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', outFd, errFd], detached: true });
  } finally {
    fs.closeSync(errFd);
    if (outFd !== errFd) fs.closeSync(outFd);
  }
  const handle = { name, pid: child.pid, child, exit: null, logPath, exited: null };
  handle.exited = new Promise((resolve) => {
    const done = (exit) => {
      if (handle.exit !== null) return;
      handle.exit = exit;
      if (handle.pid !== undefined) {
        tellReaper(`-${handle.pid}`);
        // A leader that exits may leave group members (nginx workers) behind.
        signalGroup(handle.pid, 'SIGKILL');
        live.delete(handle.pid);
      }
      resolve(exit);
    };
    child.on('exit', (code, signal) => done({ code, signal }));
    child.on('error', (error) => done({ code: null, signal: null, error }));
  });
  if (child.pid !== undefined) {
    live.set(child.pid, handle);
    tellReaper(`+${child.pid}`);
  }
  return handle;
}

function signalGroup(pgid, sig) {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

export function describeExit(exit) {
  if (exit === null) return 'running';
  if (exit.error) return exit.error.code === 'ENOENT' ? `command not found (${exit.error.path})` : exit.error.message;
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/**
 * The telling part of a log file for an error message: the first line that looks like
 * an error (a Node exception, an nginx [emerg], an HAProxy [ALERT], `brisk: ...`),
 * else the last few lines.
 */
export function tailFile(file, lines = 4) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const all = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = all.find((l) => /^(\w*Error\b|brisk:)|\[(ALERT|emerg|crit)\]|\b(EADDRINUSE|EACCES)\b/.test(l));
  return (telling ?? all.slice(-lines).join(' | ')).slice(0, 400);
}

/** Resolve when something accepts TCP connections on 127.0.0.1:port; throw if the process dies first. */
export async function waitForPort(port, handle, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (handle.exit !== null) {
      const tail = tailFile(handle.logPath);
      throw new Error(`${describeExit(handle.exit)} before listening${tail ? `: ${tail}` : ''}`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not listening on port ${port} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** SIGTERM the group, then SIGKILL what is left after `graceMs`. */
export async function stopProcess(handle, graceMs = 3000) {
  if (handle.exit !== null || handle.pid === undefined) return;
  signalGroup(handle.pid, 'SIGTERM');
  const t = await Promise.race([handle.exited.then(() => 'exited'), sleep(graceMs).then(() => 'timeout')]);
  if (t === 'timeout') {
    signalGroup(handle.pid, 'SIGKILL');
    await Promise.race([handle.exited, sleep(2000)]);
  }
}

export async function stopAll() {
  await Promise.all([...live.values()].map((h) => stopProcess(h)));
}

/** Last resort from a synchronous 'exit' handler. */
export function killAllSync() {
  for (const pgid of live.keys()) signalGroup(pgid, 'SIGKILL');
  live.clear();
}

/**
 * Run a command to completion (the load generator), pinned, killed after timeoutMs.
 * Resolves { code, signal, stdout, stderr, timedOut }.
 */
export function runCommand(cmd, args, { cpus = null, timeoutMs = 60_000, env = {}, cwd } = {}) {
  const [c, a] = pinned(cmd, args, cpus);
  return new Promise((resolve) => {
    const child = spawn(c, a, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const handle = { name: cmd, pid: child.pid, exit: null };
    if (child.pid !== undefined) {
      live.set(child.pid, handle);
      tellReaper(`+${child.pid}`);
    }
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    const finish = (code, signal, error) => {
      clearTimeout(timer);
      if (child.pid !== undefined) {
        live.delete(child.pid);
        tellReaper(`-${child.pid}`);
      }
      resolve({ code, signal, stdout, stderr: error ? String(error.message) : stderr, timedOut });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** A port that was free a moment ago (loopback). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function descendants(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

/**
 * Put a process tree under the real-time FIFO policy, or back to the normal policy with
 * null: each process's main thread at `priority`, its other threads (V8's GC and compiler
 * helpers, libuv's pool, nginx has none) at `priority - 10`. FIFO has no time slices among
 * equal priorities, so a helper at the main thread's priority, pinned to the same core,
 * would run its whole task while a request waits; one below is preempted at once and still
 * runs before any normal work on the machine. Used by the open-loop section, where other
 * work would otherwise set the tail latency (open-loop-section.mjs). Best effort: false when
 * any `chrt` call failed.
 */
export function setRealtime(pid, priority) {
  let ok = true;
  for (const p of descendants(pid)) {
    let tids = [];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`).map(Number);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      const args = priority === null ? ['-o', '-p', '0', String(tid)] : ['-f', '-p', String(tid === p ? priority : priority - 10), String(tid)];
      ok = spawnSync('chrt', args, { stdio: 'ignore' }).status === 0 && ok;
    }
  }
  return ok;
}

/**
 * Resident memory (kB) and CPU time (clock ticks) of a process and its descendants.
 * Summing the tree matters for nginx (master + worker); for the others it is one process.
 */
export function treeStats(pid) {
  let rssKb = 0;
  let cpuTicks = 0;
  for (const p of descendants(pid)) {
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+)/.exec(status);
      if (m) rssKb += Number(m[1]);
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuTicks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited meanwhile
    }
  }
  return { rssKb, cpuTicks };
}

let clkTck = null;
export function clockTicks() {
  if (clkTck === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clkTck = Number(r.stdout) > 0 ? Number(r.stdout) : 100;
  }
  return clkTck;
}

/**
 * Busy and total time (clock ticks) of the given CPUs from /proc/stat, summed.
 * Differences between two readings give how busy those CPUs were, whoever used them.
 */
export function cpuTimes(cpuList) {
  const want = new Set(parseCpuList(cpuList ?? ''));
  let busy = 0;
  let total = 0;
  try {
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!m || (want.size > 0 && !want.has(Number(m[1])))) continue;
      const f = m[2].trim().split(/\s+/).map(Number);
      // user nice system idle iowait irq softirq steal (guest time is already in user)
      const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
      busy += all - f[3] - f[4];
      total += all;
    }
  } catch {
    // not Linux
  }
  return { busy, total };
}
