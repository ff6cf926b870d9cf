import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { publishedSchema } from '../src/config/json-schema.js';
import { precompiled } from '../src/config/validate.js';
import { defaultTransport } from '../src/upstreams/pools.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { spawnBrisk, waitAnswering } from './helpers/brisk-process.js';
import { freePort } from './helpers/free-port.js';

// A small config starts small: what a one-route gateway loads before its first answer,
// read from the process itself (the CommonJS modules it required), not timed. Each module
// named here cost tens to hundreds of milliseconds of every start (docs/benchmarks.md).

/** Modules a one-route, JSON-logging gateway must not load, and why. */
const NOT_LOADED: Record<string, string> = {
  'ajv/dist/ajv.js': "Ajv's compiler: the validator is compiled at build time (scripts/gen-validator.mjs)",
  'undici/index.js': "undici's whole package: the gateway needs its dispatchers only (src/core/undici.ts)",
  'prom-client/index.js': 'prom-client: loaded at the first /metrics scrape',
  'pino-pretty/index.js': 'pino-pretty: loaded for a terminal only',
  'ioredis/built/index.js': 'ioredis: loaded with the first Redis connection (src/redis/open.ts)',
  'yaml/dist/index.js': "yaml's 72 files: loaded from the build's one-file bundle (src/config/yaml.ts)",
};

/** Brisk's own modules (under dist/src/) a one-route gateway must not load, and why. */
const OWN_NOT_LOADED: Record<string, string> = {
  'admin/server.js': 'the admin API and dashboard: loaded with an `admin` listener',
  'supervisor/service.js': 'process supervision: loaded with a `services` section',
  'supervisor/registry.js': "the services' Redis registry publisher: loaded when a service registers",
  'workers/cluster-plane.js': "the workers' primary: loaded with more than one worker",
  'aggregate/aggregate.js': 'the aggregate runner: loaded with an aggregate route',
  'cli/check.js': '`brisk check` only',
  'cli/services.js': '`brisk services` only',
};

/** ES modules of npm packages a one-route gateway must not load (their ESM builds are hundreds of files). */
const ESM_NOT_LOADED: Record<string, string> = {
  '@sinclair/typebox': 'TypeBox: the schemas are built by src/config/type-builder.ts',
};

const dir = mkdtempSync(join(tmpdir(), 'brisk-startup-'));
let backend: Backend;

before(async () => {
  backend = await startBackend();
});
after(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a one-route config on a free port; returns its path and the port. */
async function oneRoute(): Promise<{ config: string; port: number }> {
  const port = await freePort();
  const config = join(dir, 'brisk.yaml');
  writeFileSync(config, `listen: [{ address: "127.0.0.1:${port}" }]\nupstreams: { app: { targets: [{ url: "${backend.url}" }] } }\nroutes: [{ name: all, match: { pathPrefix: / }, upstream: app }]\nlogging: { format: json }\n`);
  return { config, port };
}

describe('start-up footprint', () => {
  test('a start that finds no compiled validator (a bare tsc build) compiles it and leaves it for the next start', async () => {
    const file = join(dirname(fileURLToPath(import.meta.url)), '../src/config/validator.generated.cjs');
    rmSync(file, { force: true });
    const { config, port } = await oneRoute();
    const brisk = spawnBrisk(config);
    // Compiling at start takes seconds on a busy machine: a generous bound, not a measurement.
    await waitAnswering(brisk, port, '/', 120_000);
    brisk.child.kill('SIGTERM');
    assert.equal(await brisk.exited, 0, brisk.output());
    assert.ok(existsSync(file), 'the validator was stored');
    assert.notEqual(precompiled(publishedSchema(), file), null, 'the stored validator is the one of this schema');
  });

  test('a one-route config answers without loading the modules it does not use', async () => {
    const { config, port } = await oneRoute();
    const list = join(dir, 'modules.json');
    const esmList = join(dir, 'esm-modules.json');
    const preload = join(dir, 'modules.cjs');
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));\n`);
    // ES modules are not in require.cache: a loader hook reports each URL it loads.
    const hook = 'let port; export function initialize(d) { port = d.port; } export async function load(url, context, next) { port.postMessage(url); return next(url, context); }';
    const esmPreload = join(dir, 'esm-modules.mjs');
    writeFileSync(
      esmPreload,
      `import { register } from 'node:module'; import { writeFileSync } from 'node:fs'; import { MessageChannel } from 'node:worker_threads';
const urls = []; const { port1, port2 } = new MessageChannel(); port1.on('message', (u) => urls.push(u)); port1.unref();
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)}, { data: { port: port2 }, transferList: [port2] });
process.on('exit', () => writeFileSync(${JSON.stringify(esmList)}, JSON.stringify(urls)));\n`,
    );
    const brisk = spawnBrisk(config, { env: { ...process.env, NODE_OPTIONS: `--require ${preload} --import ${pathToFileURL(esmPreload).href}` } });
    await waitAnswering(brisk, port);
    brisk.child.kill('SIGTERM');
    assert.equal(await brisk.exited, 0, brisk.output());
    const loaded = JSON.parse(readFileSync(list, 'utf8')) as string[];
    assert.ok(loaded.some((f) => f.includes('/pino/pino.js')), 'the module list is read (pino is loaded)');
    // undici's dispatchers load at their first use: not at all when every upstream is on the
    // lean transport (the default) and no feature that needs undici is configured.
    const undici = loaded.some((f) => f.includes('/undici/lib/dispatcher/pool.js'));
    if (defaultTransport() === 'lean') assert.ok(!undici, "undici's Pool was loaded though every upstream uses the lean transport (src/core/undici.ts loads it at first use)");
    assert.ok(loaded.some((f) => f.endsWith('/dist/src/config/yaml.bundle.cjs')), "yaml's bundle is loaded (written by scripts/gen-validator.mjs: run `npm run build`)");
    for (const [module, why] of Object.entries(NOT_LOADED)) {
      assert.equal(loaded.filter((f) => f.endsWith(`/node_modules/${module}`)).length, 0, `${module} was loaded: ${why}`);
    }
    const esm = JSON.parse(readFileSync(esmList, 'utf8')) as string[];
    assert.ok(esm.some((u) => u.endsWith('/dist/src/proxy/forward.js')), 'the ES module list is read (the proxy is loaded)');
    for (const [module, why] of Object.entries(OWN_NOT_LOADED)) assert.ok(!esm.some((u) => u.endsWith(`/dist/src/${module}`)), `${module} was loaded: ${why}`);
    for (const [name, why] of Object.entries(ESM_NOT_LOADED)) assert.ok(!esm.some((u) => u.includes(`/node_modules/${name}/`)), `${name} was loaded: ${why}`);
    // The lean HTTP/1.1 transport loads when an upstream uses it: here, when it is the
    // default (BRISK_UPSTREAM_TRANSPORT=lean runs the suite on it), and only then.
    const lean = esm.some((u) => u.endsWith('/dist/src/upstreams/h1/pool.js'));
    if (defaultTransport() === 'lean') assert.ok(lean, 'the default transport is lean, yet upstreams/h1/pool.js was not loaded');
    else assert.ok(!lean, 'upstreams/h1/pool.js was loaded: the lean transport loads only when an upstream says `pool.transport: lean`');
  });
});
