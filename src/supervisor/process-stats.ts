/**
 * Resident memory and CPU time of an instance's process and its descendants (a
 * `/bin/sh -c` wrapper's child is the real server). On Linux read from /proc (two small
 * reads per process, no child process); elsewhere from one `ps` run.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** One reading. */
export interface ProcessSample {
  readonly rssBytes: number;
  /** User + system CPU seconds since the process started. */
  readonly cpuSeconds: number;
}

/** Linux's USER_HZ: the unit of utime/stime in /proc/PID/stat, 100 on every mainstream build. */
const CLOCK_TICKS = 100;
/** A wrapper rarely nests deeper; the bound keeps a fork bomb from costing us. */
const MAX_PROCESSES = 32;

/**
 * The process `pid` and its descendants, summed; null when it is gone.
 *
 * @example
 * const s = await sampleProcess(child.pid!); // { rssBytes: 48_234_496, cpuSeconds: 0.61 }
 */
export async function sampleProcess(pid: number): Promise<ProcessSample | null> {
  return process.platform === 'linux' ? sampleProc(pid) : samplePs(pid);
}

async function sampleProc(root: number): Promise<ProcessSample | null> {
  let rssBytes = 0;
  let cpuSeconds = 0;
  const queue = [root];
  let seen = 0;
  while (queue.length > 0 && seen < MAX_PROCESSES) {
    const pid = queue.shift()!;
    seen++;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (stat === null) {
      if (pid === root) return null;
      continue;
    }
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    cpuSeconds += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (rss !== null) rssBytes += Number(rss[1]) * 1024;
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    for (const c of children.split(' ')) if (c.trim() !== '') queue.push(Number(c));
  }
  return { rssBytes, cpuSeconds };
}

function samplePs(pid: number): Promise<ProcessSample | null> {
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'rss=,time=', '-p', String(pid)], { timeout: 2000 }, (err, stdout) => {
      if (err !== null) return resolve(null);
      const m = /^\s*(\d+)\s+(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)/.exec(stdout);
      if (m === null) return resolve(null);
      const seconds = Number(m[2] ?? 0) * 86400 + Number(m[3] ?? 0) * 3600 + Number(m[4]) * 60 + Number(m[5]);
      resolve({ rssBytes: Number(m[1]) * 1024, cpuSeconds: seconds });
    });
  });
}
