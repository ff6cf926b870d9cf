import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ActionEvent } from './actions.js';
import { AlertEngine, type PersistedAlert } from './engine.js';
import type { Notification } from './notifiers.js';
import { normalizeAlerts, type RawAlerts } from './schema.js';
import { Silences } from './silences.js';
import { captureLogger, ScriptedStats, type SnapshotInput } from './testing.js';

function setup(raw: RawAlerts) {
  const { config, problems } = normalizeAlerts({ defaultRules: false, ...raw }, '/tmp');
  assert.deepEqual(problems, []);
  const stats = new ScriptedStats();
  const { logger, logs } = captureLogger();
  const silences = new Silences(null, logger);
  const notes: Notification[] = [];
  const events: ActionEvent[] = [];
  const engine = new AlertEngine(config!, stats, silences, logger, { notify: (n) => notes.push(n), act: (_r, e) => events.push(e) });
  let now = 1_000_000;
  /** Sets the snapshot and evaluates `seconds` times, one second apart. */
  const run = (input: SnapshotInput, seconds = 1) => {
    stats.set(input);
    for (let i = 0; i < seconds; i++) {
      now += 1000;
      engine.evaluate(now);
    }
  };
  return { engine, stats, silences, notes, events, logs, run, now: () => now };
}

const RECEIVER = { hook: { type: 'webhook' as const, webhook: 'http://127.0.0.1:1/' } };
const products = (healthy: number): SnapshotInput => ({ upstreams: [{ name: 'products', healthyTargets: healthy, totalTargets: 3 }] });

describe('alert engine', () => {
  it('goes pending, fires after `for`, resolves, and notifies each state once', () => {
    const t = setup({ receivers: RECEIVER, rules: [{ name: 'few', expr: 'healthy_targets(upstream="*") < 2', for: '3s', severity: 'critical', summary: '{{labels.upstream}} has {{value}} healthy (need {{threshold}})' }] });
    t.run(products(3), 2);
    assert.deepEqual(t.engine.list(), []);
    t.run(products(1), 1);
    assert.equal(t.engine.list()[0]?.state, 'pending');
    t.run(products(1), 2);
    assert.equal(t.engine.list()[0]?.state, 'pending');
    assert.equal(t.notes.length, 0);
    t.run(products(1), 1);
    const firing = t.engine.list()[0]!;
    assert.equal(firing.state, 'firing');
    assert.equal(firing.message, 'products has 1 healthy (need < 2)');
    assert.deepEqual(firing.labels, { upstream: 'products' });
    assert.equal(t.notes.length, 1);
    assert.equal(t.notes[0]!.status, 'firing');
    assert.equal(t.notes[0]!.alerts[0]!.severity, 'critical');
    t.run(products(0), 10);
    assert.equal(t.notes.length, 1, 'still firing: no duplicate notification');
    t.run(products(3), 1);
    assert.equal(t.engine.list()[0]?.state, 'resolved');
    assert.equal(t.notes.length, 2);
    assert.equal(t.notes[1]!.status, 'resolved');
    assert.ok(t.notes[1]!.alerts[0]!.endsAt !== null);
    t.run(products(3), 5);
    assert.equal(t.notes.length, 2);
  });

  it('a condition that stops holding while pending never fires', () => {
    const t = setup({ receivers: RECEIVER, rules: [{ name: 'few', expr: 'healthy_targets(upstream="*") < 2', for: '5s' }] });
    t.run(products(1), 3);
    t.run(products(3), 1);
    t.run(products(1), 3);
    assert.equal(t.engine.list()[0]?.state, 'pending');
    assert.equal(t.notes.length, 0);
  });

  it('keepFiringFor and resolveThreshold hold a flapping alert', () => {
    const t = setup({ receivers: RECEIVER, rules: [{ name: 'errors', expr: 'error_ratio(route="*") > 5%', resolveThreshold: '2%', keepFiringFor: '3s' }] });
    const ratio = (errors: number): SnapshotInput => ({ routes: [{ name: 'checkout', window: { windowS: 60, requests: 100, rps: 1, errors, errorRatio: errors / 100, p50Ms: 1, p95Ms: 1, p99Ms: 1 } }] });
    t.run(ratio(10), 1);
    assert.equal(t.engine.list()[0]?.state, 'firing');
    // 3% is below the firing threshold but above the resolve threshold: still firing.
    t.run(ratio(3), 10);
    assert.equal(t.engine.list()[0]?.state, 'firing');
    // Below 2%, but not yet for keepFiringFor.
    t.run(ratio(1), 2);
    assert.equal(t.engine.list()[0]?.state, 'firing');
    t.run(ratio(10), 1);
    t.run(ratio(1), 3);
    assert.equal(t.engine.list()[0]?.state, 'resolved');
    assert.deepEqual(
      t.notes.map((n) => n.status),
      ['firing', 'resolved'],
    );
  });

  it('one rule with * yields one alert per target; groupBy sends them together', () => {
    const t = setup({ receivers: RECEIVER, rules: [{ name: 'down', expr: 'target_unhealthy(upstream="*")', groupBy: ['upstream'] }] });
    const targets = (bad: number[], reason = 'probe failed'): SnapshotInput => ({
      targets: [1, 2, 3].map((i) => ({ upstream: 'products', origin: `http://127.0.0.1:${i}`, health: bad.includes(i) ? ('unhealthy' as const) : ('healthy' as const), reason: bad.includes(i) ? reason : null })),
    });
    t.run(targets([1, 2]), 1);
    assert.equal(t.engine.list().length, 2);
    assert.equal(t.notes.length, 1, 'grouped by upstream: one notification');
    assert.deepEqual(t.notes[0]!.groupLabels, { upstream: 'products' });
    assert.deepEqual(t.notes[0]!.alerts.map((a) => a.labels['target']).sort(), ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    // A changing reason does not make it a new alert.
    t.run(targets([1, 2], 'ejected: 5xx'), 2);
    assert.equal(t.notes.length, 1);
    assert.equal(t.engine.list().length, 2);
    t.run(targets([1, 2, 3]), 1);
    assert.equal(t.notes.length, 2);
    assert.equal(t.notes[1]!.alerts.length, 3, 'the group notification lists every alert still firing');
    t.run(targets([2, 3]), 1);
    assert.equal(t.notes[2]!.status, 'firing');
    assert.deepEqual(
      t.notes[2]!.alerts.map((a) => [a.labels['target'], a.state]),
      [
        ['http://127.0.0.1:2', 'firing'],
        ['http://127.0.0.1:3', 'firing'],
        ['http://127.0.0.1:1', 'resolved'],
      ],
    );
  });

  it('repeats a still-firing alert after repeatInterval', () => {
    const t = setup({ receivers: RECEIVER, rules: [{ name: 'cpu', expr: 'host_cpu > 80%', repeatInterval: '5s' }] });
    t.run({ host: { cpuPercent: 95 } }, 12);
    assert.deepEqual(
      t.notes.map((n) => n.repeat),
      [false, true, true],
    );
  });

  it('silences mute notifications and actions of matching alerts, until removed', () => {
    const t = setup({ receivers: RECEIVER, rules: [{ name: 'few', expr: 'healthy_targets(upstream="*") < 1', actions: [{ command: ['true'] }] }] });
    const s = t.silences.add({ matchers: [{ name: 'upstream', value: 'prod*' }], duration: '1h' }, t.now());
    t.run({ upstreams: [{ name: 'products', healthyTargets: 0 }, { name: 'users', healthyTargets: 0 }] }, 2);
    const list = t.engine.list();
    assert.deepEqual(
      list.map((a) => [a.labels['upstream'], a.silenced]).sort(),
      [
        ['products', true],
        ['users', false],
      ],
    );
    assert.equal(t.notes.length, 1);
    assert.deepEqual(t.notes[0]!.alerts.map((a) => a.labels['upstream']), ['users']);
    assert.deepEqual(t.events.map((e) => e.labels['upstream']), ['users']);
    t.silences.remove(s.id);
    t.run({ upstreams: [{ name: 'products', healthyTargets: 0 }, { name: 'users', healthyTargets: 0 }] }, 1);
    assert.equal(t.notes.length, 2, 'the silence ended: the alert is notified now');
    assert.deepEqual(t.notes[1]!.alerts.map((a) => a.labels['upstream']).sort(), ['products', 'users']);
  });

  it('routes by severity and labels, first match wins unless continue', () => {
    const t = setup({
      receivers: { pager: RECEIVER.hook, chat: RECEIVER.hook, audit: RECEIVER.hook },
      routes: [{ receivers: ['audit'], continue: true }, { severity: ['critical'], receivers: ['pager'] }, { labels: { team: 'shop*' }, receivers: ['chat'] }],
      rules: [
        { name: 'crit', expr: 'host_cpu > 90%', severity: 'critical', labels: { team: 'shop' } },
        { name: 'warn', expr: 'host_cpu > 80%', severity: 'warning', labels: { team: 'shopfront' } },
        { name: 'other', expr: 'host_cpu > 70%', severity: 'info', labels: { team: 'infra' } },
      ],
    });
    t.run({ host: { cpuPercent: 95 } }, 1);
    const got = t.notes.map((n) => `${n.alerts[0]!.rule}->${n.receiver}`).sort();
    assert.deepEqual(got, ['crit->audit', 'crit->pager', 'other->audit', 'warn->audit', 'warn->chat']);
  });

  it('a reload keeps the alerts of unchanged rules and restarts changed ones', () => {
    const t = setup({ receivers: RECEIVER, rules: [{ name: 'a', expr: 'host_cpu > 80%' }, { name: 'b', expr: 'host_cpu > 50%', for: '10s' }] });
    t.run({ host: { cpuPercent: 95 } }, 3);
    assert.equal(t.notes.length, 1, 'a fired; b is pending');
    const next = normalizeAlerts({ defaultRules: false, receivers: RECEIVER, rules: [{ name: 'a', expr: 'host_cpu > 80%' }, { name: 'b', expr: 'host_cpu > 60%', for: '10s' }] }, '/tmp').config!;
    t.engine.update(next);
    t.run({ host: { cpuPercent: 95 } }, 1);
    assert.equal(t.notes.length, 1, 'a is not notified again');
    const b = t.engine.list().find((x) => x.rule === 'b')!;
    assert.equal(b.state, 'pending');
    assert.equal(b.since, t.now(), 'b changed: it starts over');
    // A new summary keeps the alert; removing the rule closes it at the receivers.
    t.engine.update(normalizeAlerts({ defaultRules: false, receivers: RECEIVER, rules: [{ name: 'a', expr: 'host_cpu > 80%', summary: 'CPU {{value}}' }] }, '/tmp').config!, t.now());
    t.run({ host: { cpuPercent: 95 } }, 1);
    assert.equal(t.notes.length, 1);
    assert.equal(t.engine.list().find((x) => x.rule === 'a')?.message, 'CPU 95%');
    t.engine.update(normalizeAlerts({ defaultRules: false, receivers: RECEIVER, rules: [] }, '/tmp').config!, t.now());
    assert.equal(t.notes.length, 2);
    assert.equal(t.notes[1]!.status, 'resolved');
    assert.equal(t.notes[1]!.alerts[0]!.rule, 'a');
  });

  it('evaluates on each tick of the source and reads each window once per tick', () => {
    const t = setup({ rules: [{ name: 'a', expr: 'error_ratio(route="*", window="5m") > 5%' }, { name: 'b', expr: 'error_ratio(upstream="*", window="5m") > 5%' }, { name: 'c', expr: 'host_cpu > 1%' }] });
    t.engine.start();
    t.stats.set({ host: { cpuPercent: 50 } });
    t.stats.tick();
    assert.deepEqual(t.stats.windows, [300]);
    assert.equal(t.engine.list()[0]?.rule, 'c');
    t.engine.stop();
    t.stats.tick();
    assert.deepEqual(t.stats.windows, [300]);
  });

  it('after a restart, a still-firing alert is not announced again, and one that ended is announced resolved', () => {
    let saved: readonly PersistedAlert[] = [];
    const store = { load: () => saved, save: (list: readonly PersistedAlert[]) => void (saved = list) };
    const { config } = normalizeAlerts({ defaultRules: false, receivers: RECEIVER, rules: [{ name: 'few', expr: 'healthy_targets(upstream="*") < 1' }] }, '/tmp');
    const { logger } = captureLogger();
    const boot = (snap: SnapshotInput) => {
      const stats = new ScriptedStats();
      stats.set(snap);
      const notes: Notification[] = [];
      const engine = new AlertEngine(config!, stats, new Silences(null, logger), logger, { notify: (n) => notes.push(n), act: () => {} }, store, 1000);
      return { engine, notes };
    };
    const down: SnapshotInput = { upstreams: [{ name: 'a', healthyTargets: 0 }, { name: 'b', healthyTargets: 0 }] };
    const first = boot(down);
    first.engine.evaluate(2000);
    assert.equal(first.notes.length, 1);
    assert.deepEqual(saved.map((p) => p.labels['upstream']).sort(), ['a', 'b']);
    // Restarted: a is still down (nothing new), b is back (resolved).
    const second = boot({ upstreams: [{ name: 'a', healthyTargets: 0 }, { name: 'b', healthyTargets: 1 }] });
    second.engine.evaluate(3000);
    assert.deepEqual(
      second.notes.map((n) => [n.status, n.alerts.map((x) => `${x.labels['upstream']}:${x.state}`)]),
      // One group (no groupBy): it lists what still fires along with what just resolved.
      [['firing', ['a:firing', 'b:resolved']]],
    );
    assert.deepEqual(saved.map((p) => p.labels['upstream']), ['a']);
    // A rule whose condition changed while the gateway was down starts over.
    const changed = normalizeAlerts({ defaultRules: false, receivers: RECEIVER, rules: [{ name: 'few', expr: 'healthy_targets(upstream="*") < 2' }] }, '/tmp').config!;
    const third = new AlertEngine(changed, new ScriptedStats(), new Silences(null, logger), logger, { notify: () => {}, act: () => {} }, store, 4000);
    assert.deepEqual(third.list(), []);
  });
});
