/**
 * The deployment files (deploy/docker, deploy/systemd, deploy/kubernetes) against the
 * program: they parse, their configs are valid Brisk configs, and the ports, probe paths,
 * commands and metric names they use are the ones Brisk has — checked on a running
 * gateway, not on a list kept by hand. No Docker, systemd or cluster runs here.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { parseAllDocuments } from 'yaml';
import { runProbe } from '../src/cli/probe.js';
import { parseConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import { startGateway } from './helpers/gateway.js';
import { repoRoot } from './helpers/repo-root.js';

const ROOT = repoRoot('deploy/docker/Dockerfile');
const DEPLOY = join(ROOT, 'deploy');

type Doc = Record<string, unknown> & { kind?: string; metadata?: { name?: string; labels?: Record<string, string> } };

function manifests(): Doc[] {
  const out: Doc[] = [];
  for (const f of readdirSync(join(DEPLOY, 'kubernetes')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const d of parseAllDocuments(readFileSync(join(DEPLOY, 'kubernetes', f), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${f} parses`);
      out.push(d.toJS() as Doc);
    }
  }
  return out;
}

function valid(text: string, what: string): Config {
  const r = parseConfigText(text, what, { env: {} });
  assert.ok(r.ok, `${what} is a valid Brisk config: ${r.ok ? '' : JSON.stringify(r.problems)}`);
  return r.config;
}

/** The config with every address on loopback port 0, to run it here. */
function onLoopback(text: string): string {
  return text.replace(/"0\.0\.0\.0:\d+"/g, '"127.0.0.1:0"');
}

const get = <T>(o: unknown, ...path: (string | number)[]): T => path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], o) as T;

describe('deploy/kubernetes', () => {
  const docs = manifests();
  const byKind = (kind: string) => docs.find((d) => d.kind === kind)!;

  it('has the Deployment, Service, ConfigMap, PodDisruptionBudget and HPA, all listed by the kustomization', () => {
    assert.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
    const kustomization = parseAllDocuments(readFileSync(join(DEPLOY, 'kubernetes', 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
    const files = readdirSync(join(DEPLOY, 'kubernetes')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    assert.deepEqual([...kustomization.resources].sort(), files.sort());
  });

  it("uses the config's ports, the admin API's probe paths and the labels that tie them together", { timeout: 30_000 }, async () => {
    const text = get<string>(byKind('ConfigMap'), 'data', 'brisk.yaml');
    const config = valid(text, 'the ConfigMap brisk.yaml');
    const deployment = byKind('Deployment');
    const container = get<Record<string, unknown>>(deployment, 'spec', 'template', 'spec', 'containers', 0);
    const ports = Object.fromEntries((container['ports'] as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
    assert.deepEqual(ports, { http: config.listen[0]!.port, admin: config.admin!.port });
    // The config file the container is started with is the one the ConfigMap mounts.
    const mount = (container['volumeMounts'] as { name: string; mountPath: string }[]).find((m) => m.name === 'config')!;
    assert.deepEqual(container['args'], ['start', '--config', `${mount.mountPath}/brisk.yaml`]);
    const probes = ['startupProbe', 'readinessProbe', 'livenessProbe'].map((p) => get<{ path: string; port: string }>(container, p, 'httpGet'));
    for (const p of probes) assert.equal(p.port, 'admin');
    const labels = get<Record<string, string>>(deployment, 'spec', 'template', 'metadata', 'labels');
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      const selector = get<Record<string, string>>(byKind(kind), 'spec', 'selector', ...(kind === 'Service' ? [] : ['matchLabels']));
      for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `${kind} selects the pods`);
    }
    assert.equal(get(byKind('Service'), 'spec', 'ports', 0, 'targetPort'), 'http');
    assert.equal(get(byKind('HorizontalPodAutoscaler'), 'spec', 'scaleTargetRef', 'name'), deployment.metadata?.name);
    assert.ok(get<number>(deployment, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds') * 1000 > config.proxy.drainTimeoutMs + 5000, 'the grace period covers the drain and the preStop pause');

    // The probe paths and the HPA's metric, asked of a gateway running this very config.
    const gw = await startGateway(onLoopback(text));
    try {
      for (const p of probes) assert.equal((await request(`${gw.adminUrl}${p.path}`)).statusCode, 200, `${p.path} answers 200 on the admin port`);
      const metric = get<string>(byKind('HorizontalPodAutoscaler'), 'spec', 'metrics', 0, 'pods', 'metric', 'name');
      const exposition = await (await request(`${gw.adminUrl}/metrics`)).body.text();
      assert.match(exposition, new RegExp(`^# TYPE ${metric} gauge$`, 'm'), `/metrics has the HPA's ${metric}`);
      const port = get<string>(deployment, 'spec', 'template', 'metadata', 'annotations', 'prometheus.io/port');
      assert.equal(Number(port), config.admin!.port);
    } finally {
      await gw.stop();
    }
  });
});

describe('deploy/docker', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'docker', 'Dockerfile'), 'utf8');
  const lines = dockerfile.replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const instr = (name: string) => lines.filter((l) => l.trim().toUpperCase().startsWith(`${name} `)).map((l) => l.trim().slice(name.length + 1).trim());

  it('is multi-stage, runs as a non-root user, and copies files that exist', () => {
    assert.ok(instr('FROM').length >= 2, 'multi-stage');
    const user = instr('USER').at(-1);
    assert.ok(user !== undefined && user !== 'root' && user !== '0', 'the runtime stage drops root');
    for (const copy of instr('COPY').filter((c) => !c.startsWith('--from'))) {
      const src = copy.split(/\s+/)[0]!;
      assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
    }
  });

  it("exposes the default config's ports, and its health check is brisk probe on the config it starts with", () => {
    const config = valid(readFileSync(join(DEPLOY, 'docker', 'brisk.yaml'), 'utf8'), 'deploy/docker/brisk.yaml');
    const exposed = instr('EXPOSE').flatMap((e) => e.split(/\s+/)).map(Number).sort();
    assert.deepEqual(exposed, [config.listen[0]!.port, config.admin!.port].sort());
    const entry = JSON.parse(instr('ENTRYPOINT')[0]!) as string[];
    const cmd = JSON.parse(instr('CMD')[0]!) as string[];
    const health = JSON.parse(instr('HEALTHCHECK')[0]!.replace(/^.*?CMD\s+/, '')) as string[];
    assert.equal(entry[1], '/app/dist/src/cli/main.js');
    assert.ok(existsSync(join(ROOT, 'src', 'cli', 'main.ts')));
    assert.deepEqual(cmd.slice(0, 1), ['start']);
    assert.deepEqual(health.slice(1, 3), [entry[1], 'probe']);
    assert.equal(health[health.indexOf('--config') + 1], cmd[cmd.indexOf('--config') + 1]);
    assert.ok(instr('COPY').some((c) => c.endsWith(cmd[cmd.indexOf('--config') + 1]!)), 'the image holds that config');
  });
});

describe('deploy/systemd', () => {
  const unit = readFileSync(join(DEPLOY, 'systemd', 'brisk.service'), 'utf8');
  const sections = new Map<string, Map<string, string>>();
  let current = '';
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section !== null) sections.set((current = section[1]!), new Map());
    else {
      const eq = line.indexOf('=');
      sections.get(current)!.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  const service = sections.get('Service')!;

  it('starts Brisk and is ready only when brisk probe says so, on the same config', () => {
    const start = service.get('ExecStart')!.split(/\s+/);
    const post = service.get('ExecStartPost')!.split(/\s+/);
    assert.equal(start[2], 'start');
    assert.deepEqual([post[1], post[2]], [start[1], 'probe']);
    assert.ok(post.includes('--wait'));
    assert.equal(post[post.indexOf('--config') + 1], start[start.indexOf('--config') + 1]);
    assert.equal(service.get('Type'), 'exec');
    assert.equal(service.get('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(sections.get('Install')?.get('WantedBy'), 'multi-user.target');
  });

  it('is hardened, without breaking the JIT', () => {
    for (const key of ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'RestrictAddressFamilies', 'CapabilityBoundingSet', 'SystemCallFilter', 'StateDirectory']) assert.ok(service.has(key), `${key} is set`);
    assert.notEqual(service.get('User'), 'root');
    assert.equal(service.get('MemoryDenyWriteExecute'), 'no', "V8's JIT needs writable and executable pages");
  });
});

describe('brisk probe', () => {
  it('exits 0 against a ready gateway, 1 when nothing answers', { timeout: 20_000 }, async () => {
    const gw = await startGateway(onLoopback(readFileSync(join(DEPLOY, 'docker', 'brisk.yaml'), 'utf8')));
    const out = { write: () => true };
    const admin = `127.0.0.1:${new URL(gw.adminUrl).port}`;
    try {
      assert.equal(await runProbe({ config: gw.file, admin, timeoutMs: 2000 }, out, out), 0);
    } finally {
      await gw.stop();
    }
    assert.equal(await runProbe({ config: '', admin, timeoutMs: 300 }, out, out), 1);
  });
});
