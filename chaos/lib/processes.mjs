// Child processes of the chaos run: backends that can be killed, frozen and restarted, the
// proxy under test, the load generator. Starting, waiting and stopping reuse the benchmark
// helpers (bench/lib/procs.mjs: own process group per child, a watchdog that kills every
// group if the harness dies); what is added here is what the benchmark never needed —
// signals to one backend, a restart on the same port, and resuming frozen processes
// before anything is killed.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  clockTicks,
  cpuLayout as sharedCpuLayout,
  cpuTimes,
  freePort,
  hasCommand,
  killAllSync,
  pinSelf,
  sleep,
  startProcess,
  startReaper,
  stopAll,
  stopProcess,
  treeStats,
  waitForPort,
} from '../../bench/lib/procs.mjs';

export { freePort, hasCommand, pinSelf, sleep, startProcess, startReaper, stopProcess, waitForPort };

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');

/** Epoch milliseconds with sub-millisecond precision, comparable across our processes. */
export const epochMs = () => performance.timeOrigin + performance.now();

/** How many times a process that found its port taken is started again. */
export const PORT_ATTEMPTS = 4;

/** The error says a port we picked free was taken before the process could bind it. */
export function isAddressInUse(err) {
  return /EADDRINUSE|address already in use|cannot bind socket/i.test(String(err?.message ?? err));
}

/** Pids currently SIGSTOPped by us: they are resumed before anything is killed. */
const frozen = new Set();

export function signal(pid, sig) {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export function freeze(handle) {
  frozen.add(handle.pid);
  signal(handle.pid, 'SIGSTOP');
}

export function thaw(handle) {
  signal(handle.pid, 'SIGCONT');
  frozen.delete(handle.pid);
}

function thawAll() {
  for (const pid of frozen) signal(pid, 'SIGCONT');
  frozen.clear();
}

/** Stops every child (frozen ones are resumed first, so they can take their SIGTERM). */
export async function stopEverything() {
  thawAll();
  await stopAll();
}

/** Last resort from a synchronous 'exit' handler. */
export function killEverythingSync() {
  thawAll();
  killAllSync();
}

export async function stopChild(handle, graceMs = 3000) {
  if (frozen.has(handle.pid)) thaw(handle);
  await stopProcess(handle, graceMs);
}

/** The CPU layout, shared with the benchmark; `CHAOS_*` variables override it. */
export function cpuLayout() {
  return sharedCpuLayout('CHAOS');
}

/**
 * One backend process. `restart()` starts a fresh process on the same ports (after a
 * SIGKILL); every incarnation appends to the same request log.
 */
export class Backend {
  constructor({ name, index, dir, cpus, delayMs }) {
    Object.assign(this, { name, index, dir, cpus, delayMs });
    this.port = 0;
    this.controlPort = 0;
    this.handle = null;
    this.logPath = path.join(dir, `${name}.requests.log`);
    this.incarnation = 0;
  }

  /**
   * Starts the process. A port picked free can be taken before the backend binds it (any
   * process's outgoing connection may get it as its source port; the backends' own
   * warm-up connections too): the first start then picks other ports and tries again; a
   * restart, which must keep its ports, tries the same ones again a little later.
   */
  async start() {
    const fresh = this.port === 0;
    if (fresh) fs.writeFileSync(this.logPath, '');
    for (let attempt = 1; ; attempt++) {
      if (fresh) {
        this.port = await freePort();
        this.controlPort = await freePort();
      }
      try {
        return await this.startOnce();
      } catch (e) {
        if (attempt === PORT_ATTEMPTS || !isAddressInUse(e)) throw e;
        if (!fresh) await sleep(200);
      }
    }
  }

  async startOnce() {
    this.incarnation++;
    this.handle = startProcess({
      name: this.name,
      cmd: process.execPath,
      args: [
        path.join(ROOT, 'chaos/backend.mjs'),
        '--name', this.name,
        '--port', String(this.port),
        '--control-port', String(this.controlPort),
        '--delay', String(this.delayMs),
        '--log', this.logPath,
        // A restart warms up less: it happens under full load, on the load generator's core,
        // and the harness times the fault's end by when it listens.
        '--warm', this.incarnation === 1 ? '1500' : '300',
      ],
      cpus: this.cpus,
      logPath: path.join(this.dir, `${this.name}.${this.incarnation}.stdout.log`),
    });
    // The control port opens last: once it answers, both do.
    await waitForPort(this.controlPort, this.handle, 10_000);
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  kill() {
    signal(this.handle.pid, 'SIGKILL');
  }

  async restart() {
    await Promise.race([this.handle.exited, sleep(2000)]);
    return this.start();
  }

  freeze() {
    freeze(this.handle);
  }

  thaw() {
    thaw(this.handle);
  }

  /** Switches the failure mode through the control port. */
  setMode(mode) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.controlPort, method: 'PUT', path: `/mode/${mode}`, agent: false, timeout: 2000 }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`backend ${this.name}: mode ${mode} refused (${res.statusCode})`))));
      });
      req.on('timeout', () => req.destroy(new Error(`backend ${this.name}: control port timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  stop() {
    return this.handle === null ? Promise.resolve() : stopChild(this.handle);
  }

  /** The request log: [{ t, kind, id, outcome }] in the order received. */
  readLog() {
    let text = '';
    try {
      text = fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return [];
    }
    const out = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const [t, kind, id, outcome] = line.split('\t');
      out.push({ t: Number(t), kind, id, outcome });
    }
    return out;
  }
}

/**
 * CPU seconds used so far by a process tree, and busy/total ticks of the given CPUs (all
 * CPUs when null), for differences between two samples.
 */
export function cpuSample(pid, cpus) {
  const core = cpuTimes(cpus ?? '');
  return { at: epochMs(), procSec: treeStats(pid).cpuTicks / clockTicks(), coreBusy: core.busy, coreTotal: core.total };
}

/**
 * Between runs none of our processes works, so whatever keeps the CPUs busy is someone
 * else's. Waits (at most `maxMs`) until the machine has been below `threshold` busy over
 * a whole second, so that a run does not start in the middle of someone's build. Resolves
 * to the busy share last seen (0–1).
 */
export async function waitForQuiet({ maxMs = 30_000, threshold = 0.25 } = {}) {
  const deadline = Date.now() + maxMs;
  let busy = 1;
  for (;;) {
    const a = cpuTimes('');
    await sleep(1000);
    const b = cpuTimes('');
    busy = b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
    if (busy < threshold || Date.now() >= deadline) return busy;
  }
}
