import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HashConfig } from '../../config/types.js';
import { cookieValue, hashKeyOf, headerValue } from './hash-key.js';

const by = (source: HashConfig['source'], name = ''): HashConfig => ({ source, name, algorithm: 'ring', boundedLoad: 1.25 });

describe('hashKeyOf', () => {
  it('header: first value, name matched in any case', () => {
    const raw = ['Host', 'shop', 'X-User-Id', 'u-1', 'x-user-id', 'u-2'];
    assert.equal(hashKeyOf(by('header', 'x-user-id'), raw, '/', '1.2.3.4'), 'u-1');
    assert.equal(hashKeyOf(by('header', 'X-USER-ID'), raw, '/', '1.2.3.4'), 'u-1');
    assert.equal(hashKeyOf(by('header', 'x-user'), raw, '/', '1.2.3.4'), null);
    assert.equal(hashKeyOf(by('header', 'x-user-id'), ['x-user-id', ''], '/', ''), null, 'empty is absent');
    assert.equal(hashKeyOf(by('header', 'x-user-id'), [], '/', ''), null);
    assert.equal(headerValue(['X-A', 'v'], 'x-a'), 'v');
    assert.equal(headerValue(['x-ab', 'v'], 'x-a'), null);
  });

  it('cookie: the named cookie among others', () => {
    const key = (cookie: string): string | null => hashKeyOf(by('cookie', 'sid'), ['Cookie', cookie], '/', '');
    assert.equal(key('sid=abc'), 'abc');
    assert.equal(key('theme=dark; sid=abc; lang=en'), 'abc');
    assert.equal(key('theme=dark;sid=abc'), 'abc', 'no space after ;');
    assert.equal(key('  theme = dark ;  sid =  abc  ; x=1'), 'abc', 'spaces around names and values');
    assert.equal(key('sid="quoted value"'), 'quoted value');
    assert.equal(key('sid=""; sid=second'), 'second', 'an empty one is skipped');
    assert.equal(key('xsid=1; sidx=2; SID=3'), null, 'names match whole and case-sensitively');
    assert.equal(key('flag; sid=abc'), 'abc', 'a pair without "=" is skipped');
    assert.equal(key('a=b=c; sid=x=y'), 'x=y', 'only the first "=" splits');
    assert.equal(key(';;; sid=abc;;'), 'abc');
    assert.equal(key('sid='), null);
    assert.equal(key(''), null);
    assert.equal(key('sid'), null);
    assert.equal(key('"'), null);
  });

  it('cookie: several Cookie headers (HTTP/2), first occurrence wins', () => {
    const raw = ['cookie', 'a=1', 'Accept', '*/*', 'COOKIE', 'sid=two; b=2', 'cookie', 'sid=three'];
    assert.equal(hashKeyOf(by('cookie', 'sid'), raw, '/', ''), 'two');
    assert.equal(cookieValue(raw, 'b'), '2');
    assert.equal(cookieValue(raw, 'c'), null);
    assert.equal(cookieValue(['Set-Cookie', 'sid=x'], 'sid'), null, 'only request Cookie headers count');
    assert.equal(cookieValue(['Cookie', 'sid=x'], ''), null);
  });

  it('ip and path', () => {
    assert.equal(hashKeyOf(by('ip'), [], '/a', '10.0.0.7'), '10.0.0.7');
    assert.equal(hashKeyOf(by('ip'), [], '/a', ''), null);
    assert.equal(hashKeyOf(by('path'), [], '/img/a.png', '10.0.0.7'), '/img/a.png');
    assert.equal(hashKeyOf(by('path'), [], '', '10.0.0.7'), null);
  });

  it('takes linear time on a hostile Cookie header', () => {
    const hostile = 'a;'.repeat(64 * 1024) + 'sid=x';
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10; i++) assert.equal(cookieValue(['Cookie', hostile], 'sid'), 'x');
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // Linear: ~1 ms per pass; quadratic would be seconds.
    assert.ok(ms < 500, `${ms.toFixed(1)} ms for 10 passes over 128 KB`);
  });

  it('tolerates a truncated raw header list', () => {
    assert.equal(hashKeyOf(by('header', 'x'), ['x'], '/', ''), null);
    assert.equal(hashKeyOf(by('cookie', 'x'), ['cookie'], '/', ''), null);
  });
});
