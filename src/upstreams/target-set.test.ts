import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { expectValid } from '../config/testing.js';
import type { TargetConfig, UpstreamConfig } from '../config/types.js';
import type { MembershipChange, MembershipCommand } from './membership.js';
import type { Target } from './target.js';
import { TargetSet } from './target-set.js';
import { loadTransports } from './pools.js';

const logger = pino({ level: 'silent' });

/** An upstream config as the loader makes it, with health checks when asked. */
function upstreamConfig(over: Partial<UpstreamConfig> = {}, healthCheck = false): UpstreamConfig {
  const { config } = expectValid(`listen:
  - address: 127.0.0.1:0
upstreams:
  app:
    targets:
      - url: http://127.0.0.1:7001
${healthCheck ? '    healthCheck: { path: /healthz }\n' : ''}routes:
  - name: r
    upstream: app
`);
  return { ...config.upstreams['app']!, ...over };
}

// With BRISK_UPSTREAM_TRANSPORT=lean the pools built here are lean ones: load that transport
// as `loadRouteCode` does for a gateway.
await loadTransports([upstreamConfig()]);

const t = (port: number, weight = 1): TargetConfig => ({ origin: `http://127.0.0.1:${port}`, basePath: '', weight });
const key = (port: number) => `http://127.0.0.1:${port}`;
const origins = (list: readonly Target[]) => list.map((x) => x.origin);

const sets: TargetSet[] = [];
afterEach(async () => {
  for (const s of sets.splice(0)) await s.closeAll(0);
});

/** A configured set with the file's targets in, live (as after an upstream's first activation). */
function liveSet(config: UpstreamConfig, filePorts: number[]): { set: TargetSet; changes: MembershipChange[]; availability: Target[] } {
  const set = new TargetSet('app', logger);
  sets.push(set);
  const changes: MembershipChange[] = [];
  const availability: Target[] = [];
  set.subscribe({ membershipChanged: (c) => changes.push(c), availabilityChanged: (x) => availability.push(x) });
  set.configure(config);
  set.apply({ op: 'replace', source: 'file', targets: filePorts.map((p) => t(p)) });
  set.goLive();
  return { set, changes, availability };
}

describe('TargetSet', () => {
  it('takes the file targets in order; targets that join before it goes live are active at once', () => {
    const { set, changes } = liveSet(upstreamConfig({}, true), [7001, 7002, 7003]);
    assert.deepEqual(origins(set.members), [key(7001), key(7002), key(7003)]);
    assert.deepEqual(origins(set.routable), origins(set.members));
    assert.ok(set.members.every((x) => x.memberState === 'active' && x.activeReason === 'not probed yet'), 'probed by the first activation, not warming');
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.added.length, 3);
  });

  it('a target added to a live, health-checked upstream warms up: probed, not routable, until its first passing check', () => {
    const { set, changes } = liveSet(upstreamConfig({}, true), [7001]);
    set.members[0]!.setActiveHealth(true, null);
    const result = set.apply({ op: 'add', source: 'admin', target: t(7002, 3) });
    assert.equal(result.ok, true);
    assert.equal(result.ok && result.target?.state, 'warming');
    const added = set.find(key(7002))!;
    assert.equal(added.memberState, 'warming');
    assert.equal(added.weight, 3);
    assert.deepEqual(origins(set.routable), [key(7001)]);
    assert.deepEqual(origins(set.probed).sort(), [key(7001), key(7002)]);
    added.setActiveHealth(false, 'connect ECONNREFUSED');
    assert.equal(added.memberState, 'warming', 'a failed probe keeps it warming');
    const before = changes.length;
    added.setActiveHealth(true, null);
    assert.equal(added.memberState, 'active');
    assert.deepEqual(origins(set.routable).sort(), [key(7001), key(7002)]);
    assert.deepEqual(changes.at(-1)!.activated, [added]);
    assert.equal(changes.length, before + 1);
  });

  it('without health checks a target that joins is active at once', () => {
    const { set } = liveSet(upstreamConfig(), [7001]);
    set.apply({ op: 'add', source: 'admin', target: t(7002) });
    assert.equal(set.find(key(7002))!.memberState, 'active');
    assert.equal(set.routable.length, 2);
  });

  it('a file replace keeps kept targets untouched, adds new ones, drains vanished ones; admin targets survive', async () => {
    const { set, changes } = liveSet(upstreamConfig(), [7001, 7002, 7003]);
    const [a, b, c] = set.members;
    set.apply({ op: 'add', source: 'admin', target: t(7009) });
    b!.inFlight = 1;
    set.apply({ op: 'replace', source: 'file', targets: [t(7001, 2), t(7004)] });
    const change = changes.at(-1)!;
    assert.equal(set.find(key(7001)), a, 'the same object: pool, health and latency carry over');
    assert.equal(a!.weight, 2);
    assert.deepEqual(change.reweighted, [a]);
    assert.deepEqual(origins(change.added), [key(7004)]);
    assert.deepEqual(new Set(change.draining), new Set([b, c]));
    assert.deepEqual(change.removed, [c], 'an idle target leaves at once');
    assert.equal(c!.memberState, 'removed');
    assert.equal(b!.memberState, 'draining');
    assert.ok(!set.routable.includes(b!), 'a draining target takes no new requests');
    assert.ok(set.members.includes(b!), 'but stays a member while its requests finish');
    assert.ok(set.find(key(7009)) !== undefined, 'the admin target survives the file replace');
    await sleep(10);
    assert.equal(c!.pool.closed, true, "the idle target's pool is closed");
    assert.equal(b!.pool.closed, false);

    b!.requestEnded();
    assert.equal(b!.memberState, 'removed');
    assert.deepEqual(changes.at(-1)!.removed, [b]);
    assert.ok(!set.members.includes(b!));
    await sleep(10);
    assert.equal(b!.pool.closed, true, 'closed once its last request ended');
  });

  it('a drain is bounded: what is still in flight at the deadline is cut', async () => {
    const { set } = liveSet(upstreamConfig({ drainTimeoutMs: 40 }), [7001, 7002]);
    const b = set.members[1]!;
    b.inFlight = 2;
    const result = set.apply({ op: 'drain', key: key(7002) });
    assert.equal(result.ok && result.target?.state, 'draining');
    assert.ok(result.ok && result.target?.drain !== undefined, 'the view says when the drain ends');
    b.requestEnded();
    assert.equal(b.memberState, 'draining');
    await sleep(80);
    assert.equal(b.memberState, 'removed');
    assert.equal(b.pool.destroyed, true, 'cut');
  });

  it('remove is a drain with a zero bound; a drain of a draining target may shorten it', async () => {
    const { set } = liveSet(upstreamConfig({ drainTimeoutMs: 60_000 }), [7001, 7002, 7003]);
    const [, b, c] = set.members;
    b!.inFlight = 1;
    c!.inFlight = 1;
    set.apply({ op: 'remove', key: key(7002) });
    set.apply({ op: 'drain', key: key(7003) });
    assert.equal(c!.memberState, 'draining');
    set.apply({ op: 'drain', key: key(7003), timeoutMs: 0 });
    await sleep(20);
    assert.equal(b!.memberState, 'removed');
    assert.equal(c!.memberState, 'removed');
    assert.equal(b!.pool.destroyed, true);
  });

  it('one target per URL: the admin source wins the weight; a drained file target stays held out until added again or dropped from the file', () => {
    const { set } = liveSet(upstreamConfig(), [7001, 7002]);
    assert.equal(set.apply({ op: 'add', source: 'admin', target: t(7001, 5) }).ok, false, 'adding a member is refused');
    set.apply({ op: 'add', source: 'admin', target: t(7005, 5) });
    set.apply({ op: 'replace', source: 'file', targets: [t(7001), t(7002), t(7005, 1)] });
    assert.equal(set.members.filter((x) => x.origin === key(7005)).length, 1, 'one target');
    assert.equal(set.find(key(7005))!.weight, 5, 'admin precedes file');
    assert.deepEqual(set.viewOf(set.find(key(7005))!)!.sources, ['admin', 'file']);

    set.apply({ op: 'drain', key: key(7002) });
    assert.equal(set.find(key(7002)), undefined);
    assert.deepEqual(set.heldOut(), [{ url: key(7002), sources: ['file'] }]);
    set.apply({ op: 'replace', source: 'file', targets: [t(7001), t(7002), t(7005)] });
    assert.equal(set.find(key(7002)), undefined, 'a reload does not bring it back');
    set.apply({ op: 'add', source: 'admin', target: t(7002) });
    assert.ok(set.find(key(7002)) !== undefined, 'an add does');
    assert.deepEqual(set.heldOut(), []);

    set.apply({ op: 'drain', key: key(7002) });
    set.apply({ op: 'replace', source: 'file', targets: [t(7001)] });
    assert.deepEqual(set.heldOut(), [], 'the hold ends when no source names the target');

    set.apply({ op: 'drain', key: key(7005) });
    assert.equal(set.find(key(7005)), undefined, 'draining an admin target that the file also named takes it out');
  });

  it('a draining target named again stays, the same object', () => {
    const { set, changes } = liveSet(upstreamConfig(), [7001, 7002]);
    const b = set.members[1]!;
    b.inFlight = 1;
    set.apply({ op: 'drain', key: key(7002) });
    assert.equal(b.memberState, 'draining');
    const result = set.apply({ op: 'add', source: 'admin', target: t(7002) });
    assert.equal(result.ok, true);
    assert.equal(set.find(key(7002)), b);
    assert.equal(b.memberState, 'active');
    assert.deepEqual(changes.at(-1)!.activated, [b]);
    b.requestEnded();
    assert.equal(b.memberState, 'active', 'its drain is over');
  });

  it('refuses what it cannot do, with a reason', () => {
    const { set } = liveSet(upstreamConfig(), [7001]);
    const exists = set.apply({ op: 'add', source: 'admin', target: t(7001) });
    assert.equal(exists.ok, false);
    assert.equal(!exists.ok && exists.reason, 'exists');
    assert.match(!exists.ok ? exists.message : '', /already a target of upstream "app" \(active, from file\)/);
    const missing = set.apply({ op: 'drain', key: key(7999) });
    assert.equal(!missing.ok && missing.reason, 'not-found');
  });

  it('is driven by plain data: commands survive a JSON round trip', () => {
    const { set } = liveSet(upstreamConfig(), [7001]);
    const commands: MembershipCommand[] = [
      { op: 'replace', source: 'supervisor', targets: [t(7002), t(7003)] },
      { op: 'add', source: 'admin', target: t(7004, 2) },
      { op: 'drain', key: key(7002), timeoutMs: 1000 },
      { op: 'remove', key: key(7003) },
    ];
    for (const c of commands) assert.equal(set.apply(JSON.parse(JSON.stringify(c)) as MembershipCommand).ok, true);
    assert.deepEqual(origins(set.members).sort(), [key(7001), key(7004)]);
  });

  it('tells followers about availability, and rebuilds pools when their settings change (not for draining targets)', async () => {
    const config = upstreamConfig();
    const { set, availability } = liveSet(config, [7001, 7002]);
    const [a, b] = set.members;
    a!.setActiveHealth(false, 'down');
    assert.deepEqual(availability, [a]);
    b!.inFlight = 1;
    set.apply({ op: 'drain', key: key(7002) });
    const poolA = a!.pool;
    const poolB = b!.pool;
    set.configure({ ...config, pool: { ...config.pool, connections: 7 } });
    assert.notEqual(a!.pool, poolA, 'a new pool for new settings');
    assert.equal(b!.pool, poolB, 'a draining target keeps the pool its requests are on');
    await sleep(10);
    assert.equal(poolA.closed, true);
  });

  it('health checks removed from the config end warm-ups', () => {
    const config = upstreamConfig({}, true);
    const { set } = liveSet(config, [7001]);
    set.apply({ op: 'add', source: 'admin', target: t(7002) });
    assert.equal(set.find(key(7002))!.memberState, 'warming');
    set.configure({ ...config, healthCheck: null });
    assert.equal(set.find(key(7002))!.memberState, 'active');
  });

  it('close drains every member and refuses further commands', () => {
    const { set } = liveSet(upstreamConfig(), [7001, 7002]);
    set.members[0]!.inFlight = 1;
    set.close();
    assert.deepEqual(set.members.map((x) => x.memberState), ['draining']);
    assert.equal(set.apply({ op: 'add', source: 'admin', target: t(7003) }).ok, false);
  });
});
