import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headerValue, ipKey, keyExtractor, MAX_PLAIN_KEY } from './keys.js';
import { parseKey } from './schema.js';
import { testContext } from './fixture-context.js';

const key = (spec: string, prefix = 64) => keyExtractor(parseKey(spec), prefix);

describe('rate-limit keys', () => {
  it('ip: IPv4 as is, IPv4-mapped unmapped, IPv6 grouped by prefix', () => {
    assert.equal(key('ip')(testContext({ clientIp: '192.0.2.7' })), '192.0.2.7');
    assert.equal(key('ip')(testContext({ clientIp: '::ffff:192.0.2.7' })), '192.0.2.7');
    assert.equal(ipKey('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2:0:0:0:0/64');
    // Two addresses of one /64 share a counter; spelled differently they still do.
    assert.equal(ipKey('2001:db8:1:2::9', 64), ipKey('2001:0db8:0001:0002:ffff::1', 64));
    assert.notEqual(ipKey('2001:db8:1:2::9', 64), ipKey('2001:db8:1:3::9', 64));
    assert.equal(ipKey('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6');
    assert.equal(ipKey('::1', 128), '0:0:0:0:0:0:0:1');
    assert.equal(ipKey('2001:db8:abcd:ef12::', 56), '2001:db8:abcd:ef00:0:0:0:0/56');
    assert.equal(ipKey('64:ff9b::192.0.2.33', 128), '64:ff9b:0:0:0:0:c000:221');
    assert.equal(ipKey('fe80::1%eth0', 64), 'fe80:0:0:0:0:0:0:0/64');
    // Not an address (should not happen): an opaque, bounded value.
    assert.equal(ipKey('not:an:address', 64), 'not:an:address');
  });

  it('header: case-insensitive, first occurrence, trimmed; absent or empty is anonymous', () => {
    const byUser = key('header:X-User');
    assert.equal(byUser(testContext({ rawHeaders: ['Host', 'x', 'x-USER', ' alice ', 'X-User', 'bob'] })), 'alice');
    assert.equal(byUser(testContext({ rawHeaders: ['Host', 'x'] })), '');
    assert.equal(byUser(testContext({ rawHeaders: ['x-user', ''] })), '');
    assert.equal(headerValue(['X-Userx', 'no'], 'x-user'), '');
  });

  it('long or #-prefixed values are hashed, so clients cannot plant huge or colliding keys', () => {
    const byUser = key('header:x-user');
    const long = 'a'.repeat(10_000);
    const k = byUser(testContext({ rawHeaders: ['x-user', long] }));
    assert.match(k, /^#[A-Za-z0-9_-]{43}$/);
    assert.equal(byUser(testContext({ rawHeaders: ['x-user', 'a'.repeat(MAX_PLAIN_KEY)] })), 'a'.repeat(MAX_PLAIN_KEY));
    // A value that looks like a hash is itself hashed: it cannot take another key's counter.
    const fake = byUser(testContext({ rawHeaders: ['x-user', k] }));
    assert.notEqual(fake, k);
    assert.match(fake, /^#/);
  });

  it('apiKey: the accepted key name, else a hash of x-api-key (no secret stored), else anonymous', () => {
    const byKey = key('apiKey');
    assert.equal(byKey(testContext({ identity: { method: 'api-key', subject: 'mobile-app', claims: {} }, rawHeaders: ['x-api-key', 's3cret'] })), 'mobile-app');
    const hashed = byKey(testContext({ rawHeaders: ['X-Api-Key', 's3cret'] }));
    assert.match(hashed, /^#/);
    assert.ok(!hashed.includes('s3cret'));
    assert.equal(hashed, byKey(testContext({ rawHeaders: ['x-api-key', 's3cret'] })));
    assert.notEqual(hashed, byKey(testContext({ rawHeaders: ['x-api-key', 'other'] })));
    // A JWT identity does not make an API key.
    assert.equal(byKey(testContext({ identity: { method: 'jwt', subject: 'u1', claims: {} } })), '');
  });

  it('claim: by name, nested by dots, scalars as text, lists as one value; missing is anonymous', () => {
    const identity = { method: 'jwt', subject: 'u1', claims: { sub: 'u1', tier: 3, org: { id: 'acme' }, 'org.id': undefined, roles: ['a', 'b'], flag: true } };
    assert.equal(key('claim:sub')(testContext({ identity })), 'u1');
    assert.equal(key('claim:tier')(testContext({ identity })), '3');
    assert.equal(key('claim:org.id')(testContext({ identity })), 'acme');
    assert.equal(key('claim:roles')(testContext({ identity })), '["a","b"]');
    assert.equal(key('claim:flag')(testContext({ identity })), 'true');
    assert.equal(key('claim:missing')(testContext({ identity })), '');
    assert.equal(key('claim:org.nope')(testContext({ identity })), '');
    assert.equal(key('claim:sub')(testContext()), '');
    // Prototype names are not claims.
    assert.equal(key('claim:constructor')(testContext({ identity })), '');
  });

  it('identity and route', () => {
    assert.equal(key('identity')(testContext({ identity: { method: 'basic', subject: 'ops', claims: {} } })), 'ops');
    assert.equal(key('identity')(testContext()), '');
    assert.equal(key('route')(testContext()), key('route')(testContext({ clientIp: '10.9.9.9' })));
  });
});
