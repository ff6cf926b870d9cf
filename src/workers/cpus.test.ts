import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { availableCpus, cgroupQuota, resolveWorkers } from './cpus.js';

const files = (map: Record<string, string>) => (path: string) => map[path] ?? null;

test('cgroup v2: cpu.max of the process own cgroup, "max" is no quota', () => {
  assert.equal(cgroupQuota(files({ '/proc/self/cgroup': '0::/box\n', '/sys/fs/cgroup/box/cpu.max': '150000 100000\n' })), 1.5);
  assert.equal(cgroupQuota(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), null);
});

test('cgroup v1: cfs quota over period, -1 is no quota', () => {
  assert.equal(cgroupQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '50000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), 0.5);
  assert.equal(cgroupQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), null);
});

test('availableCpus: the quota rounded up, never above the affinity, never below 1', () => {
  const affinity = availableParallelism();
  assert.equal(availableCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '150000 100000' })), Math.min(affinity, 2));
  assert.equal(availableCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '1000 100000' })), 1);
  assert.equal(availableCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': `${(affinity + 8) * 100000} 100000` })), affinity);
  assert.equal(availableCpus(files({})), affinity);
});

test('resolveWorkers: absent is 1, auto asks the CPUs, a number is taken', () => {
  assert.equal(resolveWorkers(undefined), 1);
  assert.equal(resolveWorkers(3), 3);
  assert.equal(resolveWorkers('auto', () => 5), 5);
});
