import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PathProblem } from './positions.js';
import { describeRedisEndpoint, normalizeRedisConnection, redisEndpointKey } from './redis-schema.js';

function norm(raw: Parameters<typeof normalizeRedisConnection>[0], urlDefault?: string) {
  const problems: PathProblem[] = [];
  const endpoint = normalizeRedisConnection(raw, ['redis'], problems, urlDefault);
  return { endpoint, problems: problems.map((p) => [p.path.join('.'), p.message]) };
}

describe('the Redis connection keys', () => {
  it('takes one server by URL, or the default', () => {
    assert.deepEqual(norm({ url: 'redis://:pw@h:6380/2' }).endpoint, { kind: 'url', url: 'redis://:pw@h:6380/2' });
    assert.deepEqual(norm({}, 'redis://127.0.0.1:6379').endpoint, { kind: 'url', url: 'redis://127.0.0.1:6379' });
    assert.equal(describeRedisEndpoint({ kind: 'url', url: 'redis://u:secret@h:1' }), 'redis://u:***@h:1');
  });

  it('takes Sentinels and the primary name, IPv6 in brackets', () => {
    const { endpoint, problems } = norm({ sentinels: ['10.0.0.1:26379', '[::1]:26380'], name: 'brisk', password: 'pw', db: 3 });
    assert.deepEqual(problems, []);
    assert.deepEqual(endpoint, {
      kind: 'sentinel',
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }],
      name: 'brisk',
      username: null,
      password: 'pw',
      sentinelPassword: null,
      db: 3,
      tls: false,
    });
    assert.equal(describeRedisEndpoint(endpoint!), 'sentinel://10.0.0.1:26379,[::1]:26380/brisk/3');
    assert.notEqual(redisEndpointKey(endpoint!), redisEndpointKey({ ...endpoint!, db: 0 } as typeof endpoint & object));
  });

  it('explains what is missing or contradictory', () => {
    assert.deepEqual(norm({ sentinels: ['h:26379'] }).problems.map((p) => p[0]), ['redis.sentinels']);
    assert.match(norm({ sentinels: ['h:26379'] }).problems[0]![1]!, /needs `name`/);
    assert.deepEqual(norm({ sentinels: ['h:26379'], name: 'b', url: 'redis://h' }).problems.map((p) => p[0]), ['redis.url']);
    assert.deepEqual(norm({ sentinels: ['h:70000'], name: 'b' }).problems.map((p) => p[0]), ['redis.sentinels.0']);
    assert.deepEqual(norm({ url: 'redis://h', password: 'x' }).problems.map((p) => p[0]), ['redis.password']);
    assert.deepEqual(norm({}).problems.map((p) => p[0]), ['redis']);
    assert.deepEqual(norm({ url: 'redis://h/x' }).problems.map((p) => p[0]), ['redis.url']);
  });

  it('refuses Redis Cluster with its reason', () => {
    const { endpoint, problems } = norm({ cluster: ['h:7000'] });
    assert.equal(endpoint, null);
    assert.equal(problems[0]![0], 'redis.cluster');
    assert.match(problems[0]![1]!, /hash slot.*Sentinel/s);
  });
});
