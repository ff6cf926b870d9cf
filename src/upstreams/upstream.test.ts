import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { expectValid } from '../config/testing.js';
import type { UpstreamConfig } from '../config/types.js';
import { TargetRegistry } from './registry.js';
import { Upstream } from './upstream.js';
import { loadTransports } from './pools.js';

const logger = pino({ level: 'silent' });

function upstreamConfig(ports: number[], extra = ''): UpstreamConfig {
  const { config } = expectValid(`listen:
  - address: 127.0.0.1:0
upstreams:
  app:
    balancer: round-robin
    targets:
${ports.map((p) => `      - url: http://127.0.0.1:${p}`).join('\n')}
${extra}routes:
  - name: r
    upstream: app
`);
  return config.upstreams['app']!;
}

// With BRISK_UPSTREAM_TRANSPORT=lean the pools built here are lean ones: load that transport
// as `loadRouteCode` does for a gateway.
await loadTransports([upstreamConfig([7001])]);

const registries: TargetRegistry[] = [];
after(async () => {
  for (const r of registries) await r.closeAll(0);
});

function registry(): TargetRegistry {
  const r = new TargetRegistry();
  registries.push(r);
  return r;
}

const picks = (u: Upstream, n: number) => new Set(Array.from({ length: n }, () => u.pick(null, null)?.origin));

describe('Upstream following its live target set', () => {
  it('the version in force picks what the set holds; a replaced version catches up on its next pick', async () => {
    const reg = registry();
    reg.beginGeneration();
    const v1 = new Upstream(upstreamConfig([7001, 7002]), reg, logger);
    await v1.activate();
    assert.deepEqual(picks(v1, 4), new Set(['http://127.0.0.1:7001', 'http://127.0.0.1:7002']));

    reg.beginGeneration();
    const v2 = new Upstream(upstreamConfig([7001, 7002]), reg, logger);
    await v2.activate();
    v1.deactivate();
    reg.sweep();
    assert.equal(v2.set, v1.set, 'one set across versions');

    v2.set.apply({ op: 'add', source: 'admin', target: { origin: 'http://127.0.0.1:7003', basePath: '', weight: 1 } });
    v2.set.apply({ op: 'drain', key: 'http://127.0.0.1:7001' });
    const now = new Set(['http://127.0.0.1:7002', 'http://127.0.0.1:7003']);
    assert.deepEqual(picks(v2, 6), now);
    assert.deepEqual(picks(v1, 6), now, 'a request still on the old version never goes to a target that left');
    assert.equal(v2.targets.length, 2);
  });

  it('warming targets count neither for picks nor for panic mode', async () => {
    const reg = registry();
    reg.beginGeneration();
    const u = new Upstream(upstreamConfig([7001], '    healthCheck: { path: /healthz, interval: 1h }\n'), reg, logger);
    // No backend answers: the first probe fails after its timeout; the test reads state before that.
    const activating = u.activate();
    u.set.members[0]!.setActiveHealth(true, null);
    for (const port of [7002, 7003, 7004]) u.set.apply({ op: 'add', source: 'admin', target: { origin: `http://127.0.0.1:${port}`, basePath: '', weight: 1 } });
    assert.equal(u.targets.length, 4);
    assert.equal(u.availableCount, 1);
    assert.equal(u.panic, false, '1 of 1 routable target is available');
    assert.deepEqual(picks(u, 4), new Set(['http://127.0.0.1:7001']));
    u.deactivate();
    await activating;
  });
});
