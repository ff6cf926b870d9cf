import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { EXAMPLE_CONFIG } from '../config/docs.js';
import { runCheck } from './check.js';
import { SCHEMA_ID, schemaJson } from './schema.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'brisk-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function check(text: string | undefined, name = 'brisk.yaml') {
  const file = join(dir, name);
  if (text !== undefined) writeFileSync(file, text);
  const out = new Capture();
  const err = new Capture();
  const code = await runCheck(file, out, err);
  return { code, out: out.text, err: err.text, file };
}

test('a valid file: exit 0 and a summary', async () => {
  const r = await check(EXAMPLE_CONFIG);
  assert.equal(r.code, 0);
  assert.equal(r.out, `${r.file}: OK (2 routes, 1 upstreams, 1 listeners)\n`);
  assert.equal(r.err, '');
});

test('warnings go to stderr but do not fail the check', async () => {
  const valid = EXAMPLE_CONFIG.replace('routes:\n', '  spare:\n    targets: [{ url: "http://127.0.0.1:7003" }]\nroutes:\n');
  const w = await check(valid, 'warn.yaml');
  assert.equal(w.code, 0);
  assert.match(w.out, /: OK \(2 routes, 2 upstreams, 1 listeners\)\n$/);
  assert.equal(w.err, `${w.file}:12:3  upstreams.spare  warning: upstream "spare" is not used by any route\n`);
});

test('an invalid file: exit 1 and one line per problem', async () => {
  const r = await check(EXAMPLE_CONFIG.replace('upstream: products\n  - name: everything-else', 'upstream: prodcts\n  - name: everything-else').replace('timeouts: { connect', 'timeouts: { conect'), 'bad.yaml');
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.deepEqual(r.err.trimEnd().split('\n'), [
    `${r.file}:11:17  upstreams.products.timeouts.conect  unknown key "conect"; did you mean "connect"?`,
    `${r.file}:15:15  routes.0.upstream  unknown upstream "prodcts"; did you mean "products"?`,
  ]);
  const fixedSchema = await check(EXAMPLE_CONFIG.replace('upstream: products\n  - name: everything-else', 'upstream: prodcts\n  - name: everything-else'), 'bad2.yaml');
  assert.equal(fixedSchema.code, 1);
  assert.equal(fixedSchema.err, `${fixedSchema.file}:15:15  routes.0.upstream  unknown upstream "prodcts"; did you mean "products"?\n`);
});

test('a missing file', async () => {
  const r = await check(undefined, 'absent.yaml');
  assert.equal(r.code, 1);
  assert.equal(r.err, `${r.file}:1:1  (root)  cannot read the configuration file: file not found\n`);
});

test('schemaJson: a draft-07 schema that validates the example and rejects typos', () => {
  const schema = JSON.parse(schemaJson()) as Record<string, unknown>;
  assert.equal(schema['$schema'], 'http://json-schema.org/draft-07/schema#');
  assert.equal(schema['$id'], SCHEMA_ID);
  assert.equal(schema['title'], 'Brisk configuration');
  assert.ok(schemaJson().includes('\n  "'), 'pretty-printed');
  const validate = new Ajv({ strict: false }).compile(schema);
  assert.equal(validate(parse(EXAMPLE_CONFIG)), true);
  assert.equal(validate(parse(EXAMPLE_CONFIG.replace('timeouts:', 'timeout:'))), false);
  // Upstream names are checked by the published schema too, not only by the loader.
  assert.equal(validate(parse(EXAMPLE_CONFIG.replace('  products:\n    targets', '  "my products":\n    targets'))), false);
});

test('TLS material: a garbage certificate and key fail the check at their lines', async () => {
  writeFileSync(join(dir, 'site.crt'), 'not a certificate\n');
  writeFileSync(join(dir, 'site.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  const r = await check(
    `listen:
  - address: 127.0.0.1:8443
    tls:
      certificates:
        - { cert: site.crt, key: site.key }
upstreams:
  app: { targets: [{ url: "http://127.0.0.1:7001" }] }
routes:
  - { name: all, upstream: app }
`,
    'tls.yaml',
  );
  assert.equal(r.code, 1);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.err);
  assert.equal(lines[0], `${r.file}:5:19  listen.0.tls.certificates.0.cert  ${join(dir, 'site.crt')} is not a PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)`);
  assert.match(lines[1]!, new RegExp(`^${r.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:34  listen\\.0\\.tls\\.certificates\\.0\\.key  .*site\\.key is not a valid key: `));
});
