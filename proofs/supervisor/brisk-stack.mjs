// Brisk with a supervised service, as the proof runs it: a config written to a work
// directory, `brisk start` as a child process (its log kept in the directory), and the
// admin API calls the scenarios need. Loopback only; the only processes signalled are
// Brisk itself (by its PID) and the instances Brisk reports (by theirs).
import { spawn } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const SERVICE = path.join(ROOT, 'proofs', 'supervisor', 'service.mjs');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The proof's settings: short in CI (`quick`), longer for the table in the docs. */
export function settings(quick) {
  return {
    quick,
    workMs: 20,
    concurrency: 2,
    // 3 instances serve 300 req/s (2 at a time, 20 ms each): the base load keeps each 30 %
    // busy, the step (×4) is more than they can serve.
    baseRate: 90,
    step: 4,
    healthIntervalMs: 500,
    // Above the slow instance's +500 ms: it stays healthy, so the latency rule is what restarts it.
    healthTimeoutMs: 1000,
    unhealthyThreshold: 2,
    unhealthyForMs: 2000,
    // Well above what a healthy instance shows on a busy machine, well under +500 ms.
    slowP99Ms: 400,
    slowForS: quick ? 8 : 15,
    slowExtraMs: 500,
    targetInFlight: 1.5,
    scaleWindowMs: 2000,
    scaleDownAfterMs: quick ? 6000 : 15_000,
    stepMs: quick ? 12_000 : 20_000,
    settleMs: quick ? 2000 : 5000,
    min: 3,
    max: 8,
    stopTimeoutMs: 2000,
    crashBudget: 4,
  };
}

/** The config of the proof: `products` supervised; `flaky` (a crash loop) added by a reload. */
export function configText(s, ports, withFlaky) {
  const service = (name, env, extra = '') => `  ${name}:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE)}]
    env: { WORK_MS: "${s.workMs}", CONCURRENCY: "${s.concurrency}"${env} }
    upstream: ${name}
    stopTimeout: ${s.stopTimeoutMs}ms
${extra}`;
  const upstream = (name) => `  ${name}:
    healthCheck: { path: /healthz, interval: ${s.healthIntervalMs}ms, timeout: ${s.healthTimeoutMs}ms, unhealthyThreshold: ${s.unhealthyThreshold}, healthyThreshold: 1 }
    drainTimeout: 5s
`;
  return `# Written by proofs/supervisor/run.mjs
listen: [{ address: "127.0.0.1:${ports.listen}" }]
admin: { address: "127.0.0.1:${ports.admin}" }
logging: { accessLog: false, format: json, level: info }
upstreams:
${upstream('products')}${withFlaky ? upstream('flaky') : ''}routes:
${withFlaky ? '  - { name: flaky, match: { pathPrefix: /flaky }, upstream: flaky }\n' : ''}  - { name: products, upstream: products }
services:
${service(
  'products',
  '',
  `    instances: { min: ${s.min}, max: ${s.max} }
    restart:
      unhealthyFor: ${s.unhealthyForMs}ms
      slow: { p99: ${s.slowP99Ms}ms, for: ${s.slowForS}s }
      budget: { restarts: 6, window: 1m }
    scale: { targetInFlight: ${s.targetInFlight}, window: ${s.scaleWindowMs}ms, scaleDownAfter: ${s.scaleDownAfterMs}ms }
`,
)}${
    withFlaky
      ? service(
          'flaky',
          ', CRASH_AT_START: "1"',
          `    instances: 1
    restart: { initialBackoff: 100ms, maxBackoff: 2s, budget: { restarts: ${s.crashBudget}, window: 1m } }
`,
        )
      : ''
  }`;
}

export class BriskStack {
  constructor(workDir, s) {
    this.dir = workDir;
    this.s = s;
    this.name = 'brisk';
  }

  async start() {
    this.ports = { listen: await freePort(), admin: await freePort() };
    this.file = path.join(this.dir, 'brisk.yaml');
    writeFileSync(this.file, configText(this.s, this.ports, false));
    this.logFile = path.join(this.dir, 'brisk.log');
    const log = createWriteStream(this.logFile);
    this.child = spawn(process.execPath, [CLI, 'start', '--config', this.file, '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.child.stdout.pipe(log);
    this.child.stderr.pipe(log);
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`brisk exited at start; see ${this.logFile}`);
      try {
        const r = await this.admin('GET', '/readyz');
        if (r.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`brisk did not become ready in 30s; see ${this.logFile}`);
      await sleep(100);
    }
    this.url = `http://127.0.0.1:${this.ports.listen}/work`;
  }

  async admin(method, p, body) {
    const res = await request(`http://127.0.0.1:${this.ports.admin}${p}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text === '' ? null : JSON.parse(text) };
  }

  async service(name = 'products') {
    return (await this.admin('GET', `/api/services/${name}`)).body;
  }

  /** Instances that take traffic: ready, and active in the upstream. */
  async readyInstances(name = 'products') {
    return (await this.service(name)).instances.filter((i) => i.state === 'ready');
  }

  async reload(withFlaky) {
    writeFileSync(this.file, configText(this.s, this.ports, withFlaky));
    return this.admin('POST', '/api/reload');
  }

  async alerts() {
    return (await this.admin('GET', '/api/alerts')).body.alerts;
  }

  /** SIGTERM to Brisk (it drains and stops its instances), SIGKILL after 20 s. */
  async stop() {
    if (this.child === undefined || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 100 ms until it returns a truthy value or `ms` passed (then null). */
export async function until(check, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) return null;
    await sleep(100);
  }
}
