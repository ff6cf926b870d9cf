import { readFileSync, statfs } from 'node:fs';
import os from 'node:os';

/**
 * The machine the gateway runs on, sampled once a second: CPU busy share (from
 * `/proc/stat` deltas), memory (`MemAvailable` from `/proc/meminfo`), the file system of
 * the working directory (`statfs`, every 10 s), network bytes (`/proc/net/dev`) and the
 * load average. Linux first; elsewhere it degrades to what `os` offers (memory, load,
 * CPU from `os.cpus()` times) and reports zero for what it cannot read.
 *
 * Network: the Prometheus counters are per interface, `lo` included (a gateway in front
 * of local backends moves most of its bytes over loopback, and that is real work); the
 * snapshot's rates (`netRxBytesPerS`, `netTxBytesPerS`) leave `lo` out, so they mean
 * traffic that crossed a real interface. At most 32 interfaces are kept, so a host that
 * churns virtual interfaces cannot grow the series without bound.
 */
export class HostSampler {
  /** Busy share of all cores over the last sample, 0..1. */
  cpuRatio = 0;
  /** CPU seconds since boot by mode (user, system, idle, iowait, …), all cores. */
  readonly cpuSeconds = new Map<string, number>();
  memTotalBytes = os.totalmem();
  memAvailableBytes = os.freemem();
  diskTotalBytes = 0;
  diskFreeBytes = 0;
  /** Bytes since boot per interface. */
  readonly netRx = new Map<string, number>();
  readonly netTx = new Map<string, number>();
  /** Non-loopback bytes per second over the last sample. */
  netRxPerS = 0;
  netTxPerS = 0;
  load1 = 0;

  private lastBusy = -1;
  private lastTotal = -1;
  private lastRx = -1;
  private lastTx = -1;
  private lastAt = 0;
  private samples = 0;
  private diskBusy = false;

  constructor(private readonly dir: string = process.cwd()) {}

  /** Takes one sample; `now` is `performance.now()`. Never throws. */
  sample(now: number): void {
    this.load1 = os.loadavg()[0] ?? 0;
    this.sampleCpu();
    this.sampleMemory();
    this.sampleNet(now);
    if (this.samples % 10 === 0) this.sampleDisk();
    this.samples++;
    this.lastAt = now;
  }

  get memoryUsedRatio(): number {
    return this.memTotalBytes > 0 ? Math.min(1, Math.max(0, 1 - this.memAvailableBytes / this.memTotalBytes)) : 0;
  }

  get diskUsedRatio(): number {
    return this.diskTotalBytes > 0 ? Math.min(1, Math.max(0, 1 - this.diskFreeBytes / this.diskTotalBytes)) : 0;
  }

  private sampleCpu(): void {
    let busy = 0;
    let total = 0;
    const stat = readProc('/proc/stat');
    if (stat !== null) {
      // cpu  user nice system idle iowait irq softirq steal guest guest_nice (USER_HZ ticks)
      const line = stat.slice(0, stat.indexOf('\n'));
      const f = line.trim().split(/\s+/).slice(1).map(Number);
      const hz = 100;
      const modes = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];
      for (let i = 0; i < modes.length && i < f.length; i++) {
        const v = f[i]!;
        if (!Number.isFinite(v)) continue;
        this.cpuSeconds.set(modes[i]!, v / hz);
        total += v;
        if (i !== 3 && i !== 4) busy += v;
      }
    } else {
      for (const c of os.cpus()) {
        const t = c.times;
        busy += t.user + t.nice + t.sys + t.irq;
        total += t.user + t.nice + t.sys + t.irq + t.idle;
      }
    }
    if (this.lastTotal >= 0 && total > this.lastTotal) this.cpuRatio = Math.min(1, Math.max(0, (busy - this.lastBusy) / (total - this.lastTotal)));
    this.lastBusy = busy;
    this.lastTotal = total;
  }

  private sampleMemory(): void {
    const info = readProc('/proc/meminfo');
    if (info !== null) {
      const total = /^MemTotal:\s+(\d+) kB/m.exec(info);
      const avail = /^MemAvailable:\s+(\d+) kB/m.exec(info);
      if (total !== null && avail !== null) {
        this.memTotalBytes = Number(total[1]) * 1024;
        this.memAvailableBytes = Number(avail[1]) * 1024;
        return;
      }
    }
    this.memTotalBytes = os.totalmem();
    this.memAvailableBytes = os.freemem();
  }

  private sampleNet(now: number): void {
    const dev = readProc('/proc/net/dev');
    if (dev === null) return;
    let rx = 0;
    let tx = 0;
    for (const line of dev.split('\n').slice(2)) {
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim();
      const f = line.slice(colon + 1).trim().split(/\s+/);
      const r = Number(f[0]);
      const t = Number(f[8]);
      if (!Number.isFinite(r) || !Number.isFinite(t)) continue;
      if (this.netRx.has(name) || this.netRx.size < 32) {
        this.netRx.set(name, r);
        this.netTx.set(name, t);
      }
      if (name !== 'lo') {
        rx += r;
        tx += t;
      }
    }
    const dt = (now - this.lastAt) / 1000;
    if (this.lastRx >= 0 && dt > 0) {
      this.netRxPerS = Math.max(0, (rx - this.lastRx) / dt);
      this.netTxPerS = Math.max(0, (tx - this.lastTx) / dt);
    }
    this.lastRx = rx;
    this.lastTx = tx;
  }

  private sampleDisk(): void {
    if (this.diskBusy || typeof statfs !== 'function') return;
    this.diskBusy = true;
    // Asynchronous: a hung network file system must not stall the event loop.
    statfs(this.dir, (err, s) => {
      this.diskBusy = false;
      if (err !== null) return;
      this.diskTotalBytes = s.blocks * s.bsize;
      // `bavail`, not `bfree`: what an unprivileged process can still write, as df shows.
      this.diskFreeBytes = s.bavail * s.bsize;
    });
  }
}

function readProc(path: string): string | null {
  if (process.platform !== 'linux') return null;
  try {
    // /proc files live in kernel memory: a synchronous read takes microseconds.
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}
