import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { publishedSchema } from './json-schema.js';
import { compile, precompiled, validateSchema } from './validate.js';
import { hoistObjects, validatorSource } from './validator-code.js';

// The validator compiled at build time must say exactly what the one compiled at start
// says, for valid and invalid files alike, and must not be used for another schema.

const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, `validator.test-${process.pid}.cjs`);
after(() => rmSync(file, { force: true }));

const schema = publishedSchema();
writeFileSync(file, validatorSource(schema));
const built = precompiled(schema, file);
const atStart = compile(schema);

const BASE = 'listen: [{ address: "127.0.0.1:0" }]\nupstreams: { api: { targets: [{ url: "http://127.0.0.1:1" }] } }\n';
const CASES: Record<string, string> = {
  valid: `${BASE}routes: [{ name: r, match: { pathPrefix: / }, upstream: api }]\n`,
  'unknown key in a route': `${BASE}routes: [{ name: r, match: { pathPrefx: / }, upstream: api }]\n`,
  'bad duration': `${BASE}routes: [{ name: r, match: { pathPrefix: / }, upstream: api, timeouts: { total: fast } }]\n`,
  'missing required key': 'listen: [{ address: "127.0.0.1:0" }]\nupstreams: {}\n',
  'union branch meant': `${BASE}routes: [{ name: r, match: { pathPrefix: / }, upstream: api, cache: { defaultTtl: 1h, maxObjectSize: 12 parsecs } }]\n`,
  'deep middleware mistakes': `${BASE}routes: [{ name: r, match: { pathPrefix: / }, upstream: api, rateLimit: { limits: [{ rate: -1, per: 1s, key: nobody }] }, auth: { jwt: { secret: 3 } } }]\nlogging: { level: loud, accessLog: { file: "", sample: { successes: 2 } } }\n`,
  'bad names': 'listen: [{ address: 8080 }]\nupstreams: { "my api": { targets: [] } }\nroutes: [{ name: r, upstream: "my api", match: {} }]\nalerts: { rules: [{ name: x }] }\nservices: { "a b": {} }\n',
};

describe('the config validator compiled at build time', () => {
  test('is used for the schema it was compiled from, and hoists object schemas into functions of their own', () => {
    assert.notEqual(built, null);
    assert.ok(Object.keys((hoistObjects(schema)['$defs'] as object | undefined) ?? {}).length > 5);
  });

  test('is not used for another schema', () => {
    const other = { ...schema, description: 'another schema' };
    assert.equal(precompiled(other, file), null);
    assert.equal(precompiled(schema, join(here, 'no-such-validator.cjs')), null);
  });

  test('is plain ASCII (V8 holds it as one byte a character)', () => {
    assert.equal(/[^\x00-\x7f]/.test(readFileSync(file, 'utf8')), false);
  });

  test('is not kept in memory once the caller drops it', () => {
    // In another process, with gc exposed: nothing but the caller may hold the loaded validator.
    const script = `
      const { precompiled } = await import(${JSON.stringify(new URL('./validate.js', import.meta.url).href)});
      const { publishedSchema } = await import(${JSON.stringify(new URL('./json-schema.js', import.meta.url).href)});
      let fn = precompiled(publishedSchema(), ${JSON.stringify(file)});
      if (typeof fn !== 'function') throw new Error('the validator was not loaded');
      const ref = new WeakRef(fn);
      fn = null;
      await new Promise((r) => setTimeout(r, 10));
      globalThis.gc();
      process.stdout.write(String(ref.deref() === undefined));`;
    const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, 'true', 'the validator was still reachable after the caller dropped it');
  });

  for (const [name, text] of Object.entries(CASES)) {
    test(`reports what the validator compiled at start reports: ${name}`, () => {
      const a = validateSchema(parse(text), undefined, built!);
      const b = validateSchema(parse(text), undefined, atStart);
      // The loader sorts problems by position: their order here is not part of the answer.
      const sorted = (r: typeof a) => (r.ok ? [] : r.problems.map((p) => JSON.stringify(p)).sort());
      assert.equal(a.ok, b.ok);
      assert.deepEqual(sorted(a), sorted(b));
      if (name === 'valid') assert.equal(a.ok, true);
      else assert.ok(sorted(a).length > 0);
    });
  }
});
