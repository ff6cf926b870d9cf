import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * How many CPUs this process may really use: the smaller of its CPU affinity (what
 * `os.availableParallelism()` reports: `sched_getaffinity`, so `taskset` and cpusets
 * count) and its cgroup CPU quota rounded up (a container given `--cpus=1.5` on a
 * 16-core host gets 2, not 16: more workers than the quota only adds context switches).
 *
 * @example
 * availableCpus() // 2 on a 2-core machine; 1 in a container with cpu.max "100000 100000"
 */
export function availableCpus(readFile: (path: string) => string | null = readText): number {
  const affinity = Math.max(1, availableParallelism());
  const quota = cgroupQuota(readFile);
  return quota === null ? affinity : Math.max(1, Math.min(affinity, Math.ceil(quota)));
}

/**
 * The cgroup CPU quota in CPUs, or null when there is none: cgroup v2's `cpu.max`
 * (`QUOTA PERIOD`, `max` for none) of the process's own cgroup, else cgroup v1's
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1 for none).
 */
export function cgroupQuota(readFile: (path: string) => string | null = readText): number | null {
  const v2Path = ownCgroupV2Path(readFile);
  for (const dir of v2Path === null ? ['/sys/fs/cgroup'] : [`/sys/fs/cgroup${v2Path}`, '/sys/fs/cgroup']) {
    const max = readFile(`${dir.replace(/\/+$/, '')}/cpu.max`);
    if (max === null) continue;
    const [quota, period] = max.trim().split(/\s+/);
    if (quota === 'max' || quota === undefined) return null;
    const q = Number(quota);
    const p = Number(period ?? '100000');
    return q > 0 && p > 0 ? q / p : null;
  }
  const q = readFile('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ?? readFile('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us');
  const p = readFile('/sys/fs/cgroup/cpu/cpu.cfs_period_us') ?? readFile('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us');
  if (q === null || p === null) return null;
  const quota = Number(q.trim());
  const period = Number(p.trim());
  return quota > 0 && period > 0 ? quota / period : null;
}

/** The process's cgroup v2 path (`0::/some/path` in /proc/self/cgroup), or null. */
function ownCgroupV2Path(readFile: (path: string) => string | null): string | null {
  const text = readFile('/proc/self/cgroup');
  if (text === null) return null;
  for (const line of text.split('\n')) if (line.startsWith('0::')) return line.slice(3).trim();
  return null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The number of workers for a `workers` value (config or `--workers`): `auto` is
 * `availableCpus()`, a number is taken as is.
 */
export function resolveWorkers(value: number | 'auto' | undefined, cpus: () => number = availableCpus): number {
  if (value === undefined) return 1;
  return value === 'auto' ? cpus() : value;
}
