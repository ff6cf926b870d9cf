/**
 * API keys, Basic, their combination with JWT (anyOf / allOf), identity headers and
 * hidden credentials, through the middleware as the pipeline runs it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, type JWTPayload } from 'jose';
import type { Answer } from '../src/core/middleware.js';
import { createAuth, hashSecret, normalizeAuth, type RawAuth } from '../src/middlewares/auth/index.js';
import { cheapScryptHash, fakeContext, testLogger, valuesOf, type FakeRequest } from '../src/middlewares/auth/testing.js';

const { logger } = testLogger();
const KEY = 'k_live_4f9a1c2b7d3e8f60a1b2c3d4e5f60718';
const SLOW_KEY = 'k_live_scrypt_hashed_key_0123456789';
const SECRET = 'shared-secret-for-tests-at-least-32-bytes';
let dir: string;
const built: Array<ReturnType<typeof createAuth>> = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'brisk-auth-methods-'));
});
after(async () => {
  await Promise.all(built.map((m) => m.close?.()));
  rmSync(dir, { recursive: true, force: true });
});

function build(raw: RawAuth) {
  const { config, problems } = normalizeAuth(raw, dir);
  assert.deepEqual(problems, []);
  const mw = createAuth(config!, { logger });
  built.push(mw);
  return mw;
}

async function call(mw: ReturnType<typeof createAuth>, req: FakeRequest) {
  const ctx = fakeContext(req);
  const answer = (await mw.handle(ctx)) as Answer | null;
  return { answer, ctx };
}

const basicHeader = (user: string, password: string): [string, string] => ['Authorization', `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`];

function jwt(payload: JWTPayload = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'jwt-user', aud: 'api', exp: now + 60, ...payload }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
}

describe('API keys', () => {
  const config = (): RawAuth => ({
    apiKeys: {
      authorization: true,
      query: 'api_key',
      keys: [
        { name: 'ci-bot', hash: hashSecret(KEY, 'sha256') },
        { name: 'legacy', hash: cheapScryptHash(SLOW_KEY) },
      ],
    },
  });

  it('a valid key in x-api-key: the key name is the subject', async () => {
    const { answer, ctx } = await call(build(config()), { headers: [['X-API-Key', KEY]] });
    assert.equal(answer, null);
    assert.deepEqual(ctx.identity, { method: 'api-key', subject: 'ci-bot', claims: { name: 'ci-bot' } });
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-auth-subject'), ['ci-bot']);
  });

  it('the key also works as Authorization: ApiKey and as a query parameter (percent-encoded)', async () => {
    const mw = build(config());
    assert.equal((await call(mw, { headers: [['authorization', `ApiKey ${KEY}`]] })).answer, null);
    assert.equal((await call(mw, { query: `x=1&api_key=${encodeURIComponent(KEY)}` })).answer, null);
  });

  it('scrypt-hashed keys work, and a repeated key is not hashed again (cached result)', async () => {
    const mw = build(config());
    const first = await call(mw, { headers: [['x-api-key', SLOW_KEY]] });
    assert.equal(first.ctx.identity?.subject, 'legacy');
    const started = process.hrtime.bigint();
    for (let i = 0; i < 20; i++) assert.equal((await call(mw, { headers: [['x-api-key', SLOW_KEY]] })).answer, null);
    const perCallMs = Number(process.hrtime.bigint() - started) / 1e6 / 20;
    assert.ok(perCallMs < 5, `cached checks take ${perCallMs.toFixed(2)} ms each`);
  });

  it('wrong, empty, oversized and doubled keys get 401 with an ApiKey challenge', async () => {
    const mw = build(config());
    const cases: Array<[string, FakeRequest]> = [
      ['wrong key', { headers: [['x-api-key', 'k_live_guess']] }],
      ['key differing in case', { headers: [['x-api-key', KEY.toUpperCase()]] }],
      ['empty key', { headers: [['x-api-key', '']] }],
      ['oversized key', { headers: [['x-api-key', 'k'.repeat(5000)]] }],
      ['two different keys in two headers', { headers: [['x-api-key', KEY], ['x-api-key', 'other']] }],
      ['a key in the header and another in the query', { headers: [['x-api-key', KEY]], query: 'api_key=other' }],
      ['bad percent-encoding in the query', { query: 'api_key=%E0%A4%A' }],
      ['ApiKey scheme without a key', { headers: [['authorization', 'ApiKey']] }],
      ['hash of the key sent as the key', { headers: [['x-api-key', hashSecret(KEY, 'sha256')]] }],
    ];
    for (const [what, req] of cases) {
      const { answer, ctx } = await call(mw, req);
      assert.equal(answer?.status, 401, what);
      assert.equal(answer?.code, 'BRISK_UNAUTHORIZED', what);
      assert.deepEqual(valuesOf(answer?.headers as string[], 'www-authenticate'), ['ApiKey realm="brisk"'], what);
      assert.equal(ctx.identity, null, what);
    }
  });

  it('keys from a file (name:hash lines) are read at normalisation, so a reload re-reads them', async () => {
    const file = join(dir, 'keys.txt');
    writeFileSync(file, `# team keys\nteam-a:${hashSecret('key-a-0123456789abcdef', 'sha256')}\n`);
    const v1 = build({ apiKeys: { file: 'keys.txt' } });
    assert.equal((await call(v1, { headers: [['x-api-key', 'key-a-0123456789abcdef']] })).answer, null);
    writeFileSync(file, `team-b:${hashSecret('key-b-0123456789abcdef', 'sha256')}\n`);
    const v2 = build({ apiKeys: { file: 'keys.txt' } });
    assert.equal((await call(v2, { headers: [['x-api-key', 'key-a-0123456789abcdef']] })).answer?.status, 401, 'removed key refused after reload');
    assert.equal((await call(v2, { headers: [['x-api-key', 'key-b-0123456789abcdef']] })).answer, null);
  });

  it('hideCredentials removes the key header from the request to the target', async () => {
    const mw = build({ ...config(), hideCredentials: true });
    const { ctx } = await call(mw, { headers: [['X-Api-Key', KEY], ['accept', 'application/json']] });
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-api-key'), []);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'accept'), ['application/json']);
  });

  it('hideCredentials is on by default; `hideCredentials: false` passes the key on', async () => {
    const byDefault = await call(build(config()), { headers: [['X-Api-Key', KEY]] });
    assert.equal(byDefault.answer, null);
    assert.deepEqual(valuesOf(byDefault.ctx.upstreamHeaders, 'x-api-key'), [], 'the target never sees the raw key');
    const optedIn = await call(build({ ...config(), hideCredentials: false }), { headers: [['X-Api-Key', KEY]] });
    assert.deepEqual(valuesOf(optedIn.ctx.upstreamHeaders, 'x-api-key'), [KEY]);
  });
});

describe('Basic', () => {
  let mw: ReturnType<typeof createAuth>;
  before(() => {
    mw = build({
      basic: { realm: 'Staff "only"', users: [{ name: 'alice', hash: cheapScryptHash('wonderland') }, { name: 'bob', hash: hashSecret('builder') }] },
      hideCredentials: true,
    });
  });

  it('right password: the user is the subject; the Authorization header is hidden from the target', async () => {
    const { answer, ctx } = await call(mw, { headers: [basicHeader('alice', 'wonderland')] });
    assert.equal(answer, null);
    assert.equal(ctx.identity?.subject, 'alice');
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'authorization'), []);
  });

  it('a hash made by hashSecret with the default scrypt cost verifies', async () => {
    assert.equal((await call(mw, { headers: [basicHeader('bob', 'builder')] })).answer, null);
  });

  it('a password with a colon is fine (only the first colon splits)', async () => {
    const withColon = build({ basic: { users: [{ name: 'carol', hash: cheapScryptHash('pa:ss:word') }] } });
    assert.equal((await call(withColon, { headers: [basicHeader('carol', 'pa:ss:word')] })).answer, null);
  });

  it('wrong password, unknown user, malformed credentials: 401 with a Basic challenge', async () => {
    const cases: Array<[string, [string, string]]> = [
      ['wrong password', basicHeader('alice', 'Wonderland')],
      ['unknown user', basicHeader('mallory', 'wonderland')],
      ['empty password', basicHeader('alice', '')],
      ['not base64', ['authorization', 'Basic !!!not-base64!!!']],
      ['no colon', ['authorization', `Basic ${Buffer.from('alicewonderland').toString('base64')}`]],
      ['control characters', basicHeader('alice\n', 'wonderland')],
      ['Basic without credentials', ['authorization', 'Basic']],
      ['oversized', ['authorization', `Basic ${'QUFB'.repeat(2000)}`]],
    ];
    for (const [what, header] of cases) {
      const { answer } = await call(mw, { headers: [header] });
      assert.equal(answer?.status, 401, what);
      assert.deepEqual(valuesOf(answer?.headers as string[], 'www-authenticate'), ['Basic realm="Staff \\"only\\"", charset="UTF-8"'], what);
    }
  });
});

describe('several methods', () => {
  const keys = { keys: [{ name: 'ci-bot', hash: hashSecret(KEY, 'sha256') }] };
  const jwtConfig = { secret: SECRET, algorithms: ['HS256' as const], audience: 'api' };

  it('anyOf: the first method whose credentials are present decides; a failure there is final', async () => {
    const mw = build({ apiKeys: keys, jwt: jwtConfig });
    const token = await jwt();
    assert.equal((await call(mw, { headers: [['authorization', `Bearer ${token}`]] })).ctx.identity?.method, 'jwt');
    assert.equal((await call(mw, { headers: [['x-api-key', KEY]] })).ctx.identity?.method, 'api-key');
    const badKeyGoodToken = await call(mw, { headers: [['x-api-key', 'wrong'], ['authorization', `Bearer ${token}`]] });
    assert.equal(badKeyGoodToken.answer?.status, 401, 'no fallback from a failed API key to the token');
  });

  it('anyOf without credentials: 401 naming every way in, with every challenge', async () => {
    const mw = build({ apiKeys: keys, jwt: jwtConfig, basic: { users: [{ name: 'a', hash: cheapScryptHash('b') }] } });
    const { answer } = await call(mw, {});
    assert.equal(answer?.status, 401);
    assert.equal(answer?.message, 'authentication required: an API key in the x-api-key header or a Bearer token or Basic credentials');
    assert.deepEqual(valuesOf(answer?.headers as string[], 'www-authenticate'), ['ApiKey realm="brisk"', 'Bearer realm="brisk"', 'Basic realm="brisk", charset="UTF-8"']);
  });

  it('allOf: every method must succeed; the identity joins the methods, the first subject wins', async () => {
    const mw = build({ mode: 'allOf', apiKeys: keys, jwt: jwtConfig, identityHeaders: { method: 'x-auth-method' } });
    const token = await jwt({ email: 'x@example.com' });
    assert.equal((await call(mw, { headers: [['x-api-key', KEY]] })).answer?.status, 401, 'token missing');
    assert.equal((await call(mw, { headers: [['authorization', `Bearer ${token}`]] })).answer?.status, 401, 'key missing');
    assert.equal((await call(mw, { headers: [['x-api-key', 'wrong'], ['authorization', `Bearer ${token}`]] })).answer?.status, 401, 'wrong key');
    const { answer, ctx } = await call(mw, { headers: [['x-api-key', KEY], ['authorization', `Bearer ${token}`]] });
    assert.equal(answer, null);
    assert.equal(ctx.identity?.method, 'api-key+jwt');
    assert.equal(ctx.identity?.subject, 'ci-bot');
    assert.equal(ctx.identity?.claims['email'], 'x@example.com');
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-auth-method'), ['api-key+jwt']);
  });
});

describe('identity headers', () => {
  it('client-sent identity headers are stripped in any case, even when auth fails', async () => {
    const mw = build({ apiKeys: { keys: [{ name: 'ci', hash: hashSecret(KEY, 'sha256') }] }, identityHeaders: { method: 'X-Auth-Method', claims: { 'x-user-email': 'email' } } });
    const forged: Array<[string, string]> = [['x-auth-subject', 'admin'], ['X-AUTH-SUBJECT', 'root'], ['X-Auth-Method', 'jwt'], ['x-user-email', 'ceo@example.com']];
    const failed = await call(mw, { headers: [...forged, ['x-api-key', 'wrong']] });
    assert.equal(failed.answer?.status, 401);
    for (const name of ['x-auth-subject', 'x-auth-method', 'x-user-email']) assert.deepEqual(valuesOf(failed.ctx.upstreamHeaders, name), [], name);
    const passed = await call(mw, { headers: [...forged, ['x-api-key', KEY]] });
    assert.deepEqual(valuesOf(passed.ctx.upstreamHeaders, 'x-auth-subject'), ['ci']);
    assert.deepEqual(valuesOf(passed.ctx.upstreamHeaders, 'x-auth-method'), ['api-key']);
    assert.deepEqual(valuesOf(passed.ctx.upstreamHeaders, 'x-user-email'), [], 'API keys carry no email claim: the header is left out, not forged');
  });

  it('claims map to headers: nested paths, arrays joined, header injection neutralised, prototype paths ignored', async () => {
    const mw = build({
      jwt: { secret: SECRET, algorithms: ['HS256'], audience: 'api' },
      identityHeaders: { subject: 'x-user', claims: { 'x-roles': 'realm_access.roles', 'x-name': 'name', 'x-tenant': 'tenant', 'x-proto': '__proto__.polluted', 'x-ctor': 'constructor' } },
    });
    const token = await jwt({ sub: 'u-1\r\nx-admin: yes', realm_access: { roles: ['reader', 'writer'] }, name: 'José', tenant: 42 });
    const { answer, ctx } = await call(mw, { headers: [['authorization', `Bearer ${token}`]] });
    assert.equal(answer, null);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-user'), ['u-1%0D%0Ax-admin: yes']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-admin'), []);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-roles'), ['reader,writer']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-name'), ['Jos%C3%A9']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-tenant'), ['42']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-proto'), []);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-ctor'), []);
  });

  it('identityHeaders.subject: false sends no subject header', async () => {
    const mw = build({ apiKeys: { keys: [{ name: 'ci', hash: hashSecret(KEY, 'sha256') }] }, identityHeaders: { subject: false } });
    const { ctx } = await call(mw, { headers: [['x-api-key', KEY], ['x-auth-subject', 'forged']] });
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-auth-subject'), ['forged'], 'not an identity header any more, so not Brisk\'s to strip');
    assert.equal(ctx.identity?.subject, 'ci');
  });
});
