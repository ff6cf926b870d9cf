import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressesOverlap, hostPatternProblem, ipOrCidrProblem, isHeaderName, isHeaderValue, parseAddress } from './addresses.js';

test('parseAddress accepts host:port, [v6]:port and bare ports', () => {
  assert.deepEqual(parseAddress('127.0.0.1:8080'), { ok: true, value: { host: '127.0.0.1', port: 8080 } });
  assert.deepEqual(parseAddress('[::1]:8080'), { ok: true, value: { host: '::1', port: 8080 } });
  assert.deepEqual(parseAddress('8080'), { ok: true, value: { host: '0.0.0.0', port: 8080 } });
  assert.deepEqual(parseAddress(':8080'), { ok: true, value: { host: '0.0.0.0', port: 8080 } });
  assert.deepEqual(parseAddress('LocalHost:0'), { ok: true, value: { host: 'localhost', port: 0 } });
  assert.deepEqual(parseAddress('0.0.0.0:65535'), { ok: true, value: { host: '0.0.0.0', port: 65535 } });
});

test('parseAddress explains what is wrong', () => {
  const reason = (a: string) => {
    const r = parseAddress(a);
    assert.equal(r.ok, false, a);
    return r.ok ? '' : r.reason;
  };
  assert.match(reason('127.0.0.1:65536'), /out of range/);
  assert.match(reason('127.0.0.1:http'), /not a number/);
  assert.match(reason('127.0.0.1'), /HOST:PORT/);
  assert.match(reason('::1:8080'), /needs brackets/);
  assert.match(reason('[::1]8080'), /\[IPv6\]:PORT/);
  assert.match(reason('[1.2.3.4]:80'), /not an IPv6 address/);
  assert.match(reason('bad host:80'), /not a valid host/);
  assert.match(reason('127.0.0.1:-1'), /not a number/);
});

test('addressesOverlap: same address or a wildcard on the same port; port 0 never', () => {
  const a = (host: string, port: number) => ({ host, port });
  assert.equal(addressesOverlap(a('127.0.0.1', 80), a('127.0.0.1', 80)), true);
  assert.equal(addressesOverlap(a('0.0.0.0', 80), a('127.0.0.1', 80)), true);
  assert.equal(addressesOverlap(a('127.0.0.1', 80), a('::', 80)), true);
  assert.equal(addressesOverlap(a('127.0.0.1', 80), a('127.0.0.2', 80)), false);
  assert.equal(addressesOverlap(a('127.0.0.1', 80), a('127.0.0.1', 81)), false);
  assert.equal(addressesOverlap(a('127.0.0.1', 0), a('127.0.0.1', 0)), false);
});

test('ipOrCidrProblem', () => {
  for (const ok of ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '2001:db8::/128']) assert.equal(ipOrCidrProblem(ok), undefined, ok);
  assert.match(ipOrCidrProblem('10.0.0.0/33') ?? '', /prefix length \(0-32\)/);
  assert.match(ipOrCidrProblem('::/129') ?? '', /prefix length \(0-128\)/);
  assert.match(ipOrCidrProblem('10.0.0.0/x') ?? '', /prefix length/);
  assert.match(ipOrCidrProblem('localhost') ?? '', /not an IP address or CIDR range/);
  assert.match(ipOrCidrProblem('300.1.1.1') ?? '', /not an IP address/);
  assert.match(ipOrCidrProblem('fe80::1%eth0') ?? '', /not an IP address/);
});

test('hostPatternProblem allows only a leading *. wildcard', () => {
  for (const ok of ['example.com', 'api.example.com', '*.example.com', 'localhost', '127.0.0.1', '[::1]', 'under_score.local']) {
    assert.equal(hostPatternProblem(ok), undefined, ok);
  }
  assert.match(hostPatternProblem('a.*.com') ?? '', /only a leading "\*\." wildcard/);
  assert.match(hostPatternProblem('*example.com') ?? '', /only a leading/);
  assert.match(hostPatternProblem('*.*.com') ?? '', /only a leading/);
  assert.match(hostPatternProblem('example.com:8080') ?? '', /leave out the port/);
  assert.match(hostPatternProblem('exa mple.com') ?? '', /not a valid host name/);
  assert.match(hostPatternProblem('-bad.com') ?? '', /not a valid host name/);
  assert.match(hostPatternProblem('*.10.0.0.1') ?? '', /not an IP address/);
});

test('header names and values', () => {
  assert.equal(isHeaderName('X-Request-Id'), true);
  assert.equal(isHeaderName('bad header'), false);
  assert.equal(isHeaderName(''), false);
  assert.equal(isHeaderValue('Bearer abc'), true);
  assert.equal(isHeaderValue('a\r\nInjected: 1'), false);
  assert.equal(isHeaderValue('a\0'), false);
});
