import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newDecision } from './algorithms.js';
import { policyHeader, rateLimitItem, retryAfterSeconds, seconds } from './headers.js';
import { parseKey, type LimitConfig } from './schema.js';

const limit = (name: string, rate: number, perMs: number): LimitConfig => ({ name, algorithm: 'gcra', rate, perMs, burst: rate, key: parseKey('ip'), keySpec: 'ip', beforeAuth: true });

/** RFC 9651 sf-list member: sf-string with integer parameters. */
const MEMBER = /^"[A-Za-z0-9_.:-]+"(;[a-z]+=\d+)+$/;

describe('rate-limit headers (draft-ietf-httpapi-ratelimit-headers-10)', () => {
  it('RateLimit-Policy lists every limit as a quoted name with q and w', () => {
    const value = policyHeader([limit('default', 100, 60_000), limit('daily', 1000, 86_400_000), limit('fast', 5, 250)]);
    assert.equal(value, '"default";q=100;w=60, "daily";q=1000;w=86400, "fast";q=5');
    for (const member of value.split(', ')) assert.match(member, MEMBER);
  });

  it('RateLimit carries r and t in whole seconds, rounded up', () => {
    const d = newDecision();
    d.remaining = 42;
    d.resetUs = 29_000_001;
    const item = rateLimitItem('default', d);
    assert.equal(item, '"default";r=42;t=30');
    assert.match(item, MEMBER);
    d.resetUs = 0;
    assert.equal(rateLimitItem('default', d), '"default";r=42;t=0');
  });

  it('Retry-After is at least one second, rounded up', () => {
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1_000_000), 1);
    assert.equal(retryAfterSeconds(1_000_001), 2);
    assert.equal(retryAfterSeconds(0), 1);
    assert.equal(seconds(0), 0);
  });
});
