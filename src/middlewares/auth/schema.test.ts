import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { normalizeAuth } from './normalize.js';
import { AuthSchema, type RawAuth } from './schema.js';
import { hashSecret } from './secrets.js';

const KEY = hashSecret('k1', 'sha256');
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'brisk-auth-schema-'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'rsa.pub.pem'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'rsa.key.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'ec.pub.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  writeFileSync(join(dir, 'rsa1024.pub.pem'), small.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'secret.txt'), `${'s'.repeat(40)}\n`);
  writeFileSync(join(dir, 'keys.txt'), `# API keys\n\nci:${KEY}\nbroken line\nother:md5:abc\nci:${KEY}\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function problems(raw: RawAuth): string[] {
  assert.ok(Value.Check(AuthSchema, raw), `schema-valid: ${JSON.stringify([...Value.Errors(AuthSchema, raw)].map((e) => `${e.path} ${e.message}`))}`);
  return normalizeAuth(raw, dir).problems.map((p) => `${p.path.join('.')}: ${p.message}`);
}

describe('auth schema and normaliser', () => {
  it('a minimal API key config normalises with defaults', () => {
    const { config, problems: found } = normalizeAuth({ apiKeys: { keys: [{ name: 'ci', hash: KEY }] } }, dir);
    assert.deepEqual(found, []);
    assert.equal(config?.mode, 'anyOf');
    assert.equal(config?.apiKeys?.header, 'x-api-key');
    assert.equal(config?.identityHeaders.subject, 'x-auth-subject');
    assert.equal(config?.hideCredentials, true, 'the target gets no credentials unless the route opts in');
  });

  it('the schema refuses alg "none" and an empty algorithm list', () => {
    assert.equal(Value.Check(AuthSchema, { jwt: { secret: 'x'.repeat(32), algorithms: ['none'] } }), false);
    assert.equal(Value.Check(AuthSchema, { jwt: { secret: 'x'.repeat(32), algorithms: [] } }), false);
    assert.equal(Value.Check(AuthSchema, { jwt: { secret: 'x'.repeat(32) } }), false, 'algorithms is required');
  });

  it('needs a method', () => {
    assert.match(problems({})[0]!, /at least one method/);
  });

  it('reads key files, with file:line in each problem, and refuses duplicate names', () => {
    const found = problems({ apiKeys: { file: 'keys.txt' } });
    assert.equal(found.length, 3, found.join('\n'));
    assert.match(found[0]!, /keys\.txt:4: expected "name:hash"/);
    assert.match(found[1]!, /keys\.txt:5: expected "scrypt/);
    assert.match(found[2]!, /keys\.txt:6: name "ci" is already used by .*keys\.txt:3/);
    assert.match(problems({ apiKeys: { file: 'nope.txt' } })[0]!, /file not found/);
  });

  it('refuses plain-text or unknown hashes inline', () => {
    assert.deepEqual(problems({ basic: { users: [{ name: 'alice', hash: 'hunter2' }] } }), [
      'basic.users.0.hash: expected "scrypt:N:r:p:SALT:HASH" or "sha256:HEX" (make one with `brisk hash-key`)',
    ]);
    assert.match(problems({ apiKeys: { keys: [{ name: 'a', hash: KEY }, { name: 'a', hash: KEY }] } })[0]!, /apiKeys\.keys\.1\.hash: name "a" is already used by apiKeys\.keys\.0/);
  });

  it('HS secrets shorter than the hash are refused (RFC 7518 §3.2)', () => {
    assert.match(problems({ jwt: { secret: 'short', algorithms: ['HS256'] } })[0]!, /5 bytes; HS256 needs at least 32/);
    assert.match(problems({ jwt: { secret: 'x'.repeat(40), algorithms: ['HS256', 'HS512'] } })[0]!, /needs at least 64/);
    assert.deepEqual(problems({ jwt: { secretFile: 'secret.txt', algorithms: ['HS256'], audience: 'api' } }), []);
  });

  it('algorithm confusion is refused at load: a secret with RS*, a public key or JWKS with HS*', () => {
    assert.match(problems({ jwt: { secret: 'x'.repeat(32), algorithms: ['HS256', 'RS256'] } })[0]!, /only verifies HS256/);
    assert.match(problems({ jwt: { publicKey: 'rsa.pub.pem', algorithms: ['RS256', 'HS256'] } })[0]!, /cannot verify HS256/);
    assert.match(problems({ jwt: { jwksUrl: 'https://issuer.example/jwks', algorithms: ['HS256'] } })[0]!, /JWKS holds public keys/);
  });

  it('public keys must fit the algorithms, be public, and be long enough', () => {
    assert.deepEqual(problems({ jwt: { publicKey: 'rsa.pub.pem', algorithms: ['RS256', 'PS256'] } }), []);
    assert.match(problems({ jwt: { publicKey: 'ec.pub.pem', algorithms: ['RS256'] } })[0]!, /ec key cannot verify RS256 \(it can verify ES256\)/);
    assert.match(problems({ jwt: { publicKey: 'rsa.key.pem', algorithms: ['RS256'] } })[0]!, /private key/);
    assert.match(problems({ jwt: { publicKey: 'rsa1024.pub.pem', algorithms: ['RS256'] } })[0]!, /shorter than 2048 bits/);
    assert.match(problems({ jwt: { publicKey: 'secret.txt', algorithms: ['RS256'] } })[0]!, /not a PEM public key/);
  });

  it('exactly one key source', () => {
    assert.match(problems({ jwt: { algorithms: ['RS256'] } })[0]!, /needs one of/);
    assert.match(problems({ jwt: { publicKey: 'rsa.pub.pem', jwksUrl: 'https://x/jwks', algorithms: ['RS256'] } })[0]!, /one key source/);
  });

  it('warns about a missing audience and plain http to another host', () => {
    const { warnings } = normalizeAuth({ jwt: { jwksUrl: 'http://idp.internal/jwks', algorithms: ['RS256'] } }, dir);
    const text = warnings.map((w) => w.message).join('\n');
    assert.match(text, /no `audience`/);
    assert.match(text, /no `issuer`/);
    assert.match(text, /plain http/);
    assert.equal(normalizeAuth({ jwt: { jwksUrl: 'http://127.0.0.1:9/jwks', algorithms: ['RS256'], audience: 'a', issuer: 'i' } }, dir).warnings.length, 0);
  });

  it('identity headers cannot be framing headers, collide, or shadow a credential header', () => {
    assert.match(problems({ apiKeys: { keys: [{ name: 'a', hash: KEY }] }, identityHeaders: { subject: 'Host' } })[0]!, /frames or routes/);
    assert.match(problems({ apiKeys: { keys: [{ name: 'a', hash: KEY }] }, identityHeaders: { subject: 'x-id', claims: { 'X-Id': 'email' } } })[0]!, /already used for the subject/);
    assert.match(problems({ apiKeys: { header: 'x-auth-subject', keys: [{ name: 'a', hash: KEY }] } })[0]!, /also an identity header/);
    assert.match(problems({ forwardAuth: { url: 'http://127.0.0.1:1/auth', copyHeaders: ['content-length'] } })[0]!, /cannot be copied/);
  });

  it('normalises durations, lists and lower-cases names', () => {
    const { config } = normalizeAuth(
      {
        jwt: { jwksUrl: 'https://idp.example/jwks', algorithms: ['RS256', 'RS256'], issuer: 'https://idp.example/', audience: ['a', 'b'], clockSkew: '5s', cacheTtl: '1m', header: 'X-Token' },
        forwardAuth: { url: 'https://auth.example/check', copyHeaders: ['X-User-Id'], cacheTtl: 0 },
        identityHeaders: { claims: { 'X-User-Email': 'email', 'X-Roles': 'realm_access.roles' } },
      },
      dir,
    );
    assert.ok(config);
    assert.deepEqual(config.jwt?.algorithms, ['RS256']);
    assert.deepEqual(config.jwt?.issuer, ['https://idp.example/']);
    assert.equal(config.jwt?.clockSkewMs, 5000);
    assert.equal(config.jwt?.cacheTtlMs, 60_000);
    assert.equal(config.jwt?.header, 'x-token');
    assert.deepEqual(config.forwardAuth?.copyHeaders, ['x-user-id']);
    assert.equal(config.forwardAuth?.cacheTtlMs, 0);
    assert.deepEqual(config.identityHeaders.claims, [
      { header: 'x-user-email', claim: ['email'] },
      { header: 'x-roles', claim: ['realm_access', 'roles'] },
    ]);
  });
});
