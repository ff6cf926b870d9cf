import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gate, TtlCache } from './cache.js';
import { claimHeaderValue, cookieValues, removeCookie, removeHeaders } from './headers.js';
import { hashSecret, parseHash, verifySecret, verifySecretAsync } from './secrets.js';
import { cheapScryptHash } from './testing.js';

describe('hashSecret / verifySecret', () => {
  it('scrypt (the default) round-trips, salts every hash, and refuses a wrong secret', () => {
    const a = hashSecret('correct horse');
    const b = hashSecret('correct horse');
    assert.match(a, /^scrypt:16384:8:1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
    assert.notEqual(a, b, 'a fresh salt each time');
    assert.equal(verifySecret('correct horse', a), true);
    assert.equal(verifySecret('correct horsE', a), false);
    assert.equal(verifySecret('', a), false);
  });

  it('sha256 round-trips and is the plain digest', () => {
    const h = hashSecret('k_live_0123456789abcdef', 'sha256');
    assert.match(h, /^sha256:[0-9a-f]{64}$/);
    assert.equal(verifySecret('k_live_0123456789abcdef', h), true);
    assert.equal(verifySecret('k_live_0123456789abcdeF', h), false);
  });

  it('never throws on a malformed hash: it is simply no match', () => {
    for (const bad of ['', 'plain', 'sha256:zz', 'sha256:' + 'a'.repeat(63), 'scrypt:16384:8:1:salt', 'md5:abc', 'scrypt:1000:8:1:AAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAA']) {
      assert.equal(verifySecret('x', bad), false, bad);
    }
  });

  it('verifySecretAsync agrees with verifySecret', async () => {
    const h = cheapScryptHash('pw');
    const parsed = parseHash(h);
    assert.ok(parsed.ok);
    assert.equal(await verifySecretAsync('pw', parsed.value), true);
    assert.equal(await verifySecretAsync('pW', parsed.value), false);
    assert.equal(verifySecret('pw', h), true);
  });
});

describe('parseHash refuses parameters that would let a config file exhaust memory', () => {
  const salt = Buffer.alloc(16, 1).toString('base64url');
  const key = Buffer.alloc(32, 2).toString('base64url');
  const cases: Array<[string, RegExp]> = [
    [`scrypt:${2 ** 21}:8:1:${salt}:${key}`, /power of two from 2 to/],
    [`scrypt:1000:8:1:${salt}:${key}`, /power of two/],
    [`scrypt:1024:64:1:${salt}:${key}`, /r must be/],
    [`scrypt:1048576:16:1:${salt}:${key}`, /256 MiB/],
    [`scrypt:1024:8:1:AAAA:${key}`, /salt must be at least 8 bytes/],
    [`scrypt:1024:8:1:${salt}:AAAA`, /hash must be 16 to 64 bytes/],
    [`scrypt:1024:8:1:${salt}:${key}=`, /base64url/],
    ['bcrypt:$2b$10$abc', /scrypt:N:r:p:SALT:HASH/],
  ];
  for (const [hash, reason] of cases) {
    it(hash.slice(0, 40), () => {
      const parsed = parseHash(hash);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.reason, reason);
    });
  }
});

describe('header helpers', () => {
  it('removeHeaders drops every listed name, any case, keeping order', () => {
    const list = ['Host', 'a', 'X-Auth-Subject', 'evil', 'accept', '*/*', 'x-auth-subject', 'evil2', 'X-USER-EMAIL', 'e'];
    removeHeaders(list, new Set(['x-auth-subject', 'x-user-email']));
    assert.deepEqual(list, ['Host', 'a', 'accept', '*/*']);
  });

  it('cookieValues finds a cookie across headers and reports duplicates; removeCookie drops it', () => {
    const raw = ['cookie', 'a=1; session=abc; b=2', 'Cookie', 'session="def"'];
    assert.deepEqual(cookieValues(raw, 'session'), ['abc', 'def']);
    assert.deepEqual(cookieValues(raw, 'missing'), []);
    const list = ['cookie', 'a=1; session=abc; b=2', 'cookie', 'session=def', 'x', 'y'];
    removeCookie(list, 'session');
    assert.deepEqual(list, ['cookie', 'a=1; b=2', 'x', 'y']);
  });

  it('claimHeaderValue never yields something that could split a header', () => {
    assert.equal(claimHeaderValue('alice@example.com'), 'alice@example.com');
    assert.equal(claimHeaderValue(['admin', 'ops']), 'admin,ops');
    assert.equal(claimHeaderValue(42), '42');
    assert.equal(claimHeaderValue({ a: 1 }), '{"a":1}');
    assert.equal(claimHeaderValue(null), undefined);
    assert.equal(claimHeaderValue('evil\r\nx-admin: true'), 'evil%0D%0Ax-admin: true');
    assert.equal(claimHeaderValue('José 100%'), 'Jos%C3%A9 100%25');
    assert.equal(claimHeaderValue('\ud800'), undefined, 'a lone surrogate is left out, not thrown');
    assert.equal(claimHeaderValue('x'.repeat(5000)), undefined, 'too long is left out, not cut');
  });
});

describe('TtlCache and Gate', () => {
  it('expires entries and evicts the least recently used when full', () => {
    let now = 0;
    const cache = new TtlCache<number>(2, () => now);
    cache.set('a', 1, 100);
    cache.set('b', 2, 100);
    assert.equal(cache.get('a'), 1); // a is now the most recent
    cache.set('c', 3, 100); // evicts b
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 1);
    now = 100;
    assert.equal(cache.get('a'), undefined, 'expired');
    assert.equal(cache.size, 1);
  });

  it('Gate runs at most `limit` at once and refuses past its queue', async () => {
    const gate = new Gate(1, 1);
    let release!: () => void;
    const first = gate.run(() => new Promise<string>((r) => (release = () => r('first'))));
    const second = gate.run(async () => 'second');
    const third = await gate.run(async () => 'third');
    assert.equal(third, undefined, 'queue full: refused without running');
    release();
    assert.equal(await first, 'first');
    assert.equal(await second, 'second');
  });
});
