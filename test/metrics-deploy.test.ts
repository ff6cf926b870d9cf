/**
 * The ready-made files under deploy/: the Prometheus alert rules pass `promtool check
 * rules` and their own `promtool test rules`, the Grafana dashboard is valid JSON, and
 * every metric name either references is one `/metrics` really exposes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { PROMTOOL_SKIP, runPromtool } from './helpers/metrics.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALERTS = join(ROOT, 'deploy/prometheus/brisk-alerts.yml');
const ALERT_TESTS = join(ROOT, 'deploy/prometheus/brisk-alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/brisk-dashboard.json');

/** Names Prometheus makes up itself, not exposed by Brisk. */
const SYNTHETIC = new Set(['up']);

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  type: string;
  title: string;
  datasource?: unknown;
  targets?: { expr: string; refId: string }[];
}

/** Every `brisk_…` name an expression uses. */
function namesIn(expr: string): string[] {
  return [...expr.matchAll(/\bbrisk_[a-z0-9_]+/g)].map((m) => m[0]);
}

describe('deploy/ files', () => {
  let backend: Backend;
  let gw: TestGateway;
  /** Sample names /metrics can produce (from its # TYPE lines; histograms add their suffixes). */
  const exposed = new Set<string>();

  before(async () => {
    backend = await startBackend();
    gw = await startGateway({
      upstreams: { app: { targets: [{ url: backend.url }], circuitBreaker: { errorThreshold: 50, minimumRequests: 5 } } },
      routes: [{ name: 'all', upstream: 'app', rateLimit: { limits: [{ rate: 100, per: '1s' }] } }],
    });
    await (await fetch(`${gw.url}/x`)).text();
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const [, name, type] = m;
      exposed.add(name!);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exposed.add(name! + s);
    }
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  it('alert rules name only metrics /metrics exposes, and each has a severity and a summary', () => {
    const doc = parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 10, `${rules.length} rules`);
    const alerts = new Set(rules.map((r) => r.alert));
    for (const wanted of ['BriskHighErrorRatio', 'BriskHighLatencyP99', 'BriskTargetUnhealthy', 'BriskCircuitBreakerOpen', 'BriskEventLoopLag', 'BriskHostCpuHigh', 'BriskHostMemoryHigh', 'BriskHostDiskFull']) {
      assert.ok(alerts.has(wanted), `rule ${wanted}`);
    }
    for (const r of rules) {
      const names = namesIn(r.expr);
      assert.ok(names.length > 0, `${r.alert} reads a Brisk metric`);
      for (const n of names) assert.ok(exposed.has(n) || SYNTHETIC.has(n), `${r.alert}: ${n} is not exposed by /metrics`);
      assert.match(r.labels?.['severity'] ?? '', /^(critical|warning|info)$/, `${r.alert} severity`);
      assert.ok((r.annotations?.['summary'] ?? '') !== '', `${r.alert} summary`);
    }
  });

  it('alert rules pass `promtool check rules` and `promtool test rules`', { skip: PROMTOOL_SKIP }, async () => {
    const check = await runPromtool(['check', 'rules', ALERTS]);
    assert.equal(check.code, 0, check.output);
    const test = await runPromtool(['test', 'rules', ALERT_TESTS]);
    assert.equal(test.code, 0, test.output);
  });

  it('the Grafana dashboard is valid JSON whose every query reads exposed metrics', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; uid: string; panels: Panel[]; templating: { list: { query?: unknown; definition?: string }[] } };
    assert.equal(dash.title, 'Brisk');
    assert.ok(dash.uid.length > 0);
    const panels = dash.panels.filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 20, `${panels.length} panels`);
    const titles = panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const topic of ['request rate', 'error ratio', 'latency', 'target health', 'breaker', 'retries', 'cache hit ratio', 'process cpu', 'host cpu']) assert.ok(titles.includes(topic), `a panel on ${topic}`);
    const queries = [...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dash.templating.list.map((v) => v.definition ?? '')];
    for (const p of panels) {
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
      assert.ok(p.datasource !== undefined, `panel "${p.title}" names its data source`);
    }
    const used = new Set(queries.flatMap(namesIn));
    for (const n of used) assert.ok(exposed.has(n), `dashboard: ${n} is not exposed by /metrics`);
  });

  it('the dashboard\'s queries are valid PromQL (checked by promtool as recording rules)', { skip: PROMTOOL_SKIP }, async () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', '5m')));
    const dir = mkdtempSync(join(tmpdir(), 'brisk-dash-'));
    try {
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `brisk:dashboard_query_${i}`, expr })) }] }));
      const check = await runPromtool(['check', 'rules', file]);
      assert.equal(check.code, 0, check.output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
