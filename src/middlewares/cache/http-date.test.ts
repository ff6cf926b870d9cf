import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHttpDate } from './http-date.js';

/** The conformance suite's far-future instant: Thursday 18 August 2050, 02:01:18 GMT. */
const AUG_2050 = Date.UTC(2050, 7, 18, 2, 1, 18);
const NOW_2026 = Date.UTC(2026, 11, 6, 12, 0, 0);
const invalid = (v: string) => assert.ok(Number.isNaN(parseHttpDate(v, NOW_2026)), `${JSON.stringify(v)} must be invalid`);

describe('HTTP-date (RFC 9110 §5.6.7), strictly', () => {
  it('the three formats', () => {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW_2026), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Thu Aug 18 02:01:18 2050'), AUG_2050);
    assert.equal(parseHttpDate('Tue, 19 Jan 2038 14:14:08 GMT'), Date.UTC(2038, 0, 19, 14, 14, 8));
    assert.equal(parseHttpDate('Sun, 21 Nov 2286 04:46:39 GMT'), Date.UTC(2286, 10, 21, 4, 46, 39));
  });

  it('names in any case (RFC 9111 §4.2: a cache SHOULD match case-insensitively)', () => {
    // cache-tests freshness-expires-wrong-case-weekday / -month / -tz
    assert.equal(parseHttpDate('THU, 18 Aug 2050 02:01:18 GMT'), AUG_2050);
    assert.equal(parseHttpDate('Thu, 18 AUG 2050 02:01:18 GMT'), AUG_2050);
    assert.equal(parseHttpDate('Thu, 18 Aug 2050 02:01:18 gMT'), AUG_2050);
    assert.equal(parseHttpDate('THURSDAY, 18-aug-50 02:01:18 gmt', NOW_2026), AUG_2050);
  });

  it('rfc850 two-digit years: at most 50 years ahead, else the century before', () => {
    // cache-tests freshness-expires-rfc850: "50" is 2050 in 2026, not 1950
    assert.equal(parseHttpDate('Thursday, 18-Aug-50 02:01:18 GMT', NOW_2026), AUG_2050);
    assert.equal(parseHttpDate('Friday, 18-Aug-76 02:01:18 GMT', NOW_2026), Date.UTC(2076, 7, 18, 2, 1, 18), '49.7 years ahead');
    assert.equal(parseHttpDate('Sunday, 18-Dec-76 02:01:18 GMT', NOW_2026), Date.UTC(1976, 11, 18, 2, 1, 18), 'just over 50 years ahead: the past');
    assert.equal(parseHttpDate('Wednesday, 01-Jan-20 00:00:00 GMT', Date.UTC(2080, 0, 1)), Date.UTC(2120, 0, 1), 'in 2080, 20 is 2120 (40 years ahead)');
    assert.equal(parseHttpDate('Saturday, 01-Jan-00 00:00:00 GMT', Date.UTC(2099, 5, 1)), Date.UTC(2100, 0, 1));
  });

  it('anything else is invalid', () => {
    // cache-tests freshness-expires-invalid-*
    invalid('Thu, 18 Aug 2050 02:01:18 UTC');
    invalid('Thu, 18 Aug 2050 02:01:18 AEST');
    invalid('Thu, 18 Aug 50 02:01:18 GMT'); // two-digit year in IMF-fixdate
    invalid('Thu 18 Aug 2050 02:01:18 GMT'); // no comma
    invalid('Thu, 18  Aug  2050 02:01:18 GMT'); // doubled spaces
    invalid('Thu, 18-Aug-2050 02:01:18 GMT'); // dashes in an IMF-fixdate
    invalid('Thu, 18 Aug 2050 02.01.18 GMT');
    invalid('Thu, 18 Aug 2050 2:01:18 GMT'); // one-digit hour
    invalid('Thu, 8 Aug 2050 02:01:18 GMT'); // one-digit day
    invalid('Thu, 18 Aug 2050 02:01:18 GMT, Fri, 19 Aug 2050 02:01:18 GMT'); // two values
    invalid('Thu, 18 Aug 2050 02:01:18');
    invalid('Thursday, 18-Aug-2050 02:01:18 GMT'); // rfc850 takes two digits
    invalid('Thu, 31 Feb 2050 02:01:18 GMT');
    invalid('Thu, 18 Aug 2050 24:00:00 GMT');
    invalid('Thu, 18 Aug 2050 02:60:00 GMT');
    invalid('Thu, 00 Aug 2050 02:01:18 GMT');
    invalid('Xyz, 18 Aug 2050 02:01:18 GMT');
    invalid('0');
    invalid('-1');
    invalid('2050-08-18T02:01:18Z');
    invalid('');
  });

  it('a leap second is read as the second before it', () => {
    assert.equal(parseHttpDate('Sat, 31 Dec 2016 23:59:60 GMT'), Date.UTC(2016, 11, 31, 23, 59, 59));
  });
});
