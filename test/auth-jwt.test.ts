/**
 * JWT authentication against a real JWKS endpoint (node:http on loopback, keys made with
 * jose at test time), and every bad token an attacker would try.
 */
import assert from 'node:assert/strict';
import { createHmac, createSign, generateKeyPairSync, KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { Answer } from '../src/core/middleware.js';
import { createAuth, normalizeAuth, type AuthConfig, type RawAuth } from '../src/middlewares/auth/index.js';
import { fakeContext, testLogger, valuesOf } from '../src/middlewares/auth/testing.js';

const { logger } = testLogger();
const ISSUER = 'https://idp.test/';
const AUDIENCE = 'brisk-api';

type Keys = Awaited<ReturnType<typeof generateKeyPair>>;

/** A JWKS endpoint whose keys and health the test controls. */
interface JwksServer {
  url: string;
  hits: number;
  keys: JWK[];
  mode: 'ok' | 'fail' | 'hang' | 'garbage';
  close(): Promise<void>;
}

async function startJwks(keys: JWK[]): Promise<JwksServer> {
  const state = { hits: 0, keys, mode: 'ok' as JwksServer['mode'] };
  const server: Server = createServer((req, res) => {
    state.hits++;
    if (state.mode === 'hang') return; // never answers: the client's timeout must fire
    if (state.mode === 'fail') {
      res.writeHead(500).end('down');
      return;
    }
    if (state.mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
    void req;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

async function publicJwk(keys: Keys, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(keys.publicKey)), kid, alg, use: 'sig' };
}

function claims(extra: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: now, exp: now + 300, email: 'alice@example.com', ...extra };
}

async function sign(keys: Keys, kid: string | undefined, alg: string, payload: JWTPayload = claims(), header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }), ...header }).sign(keys.privateKey);
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token made by hand, for the shapes jose would never produce. */
function handmade(header: Record<string, unknown>, payload: JWTPayload, signature: (input: string) => string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signature(input)}`;
}

function build(raw: RawAuth): ReturnType<typeof createAuth> {
  const { config, problems } = normalizeAuth(raw, tmpdir());
  assert.deepEqual(problems, []);
  return createAuth(config!, { logger });
}

async function call(mw: ReturnType<typeof createAuth>, headers: Array<[string, string]>) {
  const ctx = fakeContext({ headers });
  const answer = (await mw.handle(ctx)) as Answer | null;
  return { answer, ctx };
}

const bearer = (token: string): Array<[string, string]> => [['Authorization', `Bearer ${token}`]];

/** Asserts a 401 with a Bearer challenge, and returns the message. */
function assert401(answer: Answer | null, what: string): string {
  assert.ok(answer !== null, `${what}: refused`);
  assert.equal(answer.status, 401, `${what}: status ${answer.status} ${answer.message}`);
  assert.equal(answer.code, 'BRISK_UNAUTHORIZED');
  assert.match(valuesOf(answer.headers as string[], 'www-authenticate')[0] ?? '', /^Bearer realm="brisk"/);
  return answer.message ?? '';
}

let rsa: Keys;
let ec: Keys;
let rotated: Keys;
let attacker: Keys;
let rsaJwk: JWK;
let ecJwk: JWK;
let jwks: JwksServer;
let auth: ReturnType<typeof createAuth>;

before(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256');
  rotated = await generateKeyPair('RS256');
  attacker = await generateKeyPair('RS256');
  rsaJwk = await publicJwk(rsa, 'rsa-1', 'RS256');
  ecJwk = await publicJwk(ec, 'ec-1', 'ES256');
  jwks = await startJwks([rsaJwk, ecJwk]);
  auth = build({
    jwt: { jwksUrl: jwks.url, algorithms: ['RS256', 'ES256'], issuer: ISSUER, audience: AUDIENCE, refreshCooldown: '300ms' },
    identityHeaders: { claims: { 'x-user-email': 'email' } },
  });
});

after(async () => {
  await auth.close?.();
  await jwks.close();
});

describe('JWT with a JWKS endpoint: good tokens', () => {
  it('an RS256 token is accepted: identity set, subject and claim headers sent, forged ones stripped first', async () => {
    const token = await sign(rsa, 'rsa-1', 'RS256');
    const { answer, ctx } = await call(auth, [...bearer(token), ['X-Auth-Subject', 'admin'], ['x-user-email', 'ceo@example.com']]);
    assert.equal(answer, null);
    assert.equal(ctx.identity?.method, 'jwt');
    assert.equal(ctx.identity?.subject, 'user-1');
    assert.equal(ctx.identity?.claims['email'], 'alice@example.com');
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-auth-subject'), ['user-1']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-user-email'), ['alice@example.com']);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'authorization'), [], 'hideCredentials is on by default: the target never sees the token');
  });

  it('an ES256 token signed with the second key of the set is accepted', async () => {
    const { answer } = await call(auth, bearer(await sign(ec, 'ec-1', 'ES256')));
    assert.equal(answer, null);
  });

  it('a token without kid is checked against the keys of its algorithm', async () => {
    const { answer } = await call(auth, bearer(await sign(rsa, undefined, 'RS256')));
    assert.equal(answer, null);
  });

  it('expiry within the clock skew (30s) is still accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { answer } = await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256', claims({ exp: now - 10 }))));
    assert.equal(answer, null);
  });

  it('no credentials: 401 with a plain Bearer challenge (no error attribute)', async () => {
    const { answer } = await call(auth, []);
    assert.equal(answer?.status, 401);
    assert.deepEqual(valuesOf(answer?.headers as string[], 'www-authenticate'), ['Bearer realm="brisk"']);
    assert.match(answer?.message ?? '', /a Bearer token/);
  });
});

describe('JWT attacks, each refused with 401 and a Bearer invalid_token challenge', () => {
  it('alg "none" with an empty signature (unsigned token)', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims({ sub: 'admin' }))}.`;
    assert401((await call(auth, bearer(token))).answer, 'alg none');
  });

  it('alg "none" with a made-up signature, and "None"/"NONE" spellings', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const token = handmade({ alg, kid: 'rsa-1' }, claims({ sub: 'admin' }), () => 'c2lnbmF0dXJl');
      assert401((await call(auth, bearer(token))).answer, alg);
    }
  });

  it('algorithm confusion: HS256 token MACed with the RSA public key (PEM and JWK) as the secret', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    for (const secret of [pem, `${pem}\n`, JSON.stringify(rsaJwk), rsaJwk.n!]) {
      const token = handmade({ alg: 'HS256', kid: 'rsa-1' }, claims({ sub: 'admin' }), (input) => createHmac('sha256', secret).update(input).digest('base64url'));
      assert401((await call(auth, bearer(token))).answer, 'HS256 with public key');
    }
  });

  it('wrong issuer', async () => {
    assert401((await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256', claims({ iss: 'https://evil.test/' }))))).answer, 'issuer');
  });

  it('wrong audience, and no audience at all', async () => {
    assert401((await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256', claims({ aud: 'other-service' }))))).answer, 'audience');
    const payload = claims();
    delete payload.aud;
    assert401((await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256', payload)))).answer, 'no audience');
  });

  it('expired beyond the clock skew (says "expired")', async () => {
    const now = Math.floor(Date.now() / 1000);
    const message = assert401((await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256', claims({ exp: now - 120 }))))).answer, 'expired');
    assert.equal(message, 'bearer token expired');
  });

  it('not yet valid (nbf in the future beyond the skew)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const message = assert401((await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256', claims({ nbf: now + 600 }))))).answer, 'nbf');
    assert.equal(message, 'bearer token not yet valid');
  });

  it('missing exp (a token that never expires), and exp of the wrong type', async () => {
    const payload = claims();
    delete payload.exp;
    assert401((await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256', payload)))).answer, 'no exp');
    const token = handmade({ alg: 'RS256', kid: 'rsa-1' }, { ...claims(), exp: '9999999999' as unknown as number }, (input) => rs256(rsa, input));
    assert401((await call(auth, bearer(token))).answer, 'string exp');
  });

  it('tampered payload (sub changed to admin, signature kept)', async () => {
    const [h, , s] = (await sign(rsa, 'rsa-1', 'RS256')).split('.');
    const token = `${h}.${b64(claims({ sub: 'admin' }))}.${s}`;
    assert401((await call(auth, bearer(token))).answer, 'tampered');
  });

  it("signed with the attacker's own key under a trusted kid", async () => {
    assert401((await call(auth, bearer(await sign(attacker, 'rsa-1', 'RS256')))).answer, 'attacker key');
  });

  it("attacker's key embedded in the header (jwk) or linked (jku, x5u) is never used or fetched", async () => {
    let fetched = 0;
    const evil = createServer((_req, res) => {
      fetched++;
      res.end(JSON.stringify({ keys: [] }));
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/jwks`;
    try {
      const jwk = await exportJWK(attacker.publicKey);
      for (const header of [{ jwk }, { jku: evilUrl }, { x5u: evilUrl }]) {
        const token = await sign(attacker, 'attacker-1', 'RS256', claims({ sub: 'admin' }), header);
        assert401((await call(auth, bearer(token))).answer, Object.keys(header)[0]!);
      }
      assert.equal(fetched, 0, 'the jku/x5u URL was never fetched');
    } finally {
      await new Promise<void>((resolve) => evil.close(() => resolve()));
    }
  });

  it('an unknown critical header extension (crit)', async () => {
    const token = handmade({ alg: 'RS256', kid: 'rsa-1', crit: ['x-evil'], 'x-evil': true }, claims(), (input) => rs256(rsa, input));
    assert401((await call(auth, bearer(token))).answer, 'crit');
  });

  it('an algorithm outside the allow-list (RS512 with a valid RSA key)', async () => {
    const token = handmade({ alg: 'RS512', kid: 'rsa-1' }, claims(), (input) => createSign('RSA-SHA512').update(input).sign(KeyObject.from(rsa.privateKey)).toString('base64url'));
    assert401((await call(auth, bearer(token))).answer, 'RS512');
  });

  it('malformed: two parts, four parts, five parts (JWE), bad base64, padding, non-JSON header, empty', async () => {
    const good = await sign(rsa, 'rsa-1', 'RS256');
    const [h, p, s] = good.split('.') as [string, string, string];
    const cases = {
      'two parts': `${h}.${p}`,
      'four parts': `${good}.${s}`,
      'five parts (JWE)': `${h}.${p}.${s}.${s}.${s}`,
      'bad base64 characters': `${h}.${p}!.${s}`,
      'base64 padding': `${h}=.${p}.${s}`,
      'header not JSON': `${b64('not json')}.${p}.${s}`,
      'payload not an object': `${h}.${b64('[1,2]')}.${s}`,
      'dots only': '..',
    };
    for (const [what, token] of Object.entries(cases)) assert401((await call(auth, bearer(token))).answer, what);
    assert401((await call(auth, [['Authorization', 'Bearer']])).answer, 'Bearer without a token');
    assert401((await call(auth, [['Authorization', 'Bearer a b c']])).answer, 'Bearer with spaces');
  });

  it('a huge token (> 8 KB) is refused before decoding', async () => {
    const huge = await sign(rsa, 'rsa-1', 'RS256', claims({ padding: 'x'.repeat(9000) }));
    const before = jwks.hits;
    const message = assert401((await call(auth, bearer(huge))).answer, 'huge');
    assert.equal(message, 'invalid bearer token');
    assert.equal(jwks.hits, before);
  });

  it('kid path traversal / injection strings are just unknown kids', async () => {
    for (const kid of ['../../../../dev/null', "' OR 1=1 --", '\u0000']) {
      assert401((await call(auth, bearer(await sign(attacker, kid, 'RS256')))).answer, kid);
    }
  });

  it('two Authorization headers (one valid): refused, so Brisk and the target cannot disagree', async () => {
    const token = await sign(rsa, 'rsa-1', 'RS256');
    const { answer } = await call(auth, [...bearer(token), ['authorization', 'Bearer other']]);
    assert.equal(answer?.status, 401);
    assert.match(answer?.message ?? '', /more than one Authorization/);
  });

  it('a failed request never passes forged identity headers on', async () => {
    const { answer, ctx } = await call(auth, [['x-auth-subject', 'admin'], ['X-User-Email', 'ceo@example.com'], ...bearer('a.b.c')]);
    assert.equal(answer?.status, 401);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-auth-subject'), []);
    assert.deepEqual(valuesOf(ctx.upstreamHeaders, 'x-user-email'), []);
    assert.equal(ctx.identity, null);
  });
});

describe('verified-token cache', () => {
  it('answers a repeated token without a promise, re-checks exp, and never caches a refusal', async () => {
    const secret = 'x'.repeat(32);
    const mw = build({ jwt: { secret, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, clockSkew: '0s' } });
    const key = new TextEncoder().encode(secret);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ ...claims(), exp: now + 2 }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    assert.equal((await call(mw, bearer(token))).answer, null);
    const again = mw.handle(fakeContext({ headers: bearer(token) }));
    assert.ok(!(again instanceof Promise), 'a cached verification is synchronous');
    assert.equal(again, null);
    const forged = token.slice(0, -2) + (token.endsWith('AA') ? 'AB' : 'AA');
    assert.equal((await call(mw, bearer(forged))).answer?.status, 401, 'a different text is verified on its own');
    await sleep(3100);
    assert.equal((await call(mw, bearer(token))).answer?.status, 401, 'expiry still applies to a cached token');
    await mw.close?.();
  });
});

describe('JWKS: rotation, cache and outages', () => {
  it('kid not in the JWKS: one refetch (rate limited), then 401', async () => {
    await sleep(350); // past the cooldown of earlier fetches
    const before = jwks.hits;
    assert401((await call(auth, bearer(await sign(attacker, 'unknown-1', 'RS256')))).answer, 'unknown kid');
    assert.equal(jwks.hits, before + 1, 'refetched once');
    for (let i = 0; i < 5; i++) assert401((await call(auth, bearer(await sign(attacker, `unknown-${i + 2}`, 'RS256')))).answer, 'unknown kid again');
    assert.equal(jwks.hits, before + 1, 'no refetch within the cooldown');
  });

  it('key rotation: a token with the new kid makes the gateway fetch the new set and accept it', async () => {
    jwks.keys = [await publicJwk(rotated, 'rsa-2', 'RS256'), ecJwk];
    await sleep(350);
    const { answer } = await call(auth, bearer(await sign(rotated, 'rsa-2', 'RS256')));
    assert.equal(answer, null);
    // The retired key is gone from the set: its tokens are refused once the set is refetched.
    assert401((await call(auth, bearer(await sign(rsa, 'rsa-1', 'RS256')))).answer, 'retired key');
  });

  it('endpoint down after the keys were fetched: the cached keys keep working past cacheTtl', async () => {
    const server = await startJwks([rsaJwk]);
    const mw = build({ jwt: { jwksUrl: server.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE, cacheTtl: '50ms', refreshCooldown: '50ms' } });
    try {
      assert.equal((await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256')))).answer, null);
      server.mode = 'fail';
      await sleep(120);
      const hits = server.hits;
      // Each token distinct (jti), so each one is verified against the keys, not the token cache.
      for (let i = 0; i < 3; i++) assert.equal((await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256', { ...claims(), jti: `t${i}` })))).answer, null, 'still accepted');
      await sleep(20);
      assert.ok(server.hits > hits, 'a background refresh was attempted');
      assert.ok(server.hits <= hits + 2, 'but not one per request');
    } finally {
      await mw.close?.();
      await server.close();
    }
  });

  it('no keys ever fetched (endpoint down): 503 BRISK_AUTH_UNAVAILABLE, then keys once it is back', async () => {
    const server = await startJwks([rsaJwk]);
    server.mode = 'fail';
    const mw = build({ jwt: { jwksUrl: server.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE, refreshCooldown: '50ms' } });
    try {
      const { answer } = await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256')));
      assert.equal(answer?.status, 503);
      assert.equal(answer?.code, 'BRISK_AUTH_UNAVAILABLE');
      assert.deepEqual(valuesOf(answer?.headers as string[], 'retry-after'), ['1']);
      // Within the failure backoff, no new fetch per request.
      const hits = server.hits;
      assert.equal((await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256')))).answer?.status, 503);
      assert.equal(server.hits, hits);
      server.mode = 'ok';
      await sleep(1050);
      assert.equal((await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256')))).answer, null);
    } finally {
      await mw.close?.();
      await server.close();
    }
  });

  it('a hanging endpoint: 503 after the JWKS timeout, not a hung request', async () => {
    const server = await startJwks([rsaJwk]);
    server.mode = 'hang';
    const mw = build({ jwt: { jwksUrl: server.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE, timeout: '200ms' } });
    try {
      const started = Date.now();
      const { answer } = await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256')));
      assert.equal(answer?.status, 503);
      assert.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms`);
    } finally {
      await mw.close?.();
      await server.close();
    }
  });

  it('a token without kid and several keys of its algorithm: each key is tried (bounded), the right one wins', async () => {
    const server = await startJwks([rsaJwk, await publicJwk(rotated, 'rsa-2', 'RS256')]);
    const mw = build({ jwt: { jwksUrl: server.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE } });
    try {
      assert.equal((await call(mw, bearer(await sign(rotated, undefined, 'RS256')))).answer, null, 'second key');
      assert.equal((await call(mw, bearer(await sign(rsa, undefined, 'RS256')))).answer, null, 'first key');
      assert401((await call(mw, bearer(await sign(attacker, undefined, 'RS256')))).answer, 'no key fits');
      const now = Math.floor(Date.now() / 1000);
      assert.equal((await call(mw, bearer(await sign(rotated, undefined, 'RS256', claims({ exp: now - 600 }))))).answer?.message, 'bearer token expired', 'a claim failure after a good signature is final');
    } finally {
      await mw.close?.();
      await server.close();
    }
  });

  it('a JWKS answer that is not JSON counts as no keys: 503', async () => {
    const server = await startJwks([rsaJwk]);
    server.mode = 'garbage';
    const mw = build({ jwt: { jwksUrl: server.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE } });
    try {
      assert.equal((await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256')))).answer?.status, 503);
    } finally {
      await mw.close?.();
      await server.close();
    }
  });

  it('a JWKS with only symmetric or private keys: they are never used, the token gets 401', async () => {
    const server = await startJwks([{ kty: 'oct', k: 'c2VjcmV0', kid: 'rsa-1' }, { ...(await exportJWK(rsa.privateKey)), kid: 'rsa-1' }]);
    const mw = build({ jwt: { jwksUrl: server.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE } });
    try {
      assert401((await call(mw, bearer(await sign(rsa, 'rsa-1', 'RS256')))).answer, 'no usable keys');
    } finally {
      await mw.close?.();
      await server.close();
    }
  });
});

describe('JWT with a shared secret or a PEM public key', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'brisk-auth-jwt-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('HS256: the right secret passes, another secret fails, from the cookie when configured', async () => {
    const secret = 'a-very-long-shared-secret-of-at-least-32-bytes';
    const { config } = normalizeAuth({ jwt: { secret, algorithms: ['HS256'], audience: AUDIENCE, cookie: 'session' } }, dir);
    const mw = createAuth(config!, { logger });
    const good = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    const bad = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(`${secret}!`));
    assert.equal((await call(mw, [['cookie', `theme=dark; session=${good}`]])).answer, null);
    assert.equal((await call(mw, [['cookie', `session=${bad}`]])).answer?.status, 401);
    assert.equal((await call(mw, [['cookie', `session=${good}; session=${good}`]])).answer?.status, 401, 'a cookie sent twice is ambiguous');
    assert.equal((await call(mw, bearer(good))).answer?.status, 401, 'the header is not read when a cookie is configured');
  });

  it('PEM public key: RS256 passes; HS256 MACed with the PEM text fails', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    writeFileSync(join(dir, 'pub.pem'), pem);
    const mw = build({ jwt: { publicKey: join(dir, 'pub.pem'), algorithms: ['RS256'], audience: AUDIENCE } });
    const good = handmade({ alg: 'RS256' }, claims(), (input) => createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url'));
    assert.equal((await call(mw, bearer(good))).answer, null);
    const confused = handmade({ alg: 'HS256' }, claims({ sub: 'admin' }), (input) => createHmac('sha256', pem).update(input).digest('base64url'));
    assert401((await call(mw, bearer(confused))).answer, 'HS256 with the PEM');
  });

  it('algorithm confusion is refused by key typing even if the allow-list had HS256 (jose refuses a public key as an HMAC secret)', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    // Built by hand: the normaliser would refuse this config outright.
    const { config } = normalizeAuth({ jwt: { secret: 'x'.repeat(32), algorithms: ['HS256'], audience: AUDIENCE } }, dir);
    const unsafe: AuthConfig = { ...config!, jwt: { ...config!.jwt!, key: { kind: 'pem', pem, file: 'pub.pem' }, algorithms: ['RS256', 'HS256'] } };
    const mw = createAuth(unsafe, { logger });
    const confused = handmade({ alg: 'HS256' }, claims({ sub: 'admin' }), (input) => createHmac('sha256', pem).update(input).digest('base64url'));
    assert401((await call(mw, bearer(confused))).answer, 'key typing');
  });

  it('requireExp: false accepts a token without exp; the subject comes from subjectClaim', async () => {
    const secret = 'another-long-shared-secret-of-32-bytes-or-more';
    const mw = build({ jwt: { secret, algorithms: ['HS256'], audience: AUDIENCE, requireExp: false, subjectClaim: 'client_id' } });
    const payload = claims({ client_id: 'svc-7' });
    delete payload.exp;
    const token = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    const { answer, ctx } = await call(mw, bearer(token));
    assert.equal(answer, null);
    assert.equal(ctx.identity?.subject, 'svc-7');
  });

  it('requiredClaims: a token without one is refused', async () => {
    const secret = 'another-long-shared-secret-of-32-bytes-or-more';
    const mw = build({ jwt: { secret, algorithms: ['HS256'], audience: AUDIENCE, requiredClaims: ['tenant'] } });
    const without = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    const withIt = await new SignJWT(claims({ tenant: 't1' })).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    assert401((await call(mw, bearer(without))).answer, 'missing tenant');
    assert.equal((await call(mw, bearer(withIt))).answer, null);
  });
});

function rs256(keys: Keys, input: string): string {
  return createSign('RSA-SHA256')
    .update(input)
    .sign(KeyObject.from(keys.privateKey))
    .toString('base64url');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
