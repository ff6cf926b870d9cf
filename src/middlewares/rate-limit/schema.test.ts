import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { normalizeRateLimit, RateLimitSchema, redactUrl, type RawRateLimit } from './schema.js';
import { PATTERN_ERROR_MESSAGE } from '../../config/schema-kit.js';
import { formatProblem } from '../../config/load.js';
import { expectProblems, MINIMAL_CONFIG } from '../../config/testing.js';

const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addKeyword(PATTERN_ERROR_MESSAGE);
const validate = ajv.compile(JSON.parse(JSON.stringify(RateLimitSchema)) as object);

function ok(raw: unknown) {
  assert.ok(validate(raw), JSON.stringify(validate.errors));
  return normalizeRateLimit(raw as RawRateLimit);
}

describe('rateLimit schema', () => {
  it('compiles under strict Ajv and every property has a description', () => {
    const missing: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (node === null || typeof node !== 'object') return;
      const props = (node as { properties?: Record<string, { description?: string }> }).properties;
      if (props !== undefined) {
        for (const [name, prop] of Object.entries(props)) {
          if (typeof prop.description !== 'string' || prop.description === '') missing.push(`${path}.${name}`);
          walk(prop, `${path}.${name}`);
        }
      }
      const items = (node as { items?: unknown }).items;
      if (items !== undefined) walk(items, `${path}[]`);
    };
    walk(JSON.parse(JSON.stringify(RateLimitSchema)), 'rateLimit');
    assert.deepEqual(missing, []);
  });

  it('rejects unknown keys, bad keys specs and bad algorithms', () => {
    assert.equal(validate({ limits: [{ rate: 1, per: '1s', color: 'red' }] }), false);
    assert.equal(validate({ limits: [{ rate: 1, per: '1s', key: 'cookie:x' }] }), false);
    assert.equal(validate({ limits: [{ rate: 1, per: '1s', key: 'header:' }] }), false);
    assert.equal(validate({ limits: [{ rate: 1, per: '1s', algorithm: 'leaky' }] }), false);
    assert.equal(validate({ limits: [] }), false);
    assert.equal(validate({ limits: [{ rate: 0, per: '1s' }] }), false);
    assert.equal(validate({ store: 'redis', redis: { url: 'http://x' }, limits: [{ rate: 1, per: '1s' }] }), false);
  });
});

describe('normalizeRateLimit', () => {
  it('fills defaults', () => {
    const { config, problems, warnings } = ok({ limits: [{ rate: 100, per: '1m' }] });
    assert.deepEqual(problems, []);
    assert.deepEqual(warnings, []);
    assert.deepEqual(config, {
      store: 'memory',
      redis: null,
      maxKeys: 100_000,
      onStoreError: 'allow',
      headers: true,
      ipv6Prefix: 64,
      limits: [{ name: 'default', algorithm: 'gcra', rate: 100, perMs: 60_000, burst: 100, key: { kind: 'ip' }, keySpec: 'ip', beforeAuth: true }],
    });
  });

  it('normalises a full Redis config', () => {
    const { config, problems } = ok({
      store: 'redis',
      redis: { url: 'redis://:pw@10.0.0.5:6380/2', keyPrefix: 'gw:', timeout: '30ms' },
      onStoreError: 'deny',
      headers: false,
      limits: [
        { name: 'burst', rate: 100, per: '1s', burst: 20, key: 'header:X-Tenant' },
        { name: 'hourly', algorithm: 'sliding-window', rate: 5000, per: '1h', key: 'claim:org.id' },
      ],
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(config!.redis, { endpoint: { kind: 'url', url: 'redis://:pw@10.0.0.5:6380/2' }, keyPrefix: 'gw:', timeoutMs: 30 });
    assert.equal(config!.onStoreError, 'deny');
    assert.deepEqual(config!.limits[0]!.key, { kind: 'header', name: 'x-tenant' });
    assert.equal(config!.limits[0]!.burst, 20);
    assert.deepEqual(config!.limits[1]!.key, { kind: 'claim', name: 'org.id', path: ['org', 'id'] });
    assert.equal(config!.limits[1]!.perMs, 3_600_000);
  });

  it('reports problems with paths relative to rateLimit', () => {
    const { config, problems } = ok({
      limits: [
        { rate: 10, per: '1s' },
        { name: 'a', rate: 10, per: '1s', algorithm: 'sliding-window', burst: 5 },
        { name: 'a', rate: 10, per: 0 },
        { name: 'b', rate: 1_000_000_000, per: '1ms' },
        { name: 'c', rate: 1, per: '1h', burst: 1000 },
      ],
    });
    assert.equal(config, undefined);
    assert.deepEqual(
      problems.map((p) => [p.path, p.message.slice(0, 30)]),
      [
        [['limits', 0], 'a route with several limits ne'],
        [['limits', 1, 'burst'], 'burst applies to the gcra algo'],
        [['limits', 2, 'name'], 'limit name "a" is already used'],
        [['limits', 2, 'per'], 'the period must be at least 1m'],
        [['limits', 3, 'rate'], '1000000000 per 1ms is more tha'],
        [['limits', 4, 'burst'], 'a bucket of 1000 at 1 per 3600'],
      ],
    );
  });

  it('checks the Redis URL and timeout; warns about settings that do nothing', () => {
    assert.deepEqual(
      ok({ store: 'redis', redis: { url: 'redis://h:1/x' }, limits: [{ rate: 1, per: '1s' }] }).problems.map((p) => p.path),
      [['redis', 'url']],
    );
    assert.deepEqual(
      ok({ store: 'redis', redis: { timeout: '2m' }, limits: [{ rate: 1, per: '1s' }] }).problems.map((p) => p.path),
      [['redis', 'timeout']],
    );
    const { warnings } = ok({ redis: { url: 'redis://h' }, onStoreError: 'deny', limits: [{ rate: 1, per: '1s' }] });
    assert.deepEqual(
      warnings.map((w) => w.path),
      [['redis'], ['onStoreError']],
    );
    // Default Redis URL when only `store: redis` is given.
    assert.deepEqual(ok({ store: 'redis', limits: [{ rate: 1, per: '1s' }] }).config!.redis!.endpoint, { kind: 'url', url: 'redis://127.0.0.1:6379' });
  });

  it('hides passwords in messages', () => {
    assert.equal(redactUrl('redis://user:secret@h:6379'), 'redis://user:***@h:6379');
    assert.equal(redactUrl('rediss://:secret@h'), 'rediss://:***@h');
    assert.equal(redactUrl('redis://h:6379'), 'redis://h:6379');
  });

  it('answers a bad key or name in words, listing the accepted forms, never with the regular expression', () => {
    const text = `${MINIMAL_CONFIG}    rateLimit:\n      limits:\n        - { name: per user, rate: 10, per: 1s, key: user }\n        - { rate: 10, per: 1s, key: "header:" }\n`;
    const lines = expectProblems(text).map(formatProblem);
    const forms =
      'expected one of: `ip` (the client address), `route` (one counter for the route), `apiKey`, `identity` (the authenticated subject), `header:<name>` (a request header, e.g. `header:x-tenant-id`), `claim:<name>` (a JWT claim, e.g. `claim:sub`, `claim:org.id`)';
    assert.deepEqual(lines, [
      'test.yaml:12:19  routes.0.rateLimit.limits.0.name  may only contain letters, digits and "_", ".", "-"; got "per user"',
      `test.yaml:12:53  routes.0.rateLimit.limits.0.key  ${forms}; got "user"`,
      `test.yaml:13:37  routes.0.rateLimit.limits.1.key  ${forms}; got "header:"`,
    ]);
    for (const line of lines) assert.doesNotMatch(line, /\^|\$\)|\[/, 'no regular expression in the message');
  });
});
