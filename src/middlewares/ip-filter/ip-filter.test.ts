import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { fakeContext, testLogger } from '../auth/testing.js';
import { createIpFilter, IpFilterSchema, normalizeIpFilter, type RawIpFilter } from './index.js';

const { logger } = testLogger();

function filter(raw: RawIpFilter) {
  assert.ok(Value.Check(IpFilterSchema, raw));
  const { config, problems } = normalizeIpFilter(raw);
  assert.deepEqual(problems, []);
  return createIpFilter(config!, { logger });
}

function status(f: ReturnType<typeof filter>, clientIp: string): number {
  const answer = f.handle(fakeContext({ clientIp }));
  assert.ok(!(answer instanceof Promise), 'synchronous');
  return answer === null ? 200 : answer.status;
}

describe('ipFilter', () => {
  it('allow list: only listed ranges pass, with a 403 BRISK_FORBIDDEN for the rest', () => {
    const f = filter({ allow: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'] });
    assert.equal(status(f, '10.200.3.4'), 200);
    assert.equal(status(f, '192.0.2.7'), 200);
    assert.equal(status(f, '192.0.2.8'), 403);
    assert.equal(status(f, '2001:db8:1::5'), 200);
    assert.equal(status(f, '2001:db9::1'), 403);
    const answer = f.handle(fakeContext({ clientIp: '8.8.8.8' }));
    assert.equal(answer && !(answer instanceof Promise) ? answer.code : null, 'BRISK_FORBIDDEN');
  });

  it('deny wins over allow', () => {
    const f = filter({ allow: ['10.0.0.0/8'], deny: ['10.6.6.0/24'] });
    assert.equal(status(f, '10.6.5.1'), 200);
    assert.equal(status(f, '10.6.6.1'), 403);
  });

  it('deny only: everyone else passes', () => {
    const f = filter({ deny: ['203.0.113.0/24', '::1'] });
    assert.equal(status(f, '203.0.113.9'), 403);
    assert.equal(status(f, '::1'), 403);
    assert.equal(status(f, '198.51.100.1'), 200);
  });

  it('IPv4-mapped IPv6 clients match IPv4 rules (dual-stack sockets), both spellings', () => {
    const f = filter({ allow: ['127.0.0.0/8'], deny: ['127.0.0.66'] });
    assert.equal(status(f, '::ffff:127.0.0.1'), 200);
    assert.equal(status(f, '::ffff:7f00:1'), 200);
    assert.equal(status(f, '::FFFF:127.0.0.66'), 403);
    assert.equal(status(f, '::ffff:10.0.0.1'), 403);
  });

  it('IPv4-mapped IPv6 rules match IPv4 clients', () => {
    const f = filter({ deny: ['::ffff:10.0.0.0/104'] });
    assert.equal(status(f, '10.1.2.3'), 403);
    assert.equal(status(f, '11.1.2.3'), 200);
  });

  it('an unparseable client address fails closed with an allow list, open with deny only', () => {
    assert.equal(status(filter({ allow: ['0.0.0.0/0', '::/0'] }), ''), 403);
    assert.equal(status(filter({ allow: ['0.0.0.0/0', '::/0'] }), 'fe80::1%eth0'), 403);
    assert.equal(status(filter({ deny: ['10.0.0.0/8'] }), 'garbage'), 200);
  });

  it('normaliser: bad ranges, empty lists, host bits', () => {
    const bad = normalizeIpFilter({ allow: ['10.0.0.0/33', 'example.com'], deny: ['::1/129'] });
    assert.deepEqual(
      bad.problems.map((p) => p.path.join('.')),
      ['allow.0', 'allow.1', 'deny.0'],
    );
    assert.match(normalizeIpFilter({}).problems[0]!.message, /needs `allow` or `deny`/);
    assert.match(normalizeIpFilter({ allow: [] }).problems[0]!.message, /refuses every client/);
    assert.match(normalizeIpFilter({ allow: ['10.1.2.3/8'] }).warnings[0]!.message, /host bits/);
  });
});
