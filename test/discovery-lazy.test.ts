// Discovery loads lazily, checked at run time: a gateway started in a child process with
// a module loader hook that reports every module loaded. Without a `discovery` block no
// implementation module of src/providers/discovery/ is loaded (only the config modules the
// schema needs); with a DNS block, the manager, the feed and the DNS provider are, and no
// other provider.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from './helpers/discovery.js';

const GATEWAY = pathToFileURL(fileURLToPath(new URL('../src/gateway/gateway.js', import.meta.url))).href;

const HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) {
  port.postMessage(url);
  return next(url, context);
}
`;

const RUNNER = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const loaded = [];
port1.on('message', (url) => loaded.push(url));
port1.unref();
register(new URL('./hooks.mjs', import.meta.url), { data: { port: port2 }, transferList: [port2] });
const { Gateway } = await import(${JSON.stringify(GATEWAY)});
const pino = (await import('pino')).default;
const gw = await Gateway.start({ configFile: process.argv[2], watch: false, logger: pino({ level: 'silent' }) });
await gw.stop();
await new Promise((r) => setTimeout(r, 200));
console.log(JSON.stringify(loaded.filter((u) => u.includes('/providers/discovery/')).map((u) => u.slice(u.indexOf('/providers/discovery/') + 21))));
`;

describe('discovery loads lazily (run time)', () => {
  const dir = tempDir('brisk-disc-lazy-');
  after(() => dir.remove());
  writeFileSync(join(dir.path, 'hooks.mjs'), HOOKS);
  // The runner sits in the checkout so that it resolves the gateway's dependencies (pino).
  const runner = fileURLToPath(new URL('./discovery-lazy-runner.tmp.mjs', import.meta.url));
  writeFileSync(runner, RUNNER.replace("'./hooks.mjs'", JSON.stringify(pathToFileURL(join(dir.path, 'hooks.mjs')).href)));
  after(() => rmSync(runner, { force: true }));

  const loadedWith = (upstream: string): string[] => {
    const file = join(dir.path, 'brisk.yaml');
    writeFileSync(file, `listen: [{ address: 127.0.0.1:0 }]\nupstreams:\n  app:\n${upstream}\nroutes: [{ name: all, match: { pathPrefix: / }, upstream: app }]\n`);
    const r = spawnSync(process.execPath, [runner, file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  };

  it('a config without discovery loads no discovery implementation', { timeout: 60_000 }, () => {
    const loaded = loadedWith('    targets: [{ url: "http://127.0.0.1:9" }]');
    assert.ok(loaded.some((m) => m.startsWith('config/')), `the hook saw the config modules (the schema needs them): ${loaded.join(', ')}`);
    assert.deepEqual(loaded.filter((m) => !m.startsWith('config/')), []);
  });

  it('a DNS block loads the manager, the feed and the DNS provider, no other provider', { timeout: 60_000 }, () => {
    const loaded = loadedWith('    discovery: { dns: { name: app.invalid, port: 80, servers: ["127.0.0.1:9"], timeout: 100ms }, startWait: 100ms, snapshot: false }');
    const impl = loaded.filter((m) => !m.startsWith('config/'));
    for (const m of ['manager.js', 'feed.js', 'dns.js']) assert.ok(impl.includes(m), `${m} loaded: ${impl.join(', ')}`);
    for (const m of ['file.js', 'redis.js', 'etcd.js', 'kubernetes.js']) assert.ok(!impl.includes(m), `${m} not loaded: ${impl.join(', ')}`);
  });
});
