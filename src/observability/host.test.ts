import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostSampler } from './host.js';

test('host samples are within their ranges (and degrade to zeros, not errors, off Linux)', async () => {
  const host = new HostSampler(process.cwd());
  host.sample(performance.now());
  // Burn a little CPU so the second sample has a delta to read.
  const until = performance.now() + 50;
  while (performance.now() < until);
  await new Promise((r) => setTimeout(r, 20));
  host.sample(performance.now());
  assert.ok(host.cpuRatio >= 0 && host.cpuRatio <= 1, `cpu ${host.cpuRatio}`);
  assert.ok(host.memTotalBytes > 0 && host.memAvailableBytes >= 0 && host.memAvailableBytes <= host.memTotalBytes);
  assert.ok(host.memoryUsedRatio > 0 && host.memoryUsedRatio < 1);
  assert.ok(host.load1 >= 0);
  assert.ok(host.netRxPerS >= 0 && host.netTxPerS >= 0);
  if (process.platform === 'linux') {
    assert.ok(host.cpuSeconds.get('user')! > 0);
    assert.ok(host.netRx.has('lo'), 'loopback is listed in the per-interface counters');
    assert.ok(host.netRx.size <= 32);
    // statfs is asynchronous: its first answer arrives after the first sample.
    for (let i = 0; i < 50 && host.diskTotalBytes === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(host.diskTotalBytes > 0 && host.diskFreeBytes <= host.diskTotalBytes);
    assert.ok(host.diskUsedRatio > 0 && host.diskUsedRatio <= 1);
  }
});
