import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText, formatProblem, redactConfig } from '../config/load.js';
import { ExprError, formatValue, parseExpr, samples } from './expr.js';
import { normalizeAlerts } from './schema.js';
import { snapshot } from './testing.js';

function parseError(src: string): ExprError {
  try {
    parseExpr(src);
  } catch (error) {
    assert.ok(error instanceof ExprError, String(error));
    return error;
  }
  assert.fail(`${src} parsed`);
}

describe('alert expressions', () => {
  it('parses metrics, selectors, windows and units into the metric unit', () => {
    const e = parseExpr('error_ratio(route="checkout", window="5m") > 5%');
    assert.equal(e.metric, 'error_ratio');
    assert.equal(e.scope, 'route');
    assert.equal(e.windowS, 300);
    assert.equal(e.op, '>');
    assert.equal(e.threshold, 0.05);
    assert.equal(parseExpr('latency_p99(upstream="products", window="1m") > 500ms').threshold, 500);
    assert.equal(parseExpr('latency_p99(upstream="products") > 2s').threshold, 2000);
    assert.equal(parseExpr('host_cpu > 80%').threshold, 80);
    assert.equal(parseExpr('host_memory >= 90').threshold, 90);
    assert.equal(parseExpr('process_memory > 512mb').threshold, 512 * 1024 * 1024);
    const b = parseExpr("breaker_open(upstream='*')");
    assert.equal(b.op, '==');
    assert.equal(b.threshold, 1);
    assert.equal(parseExpr('healthy_targets(upstream="*") < 2').scope, 'upstream');
    assert.equal(parseExpr('target_unhealthy(upstream="*")').scope, 'target');
    assert.equal(parseExpr('error_ratio(window="1m") > 0.1').scope, 'gateway');
  });

  it('refuses bad expressions with the column of the fault and a hint', () => {
    const unknown = parseError('eror_ratio(route="x") > 5%');
    assert.equal(unknown.column, 1);
    assert.match(unknown.message, /unknown metric "eror_ratio"; did you mean "error_ratio"/);
    const unit = parseError('host_cpu > 500ms');
    assert.equal(unit.column, 15);
    assert.match(unit.message, /percentage/);
    const arg = parseError('healthy_targets(route="x") < 1');
    assert.equal(arg.column, 17);
    assert.match(arg.message, /takes upstream/);
    assert.match(parseError('error_ratio(route="x")').message, /needs a comparison/);
    assert.match(parseError('host_cpu > 80% and x').message, /after the threshold/);
    assert.match(parseError('error_ratio(route="x" > 1').message, /expected "," or "\)"/);
    assert.match(parseError('error_ratio(route="x", window="2d") > 1').message, /window must be/);
    assert.match(parseError('error_ratio(route="x) > 1').message, /unterminated string/);
    assert.match(parseError('host_cpu(upstream="a") > 1').message, /takes no arguments/);
    assert.match(parseError('host_cpu ~ 1').message, /unexpected character/);
  });

  it('gives one sample per matching route, upstream or target, with labels; * matches all', () => {
    const snap = snapshot({
      routes: [
        { name: 'checkout', upstream: 'shop', window: { windowS: 300, requests: 100, rps: 1, errors: 10, errorRatio: 0.1, p50Ms: 5, p95Ms: 50, p99Ms: 90 } },
        { name: 'catalog', upstream: 'shop', window: { windowS: 300, requests: 0, rps: 0, errors: 0, errorRatio: 0, p50Ms: null, p95Ms: null, p99Ms: null } },
      ],
      upstreams: [
        { name: 'products', healthyTargets: 1, totalTargets: 3, breaker: 'open' },
        { name: 'users', healthyTargets: 2, totalTargets: 2, breaker: null },
      ],
      targets: [
        { upstream: 'products', origin: 'http://127.0.0.1:1', health: 'unhealthy', reason: 'probe: ECONNREFUSED' },
        { upstream: 'products', origin: 'http://127.0.0.1:2', health: 'ejected', reason: '5xx' },
        { upstream: 'products', origin: 'http://127.0.0.1:3', health: 'healthy' },
      ],
      host: { cpuPercent: 91, memoryUsedRatio: 0.5, diskUsedRatio: 0.95 },
    });
    // No requests: no sample (not 0%), so a quiet route cannot look healthy or failing.
    assert.deepEqual(samples(parseExpr('error_ratio(route="*", window="5m") > 5%'), snap), [{ labels: { route: 'checkout', upstream: 'shop' }, value: 0.1 }]);
    assert.equal(samples(parseExpr('error_ratio(route="check*", min_requests=200) > 5%'), snap).length, 0);
    assert.deepEqual(
      samples(parseExpr('healthy_targets(upstream="*") < 2'), snap).map((s) => [s.labels['upstream'], s.value]),
      [
        ['products', 1],
        ['users', 2],
      ],
    );
    assert.deepEqual(samples(parseExpr('breaker_open(upstream="*")'), snap), [{ labels: { upstream: 'products' }, value: 1 }]);
    const targets = samples(parseExpr('target_unhealthy(upstream="products")'), snap);
    assert.deepEqual(
      targets.map((s) => [s.labels['target'], s.value, s.labels['health']]),
      [
        ['http://127.0.0.1:1', 1, 'unhealthy'],
        ['http://127.0.0.1:2', 1, 'ejected'],
        ['http://127.0.0.1:3', 0, 'healthy'],
      ],
    );
    assert.deepEqual(samples(parseExpr('disk_used > 90%'), snap), [{ labels: {}, value: 95 }]);
    assert.equal(samples(parseExpr('latency_p99(route="checkout") > 50ms'), snap)[0]?.value, 90);
  });

  it('formats values in the unit of their metric', () => {
    assert.equal(formatValue(0.0734, 'ratio'), '7.34%');
    assert.equal(formatValue(512, 'ms'), '512ms');
    assert.equal(formatValue(80.06, 'percent'), '80.06%');
    assert.equal(formatValue(3, 'count'), '3');
  });
});

describe('alerts config', () => {
  it('includes the default rules; a rule of the same name overrides or turns one off', () => {
    const { config } = normalizeAlerts(undefined, '/tmp');
    assert.ok(config !== undefined);
    const names = config.rules.map((r) => r.name);
    for (const n of ['upstream-no-healthy-target', 'target-unhealthy', 'breaker-open', 'high-error-ratio', 'event-loop-lag', 'host-cpu', 'host-memory', 'disk-used']) assert.ok(names.includes(n), n);
    const custom = normalizeAlerts({ rules: [{ name: 'host-cpu', expr: 'host_cpu > 95%' }, { name: 'disk-used', enabled: false }, { name: 'mine', expr: 'shed_level > 0' }] }, '/tmp').config!;
    const cpu = custom.rules.find((r) => r.name === 'host-cpu')!;
    assert.equal(cpu.expr.threshold, 95);
    assert.equal(cpu.forMs, 120_000, 'the default keeps the keys the override does not set');
    assert.ok(!custom.rules.some((r) => r.name === 'disk-used'));
    assert.ok(custom.rules.some((r) => r.name === 'mine' && !r.builtin));
    assert.deepEqual(normalizeAlerts({ defaultRules: false }, '/tmp').config!.rules, []);
    assert.equal(normalizeAlerts({}, '/base').config!.queue.dir, '/base/.brisk/alerts');
  });

  it('reports a bad expression at its file position with a code, the fault and the fix', () => {
    const text = [
      'listen: [{ address: "127.0.0.1:0" }]',
      'upstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }',
      'routes: [{ name: all, upstream: app }]',
      'alerts:',
      '  rules:',
      '    - name: slow',
      '      expr: latency_p99(upstrem="app") > 500ms',
      '    - name: tmpl',
      '      expr: host_cpu > 50%',
      '      summary: "cpu {{vaule}}"',
      '  routes:',
      '    - receivers: [pager]',
      '  receivers:',
      '    pagr: { type: slack, webhook: "https://hooks.example.com/x" }',
    ].join('\n');
    const result = parseConfigText(text, 'brisk.yaml');
    assert.equal(result.ok, false);
    const lines = !result.ok ? result.problems.map(formatProblem) : [];
    assert.match(lines[0]!, /^brisk\.yaml:7:13 {2}alerts\.rules\.0\.expr {2}BRISK_ALERT_EXPR_INVALID: latency_p99 takes route, upstream, target, window, min_requests; not upstrem; did you mean "upstream"\? \(at column 13/);
    assert.match(lines[1]!, /^brisk\.yaml:10:16 {2}alerts\.rules\.1\.summary {2}BRISK_ALERT_RULE_INVALID: unknown placeholder \{\{vaule\}\}/);
    assert.match(lines[2]!, /^brisk\.yaml:12:19 {2}alerts\.routes\.0\.receivers\.0 {2}BRISK_ALERT_RULE_INVALID: unknown receiver "pager", not declared under alerts\.receivers; did you mean "pagr"\?/);
  });

  it('keeps receiver and action URLs and signing secrets out of the redacted config', () => {
    const text = [
      'listen: [{ address: "127.0.0.1:0" }]',
      'upstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }',
      'routes: [{ name: all, upstream: app }]',
      'alerts:',
      '  rules: [{ name: x, expr: "host_cpu > 1%", actions: [{ webhook: "https://hooks.example.com/act?token=ACTION-TOKEN" }] }]',
      '  receivers:',
      '    ding: { type: dingtalk, webhook: "https://oapi.dingtalk.com/robot/send?access_token=DING-TOKEN", secret: SEC-SIGNING }',
      '    fs: { type: feishu, webhook: "https://open.feishu.cn/open-apis/bot/v2/hook/FEISHU-TOKEN", secret: FS-SIGNING }',
    ].join('\n');
    const result = parseConfigText(text, 'brisk.yaml');
    assert.ok(result.ok);
    const shown = JSON.stringify(redactConfig(result.config));
    assert.doesNotMatch(shown, /ACTION-TOKEN|DING-TOKEN|SEC-SIGNING|FEISHU-TOKEN|FS-SIGNING/);
    assert.match(shown, /"type":"dingtalk"/, 'the rest stays readable');
  });

  it('checks resolveThreshold in the unit of the metric and actions for exactly one kind', () => {
    const r = normalizeAlerts({ defaultRules: false, rules: [{ name: 'e', expr: 'error_ratio(route="*") > 5%', resolveThreshold: '2%' }] }, '/tmp').config!;
    assert.equal(r.rules[0]!.resolveThreshold, 0.02);
    const bad = normalizeAlerts({ defaultRules: false, rules: [{ name: 'e', expr: 'error_ratio(route="*") > 5%', resolveThreshold: '2ms', actions: [{ command: ['x'], webhook: 'http://x' }] }] }, '/tmp');
    assert.equal(bad.config, undefined);
    assert.deepEqual(
      bad.problems.map((p) => p.path.join('.')),
      ['rules.0.resolveThreshold', 'rules.0.actions.0'],
    );
  });
});
