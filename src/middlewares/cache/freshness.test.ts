import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computePolicy, currentAge, deltaSeconds, parseAge, parseDirectives, parseHttpDate, requestDirectives, targetedFieldDirectives, unstorableReason, CONFLICT } from './freshness.js';

const opts = { targets: ['cdn-cache-control'], defaultTtl: 0, overrideTtl: 0 };
const NOW = Date.parse('Wed, 25 Nov 2026 12:00:00 GMT');
const date = (offsetS: number) => new Date(NOW + offsetS * 1000).toUTCString();

describe('Cache-Control parsing', () => {
  it('parses tokens, quoted values and case', () => {
    const d = parseDirectives('Max-Age=60, no-cache="Set-Cookie, X-A", public,s-maxage="30"');
    assert.equal(d.get('max-age'), '60');
    assert.equal(d.get('no-cache'), 'Set-Cookie, X-A');
    assert.equal(d.get('public'), true);
    assert.equal(d.get('s-maxage'), '30');
  });
  it('marks conflicting duplicates', () => {
    assert.equal(parseDirectives('max-age=1, max-age=2').get('max-age'), CONFLICT);
    assert.equal(parseDirectives('max-age=1, max-age=1').get('max-age'), '1');
  });
  it('delta-seconds: digits only, capped at 2^31', () => {
    assert.equal(deltaSeconds('10'), 10);
    assert.equal(deltaSeconds('-1'), undefined);
    assert.equal(deltaSeconds('1.5'), undefined);
    assert.equal(deltaSeconds('99999999999'), 2147483648);
  });
  it('Pragma: no-cache only without Cache-Control', () => {
    assert.equal(requestDirectives(['Pragma', 'no-cache'])?.has('no-cache'), true);
    assert.equal(requestDirectives(['Pragma', 'no-cache', 'Cache-Control', 'max-stale'])?.has('no-cache'), false);
    assert.equal(requestDirectives([]), null);
  });
  it('HTTP dates: the three formats; anything else is invalid', () => {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.ok(Number.isNaN(parseHttpDate('0')));
    assert.ok(Number.isNaN(parseHttpDate('2026-01-01')));
  });
});

describe('freshness lifetime (RFC 9111 §4.2.1)', () => {
  it('s-maxage, then max-age, then Expires − Date', () => {
    assert.equal(computePolicy(200, ['cache-control', 'max-age=10, s-maxage=20'], NOW, opts).lifetime, 20);
    assert.equal(computePolicy(200, ['cache-control', 'max-age=10'], NOW, opts).lifetime, 10);
    assert.equal(computePolicy(200, ['expires', date(100), 'date', date(0)], NOW, opts).lifetime, 100);
    assert.equal(computePolicy(200, ['cache-control', 'max-age=10', 'expires', date(100)], NOW, opts).lifetime, 10);
  });
  it('invalid Expires is stale and not heuristic', () => {
    const p = computePolicy(200, ['expires', 'garbage', 'last-modified', date(-86400)], NOW, opts);
    assert.equal(p.lifetime, 0);
    assert.equal(p.explicit, true);
  });
  it('Expires: only a valid HTTP-date counts; anything else, or lines that differ, is already stale (§5.3)', () => {
    const fixdate = (offsetS: number) => new Date(NOW + offsetS * 1000).toUTCString();
    const lifetime = (...expires: string[]) => computePolicy(200, [...expires.flatMap((e) => ['expires', e]), 'date', date(0)], NOW, opts).lifetime;
    assert.equal(lifetime(fixdate(100)), 100);
    assert.equal(lifetime(fixdate(100).toUpperCase()), 100, 'names in any case');
    assert.equal(lifetime(fixdate(100).replace('GMT', 'UTC')), 0);
    assert.equal(lifetime(fixdate(100).replace(',', '')), 0);
    assert.equal(lifetime(fixdate(100).replace(' ', '  ')), 0);
    assert.equal(lifetime(fixdate(100), fixdate(200)), 0, 'two Expires lines that differ');
    assert.equal(lifetime(fixdate(100), fixdate(100)), 100, 'an identical repeat is one value');
  });
  it('heuristic: 10% of Date − Last-Modified, heuristically cacheable statuses only', () => {
    assert.equal(computePolicy(200, ['date', date(0), 'last-modified', date(-1000)], NOW, opts).lifetime, 100);
    assert.equal(computePolicy(302, ['date', date(0), 'last-modified', date(-1000)], NOW, opts).lifetime, 0);
    assert.equal(computePolicy(302, ['date', date(0), 'last-modified', date(-1000), 'cache-control', 'public'], NOW, opts).lifetime, 100);
  });
  it('operator default only when the response says nothing; override replaces everything', () => {
    assert.equal(computePolicy(200, [], NOW, { ...opts, defaultTtl: 30 }).lifetime, 30);
    assert.equal(computePolicy(200, ['cache-control', 'max-age=0'], NOW, { ...opts, defaultTtl: 30 }).lifetime, 0);
    const forced = computePolicy(200, ['cache-control', 'max-age=0, must-revalidate'], NOW, { ...opts, overrideTtl: 50 });
    assert.equal(forced.lifetime, 50);
    assert.equal(forced.mustRevalidate, false);
  });
  it('CDN-Cache-Control replaces Cache-Control (RFC 9213)', () => {
    const p = computePolicy(200, ['cache-control', 'no-store', 'cdn-cache-control', 'max-age=60'], NOW, opts);
    assert.equal(p.lifetime, 60);
    assert.equal(p.cc.has('no-store'), false);
    const q = computePolicy(200, ['expires', date(100), 'date', date(0), 'cdn-cache-control', 'must-revalidate'], NOW, opts);
    assert.equal(q.lifetime, 0, 'Expires is ignored when a targeted field is in force');
    assert.equal(computePolicy(200, ['cdn-cache-control', '', 'cache-control', 'max-age=7'], NOW, opts).lifetime, 7, 'an empty targeted field is ignored');
  });
  it('an invalid targeted field is ignored whole: Cache-Control applies (RFC 9213 §2.1)', () => {
    // cache-tests cdn-cc-invalid-sh-type-unknown / -wrong
    for (const invalid of ['max-age=10000, &&&&&', 'max-age="10000"', 'max-age=1.5', 'max-age=-1', 'no-store=1', 'private=(a b)', 'MaX-aGe=3600', 'max-age =100', 'max-age= 100']) {
      const p = computePolicy(200, ['cdn-cache-control', invalid, 'cache-control', 'no-store'], NOW, opts);
      assert.equal(p.cc.has('no-store'), true, invalid);
      assert.equal(p.lifetime, 0, invalid);
      assert.equal(unstorableReason('GET', 200, p, ['cdn-cache-control', invalid, 'cache-control', 'no-store'], false, false, false), 'no-store', invalid);
    }
    assert.equal(computePolicy(200, ['cdn-cache-control', 'max-age=60;x=1, foobar, ext="v"', 'cache-control', 'no-store'], NOW, opts).lifetime, 60, 'parameters and extensions are fine');
    assert.equal(targetedFieldDirectives('no-store=?0, max-age=5')?.has('no-store'), false, '?0 means absent');
    assert.deepEqual(targetedFieldDirectives('private="set-cookie", no-cache'), new Map<string, string | true>([['private', 'set-cookie'], ['no-cache', true]]));
    assert.equal(targetedFieldDirectives('max-age=99999999999')?.get('max-age'), '99999999999');
  });
  it('s-maxage implies proxy-revalidate; no-cache="f" keeps the response reusable', () => {
    assert.equal(computePolicy(200, ['cache-control', 's-maxage=5'], NOW, opts).mustRevalidate, true);
    const p = computePolicy(200, ['cache-control', 'max-age=5, no-cache="x-a"'], NOW, opts);
    assert.equal(p.noCache, false);
    assert.deepEqual(p.noCacheFields, ['x-a']);
  });
});

describe('age (RFC 9111 §4.2.3)', () => {
  it('the larger of apparent age and corrected Age, plus resident time', () => {
    const f = { requestTime: NOW - 2000, responseTime: NOW, dateValue: NOW - 10_000, ageValue: 5 };
    // apparent 10, corrected 5 + 2 = 7 → 10; 3 s resident → 13
    assert.equal(currentAge(f, NOW + 3000), 13);
    assert.equal(currentAge({ ...f, ageValue: 20 }, NOW), 22);
    assert.equal(currentAge({ ...f, dateValue: NOW + 60_000, ageValue: 0 }, NOW), 2, 'a Date in the future counts as 0, the delay still counts');
  });
  it('Age: first member, invalid ignored', () => {
    assert.equal(parseAge('30'), 30);
    assert.equal(parseAge('30, 40'), 30);
    assert.equal(parseAge('abc'), 0);
    assert.equal(parseAge(undefined), 0);
  });
});

describe('storability (RFC 9111 §3)', () => {
  const reason = (status: number, headers: string[], auth = false, method = 'GET') => unstorableReason(method, status, computePolicy(status, headers, NOW, opts), headers, auth, false, false);
  it('refuses what must not be stored', () => {
    assert.equal(reason(200, ['cache-control', 'max-age=5, no-store']), 'no-store');
    assert.equal(reason(200, ['cache-control', 'max-age=5, private']), 'private');
    assert.equal(reason(200, ['cache-control', 'max-age=5'], true), 'authorization');
    assert.equal(reason(200, ['cache-control', 'max-age=5'], false, 'POST'), 'method');
    assert.equal(reason(206, ['cache-control', 'max-age=5']), 'status');
    assert.equal(reason(200, ['cache-control', 'max-age=5', 'vary', 'a, *']), 'vary *');
    assert.equal(reason(200, ['cache-control', 'max-age=5', 'set-cookie', 'a=1']), 'set-cookie');
    assert.equal(reason(302, []), 'not cacheable');
  });
  it('stores what may be stored', () => {
    assert.equal(reason(200, ['cache-control', 'max-age=5, public'], true), null);
    assert.equal(reason(200, ['cache-control', 's-maxage=5'], true), null);
    assert.equal(reason(200, ['cache-control', 'no-store, must-understand, max-age=5']), null);
    assert.equal(reason(200, ['etag', '"a"']), null);
    assert.equal(reason(200, ['cache-control', 'private="x-a", max-age=5']), null);
  });
});
