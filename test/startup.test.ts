import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { publishedSchema } from '../src/config/json-schema.js';
import { precompiled } from '../src/config/validate.js';
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
    const preload = join(dir, 'modules.cjs');
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));\n`);
    const brisk = spawnBrisk(config, { env: { ...process.env, NODE_OPTIONS: `--require ${preload}` } });
    await waitAnswering(brisk, port);
    brisk.child.kill('SIGTERM');
    assert.equal(await brisk.exited, 0, brisk.output());
    const loaded = JSON.parse(readFileSync(list, 'utf8')) as string[];
    assert.ok(loaded.some((f) => f.includes('/undici/lib/dispatcher/pool.js')), 'the module list is read (undici Pool is loaded)');
    for (const [module, why] of Object.entries(NOT_LOADED)) {
      assert.equal(loaded.filter((f) => f.endsWith(`/node_modules/${module}`)).length, 0, `${module} was loaded: ${why}`);
    }
  });
});
