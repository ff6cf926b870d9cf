// The multinode proof's world, all on loopback: Redis with Sentinel (rate limits), a plain
// Redis (the service registry), etcd (routes and upstreams, pushed with `brisk config
// push`), service instances that register themselves, and three Brisk nodes started with
// `brisk start`. The real servers come from the test helpers (compiled under dist/).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const helpers = (name) => import(path.join(ROOT, 'dist', 'test', 'helpers', `${name}.js`));

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const KEY = '/brisk/proof/config';
const REGISTRY_PREFIX = 'brisk:registry:';
const REGISTRY_EVENTS = 'brisk:registry:events';

/** Polls `check` every 50 ms until true; resolves the time it took, or throws after `timeoutMs`. */
export async function until(check, timeoutMs, what) {
  const t0 = performance.now();
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return Math.round(performance.now() - t0);
    if (performance.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

/** One service instance: an HTTP server that answers with its id and registers itself in the registry. */
class Instance {
  constructor(id, registry, settings) {
    this.id = id;
    this.registry = registry;
    this.settings = settings;
    this.hits = [];
    this.apiArrivals = [];
    this.errors = 0;
    this.timer = null;
  }

  async start() {
    this.server = createServer((req, res) => {
      if (req.url === '/healthz') return void res.end('ok');
      const t = performance.now();
      this.hits.push(t);
      if (req.url.startsWith('/api')) this.apiArrivals.push(t);
      // A little work, so a drain has requests in flight to finish.
      setTimeout(() => res.end(JSON.stringify({ instance: this.id })), 5);
    });
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    this.key = `${REGISTRY_PREFIX}svc:${this.id}`;
    return this;
  }

  /** Writes the entry with its TTL and announces it; the heartbeat renews it. */
  async register() {
    const record = JSON.stringify({ service: 'svc', id: this.id, url: this.url, host: '127.0.0.1', port: this.server.address().port, startedAt: new Date().toISOString(), meta: {} });
    const beat = () => this.registry.set(this.key, record, 'PX', this.settings.registryTtlMs).catch(() => {});
    await beat();
    this.timer = setInterval(beat, this.settings.registryTtlMs / 3);
    await this.registry.publish(REGISTRY_EVENTS, JSON.stringify({ event: 'up', service: 'svc', id: this.id, url: this.url }));
  }

  /** Deletes the entry and announces it; the server keeps answering (requests in flight drain). */
  async deregister() {
    clearInterval(this.timer);
    this.timer = null;
    await this.registry.del(this.key);
    await this.registry.publish(REGISTRY_EVENTS, JSON.stringify({ event: 'down', service: 'svc', id: this.id, url: this.url }));
  }

  async stop() {
    clearInterval(this.timer);
    this.server.closeAllConnections?.();
    await new Promise((r) => this.server.close(r));
  }
}

/** One Brisk node: `brisk start` with its own config and state directory. */
class Node {
  constructor(index, dir, ports) {
    this.index = index;
    this.name = `node${index + 1}`;
    this.dir = dir;
    this.port = ports.http;
    this.adminPort = ports.admin;
    this.child = null;
    this.url = `http://127.0.0.1:${this.port}`;
    this.admin = `http://127.0.0.1:${this.adminPort}`;
  }

  get file() {
    return path.join(this.dir, 'brisk.yaml');
  }

  /** Starts the process and resolves once its /readyz answers 200, with the time that took. */
  async start() {
    const t0 = performance.now();
    const log = createWriteStream(path.join(this.dir, 'brisk.log'), { flags: 'a' });
    this.child = spawn(process.execPath, [CLI, 'start', '--config', this.file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.child.stdout.pipe(log);
    this.child.stderr.pipe(log);
    this.exited = new Promise((r) => this.child.once('exit', r));
    await until(async () => {
      if (this.child.exitCode !== null) throw new Error(`${this.name} exited during start (see ${this.dir}/brisk.log)`);
      return (await request(`${this.admin}/readyz`, { headersTimeout: 500 })).statusCode === 200;
    }, 30_000, `${this.name} ready`);
    return Math.round(performance.now() - t0);
  }

  async kill(signal = 'SIGKILL') {
    if (this.child === null || this.child.exitCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }

  /** GET /api/status's configStore. */
  async configStore() {
    const res = await request(`${this.admin}/api/status`, { headersTimeout: 2000 });
    return (await res.body.json()).configStore;
  }
}

export class Stack {
  constructor(dir, settings) {
    this.dir = dir;
    this.s = settings;
    this.instances = [];
    this.nodes = [];
  }

  async start(log) {
    const { startSentinelGroup } = await helpers('redis-sentinel');
    const { startEtcd } = await helpers('etcd');
    const { startRedis } = await helpers('servers');
    const { freePort } = await helpers('free-port');
    this.sentinel = await startSentinelGroup();
    if (this.sentinel === null) throw new Error('redis-server is not installed (apt-get install redis-server redis-sentinel)');
    log(`redis: primary ${this.sentinel.serverPorts[0]}, replica ${this.sentinel.serverPorts[1]}, sentinels ${this.sentinel.sentinelPorts.join(', ')}`);
    this.registryServer = await startRedis();
    this.registry = new Redis(this.registryServer.url, { maxRetriesPerRequest: 1 });
    this.etcd = await startEtcd();
    if (this.etcd === null) throw new Error('etcd is not installed (apt-get install etcd-server)');
    log(`etcd: ${this.etcd.url}; registry redis: ${this.registryServer.url}`);
    for (let i = 1; i <= this.s.instances; i++) {
      const inst = await new Instance(`i${i}`, this.registry, this.s).start();
      await inst.register();
      this.instances.push(inst);
    }
    for (let i = 0; i < 3; i++) {
      const dir = path.join(this.dir, `node${i + 1}`);
      mkdirSync(dir, { recursive: true });
      const node = new Node(i, dir, { http: await freePort(), admin: await freePort() });
      writeFileSync(node.file, this.nodeConfig(node));
      this.nodes.push(node);
    }
    this.revision = this.push(this.storeDocument());
    log(`config: published ${KEY} revision ${this.revision} with brisk config push`);
    for (const node of this.nodes) log(`${node.name}: ready in ${await node.start()} ms on ${node.url} (admin ${node.admin})`);
  }

  nodeConfig(node) {
    return [
      `listen: [{ address: "127.0.0.1:${node.port}" }]`,
      `admin: { address: "127.0.0.1:${node.adminPort}" }`,
      'logging: { accessLog: false, format: json, level: info }',
      `configStore: { etcd: { endpoints: ["${this.etcd.url}"], key: ${KEY}, timeout: 500ms }, snapshot: store-snapshot.json }`,
      '# Until the store has a document; the pushed one replaces both.',
      'upstreams: { placeholder: { targets: [{ url: "http://127.0.0.1:9" }] } }',
      'routes: [{ name: placeholder, match: { pathPrefix: /__placeholder }, upstream: placeholder }]',
      '',
    ].join('\n');
  }

  storeDocument(extraHeader = '') {
    const sentinels = this.sentinel.sentinels.map((s) => `"${s}"`).join(', ');
    return [
      `# The routes and upstreams of every node${extraHeader}`,
      'upstreams:',
      '  svc:',
      '    discovery:',
      `      redis: { url: "${this.registryServer.url}", service: svc, interval: 1s }`,
      '    healthCheck: { path: /healthz, interval: 1s, timeout: 500ms }',
      '    drainTimeout: 5s',
      'routes:',
      '  - name: api',
      '    match: { pathPrefix: /api }',
      '    upstream: svc',
      '    rateLimit:',
      '      store: redis',
      `      redis: { sentinels: [${sentinels}], name: ${this.sentinel.name}, timeout: 500ms }`,
      '      onStoreError: allow',
      `      limits: [{ name: global, rate: ${this.s.limitPerS}, per: 1s, burst: ${this.s.limitBurst}, key: route }]`,
      '  - name: free',
      '    match: { pathPrefix: / }',
      '    upstream: svc',
      '',
    ].join('\n');
  }

  /** `brisk config push` of `text`; returns the revision published. */
  push(text) {
    const file = path.join(this.dir, `store-${Date.now()}.yaml`);
    writeFileSync(file, text);
    const r = spawnSync(process.execPath, [CLI, 'config', 'push', file, '--config', this.nodes[0].file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`brisk config push failed: ${r.stderr}`);
    return Number(/revision (\d+)/.exec(r.stdout)?.[1]);
  }

  async addInstance(id) {
    const inst = await new Instance(id, this.registry, this.s).start();
    this.instances.push(inst);
    return inst;
  }

  async stop() {
    for (const n of this.nodes) await n.kill('SIGTERM').catch(() => {});
    for (const i of this.instances) await i?.stop().catch(() => {});
    this.registry?.disconnect();
    await this.registryServer?.stop();
    await this.etcd?.stop();
    await this.sentinel?.stop();
  }
}
