/** The pure parts of the toolkit: no server needed. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MemoryTier } from '../src/cache/memory.js';
import { traceFromHeaders, outboundTraceparent } from '../src/context.js';
import { errorBodyText, parseDeadlineHeader } from '../src/contracts.js';
import { classify } from '../src/db/classify.js';
import { formatLsn, laterToken, lsnFromToken, parseLsn, tokenFromLsn } from '../src/db/lsn.js';
import { parseDatabaseUrl, redactUrl, resolveOptions } from '../src/db/options.js';
import { evenSlotMap, fnv1a, ShardedDatabase } from '../src/db/shards.js';
import type { Database } from '../src/db/database.js';
import { SERVICE_ERROR_CODES, ServiceError } from '../src/errors.js';
import { checkDefinition } from '../src/saga/definition.js';
import { parseStepKey, stepKey } from '../src/saga/keys.js';
import { Router } from '../src/service/router.js';
import { parseRedisLocation } from '../src/redis.js';

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('LSNs and read-your-writes tokens', () => {
  test('parse and format round-trip; tokens compare by position', () => {
    assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
    assert.equal(formatLsn(parseLsn('16/B374D848')!), '16/B374D848');
    assert.equal(parseLsn('nonsense'), undefined);
    const a = tokenFromLsn(parseLsn('0/100')!);
    const b = tokenFromLsn(parseLsn('1/0')!);
    assert.equal(laterToken(a, b), b);
    assert.equal(laterToken(undefined, a), a);
    assert.equal(lsnFromToken('lsn:zz'), undefined);
    assert.equal(lsnFromToken('0/100'), undefined, 'a token needs its prefix');
  });
});

describe('database options', () => {
  test('a multi-host URL lists every host, with credentials decoded', () => {
    const parsed = parseDatabaseUrl('postgres://app:p%40ss@10.0.0.1:5432,10.0.0.2,[::1]:6000/shop?sslmode=disable');
    assert.deepEqual(parsed.hosts, [
      { host: '10.0.0.1', port: 5432 },
      { host: '10.0.0.2', port: 5432 },
      { host: '::1', port: 6000 },
    ]);
    assert.equal(parsed.password, 'p@ss');
    assert.equal(parsed.database, 'shop');
    assert.equal(redactUrl('postgres://app:secret@h/db'), 'postgres://app:***@h/db');
  });

  test('bad options name the option and the fix', () => {
    assert.throws(() => parseDatabaseUrl('mysql://h/db'), (e: ServiceError) => e.code === 'BRISK_SVC_DB_CONFIG_INVALID' && /postgres:\/\//.test(e.message));
    assert.throws(() => parseDatabaseUrl('postgres://u:secret@h:99999/db'), (e: ServiceError) => /outside 1-65535/.test(e.message) && !e.message.includes('secret'));
    assert.throws(() => resolveOptions({ maxLagMs: -1 }), /maxLagMs is -1/);
    assert.throws(() => resolveOptions({ poolSize: 0 }), /poolSize/);
  });
});

describe('error classification (what a failure means for retries)', () => {
  const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });
  test('a demoted primary (25006) is refused work: always safe to retry, host not primary', () => {
    assert.deepEqual(classify(pgError('25006'), 'query'), { kind: 'not-executed', evict: true, hostSuspect: true, notPrimary: true });
  });
  test('a connection cut after the query was sent is ambiguous', () => {
    assert.equal(classify(pgError('57P01'), 'query').kind, 'ambiguous');
    assert.equal(classify(new Error('Connection terminated unexpectedly'), 'query').kind, 'ambiguous');
    assert.equal(classify(pgError('ECONNRESET'), 'query').kind, 'ambiguous');
  });
  test('nothing sent yet: not executed; a wrong password is not retried', () => {
    assert.equal(classify(pgError('ECONNREFUSED'), 'connect').kind, 'not-executed');
    assert.equal(classify(pgError('28P01'), 'connect').kind, 'query');
  });
  test('statement timeout and query errors are never retried', () => {
    assert.equal(classify(pgError('57014'), 'query').kind, 'timeout');
    assert.equal(classify(pgError('23505'), 'query').kind, 'query');
    assert.equal(classify(pgError('40001'), 'query').kind, 'not-executed');
  });
});

describe('saga keys and definitions', () => {
  test('keys are SAGA:STEP:ACTION, split from the right', () => {
    assert.equal(stepKey('order:42', 'charge', 'forward'), 'order:42:charge:forward');
    assert.deepEqual(parseStepKey('order:42:charge:compensate'), { sagaId: 'order:42', step: 'charge', action: 'compensate' });
    assert.equal(parseStepKey('a:b:undo'), undefined);
    assert.equal(parseStepKey('charge:forward'), undefined);
  });
  test('a definition is checked: pivot, compensations, names', () => {
    const step = (name: string, compensate = true) => ({ name, forward: async () => null, ...(compensate ? { compensate: async () => {} } : {}) });
    assert.equal(checkDefinition({ name: 'ok', steps: [step('a'), step('b'), step('c', false)], pivot: 'b' }).pivotIndex, 1);
    const invalid = (e: ServiceError) => e.code === 'BRISK_SVC_SAGA_DEFINITION_INVALID';
    assert.throws(() => checkDefinition({ name: 'x', steps: [] }), invalid);
    assert.throws(() => checkDefinition({ name: 'x', steps: [step('a'), step('a')] }), /two steps are named "a"/);
    assert.throws(() => checkDefinition({ name: 'x', steps: [step('a')], pivot: 'b' }), /names no step/);
    assert.throws(() => checkDefinition({ name: 'x', steps: [step('a', false), step('b')], pivot: 'b' }), /step "a" .* has no compensate/);
    assert.throws(() => checkDefinition({ name: 'x', steps: [step('a:b')] }), /no ":"/);
  });
});

describe('sharding by slots', () => {
  const fake = (name: string) => ({ name }) as unknown as Database;
  test('FNV-1a is stable and slots spread evenly', () => {
    assert.equal(fnv1a(''), 0x811c9dc5);
    assert.equal(fnv1a('a'), 0xe40c292c);
    const sharded = new ShardedDatabase({ shards: { a: fake('a'), b: fake('b') }, map: evenSlotMap(['a', 'b']) });
    const counts = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 10_000; i++) counts[sharded.shardOf(`user-${i}`)]!++;
    assert.ok(counts['a']! > 4500 && counts['b']! > 4500, JSON.stringify(counts));
    assert.equal(sharded.forKey('user-1'), sharded.shards[sharded.shardOf('user-1')]);
  });
  test('a slot map must cover every slot exactly once and name known shards', () => {
    const shards = { a: fake('a'), b: fake('b') };
    assert.throws(() => new ShardedDatabase({ shards, map: [[0, 1000, 'a']] }), /slot 1001 belongs to no shard/);
    assert.throws(() => new ShardedDatabase({ shards, map: [[0, 1023, 'a'], [5, 5, 'b']] }), /slot 5 is given to both/);
    assert.throws(() => new ShardedDatabase({ shards, map: [[0, 1023, 'c']] }), /names shard "c"/);
  });
  test('a frozen slot refuses writes with BRISK_SVC_SHARD_MOVING', () => {
    const sharded = new ShardedDatabase({ shards: { a: fake('a') }, map: [[0, 1023, 'a']] });
    sharded.freeze(sharded.slotOf('k'));
    assert.throws(() => sharded.write('k', 'select 1'), (e: ServiceError) => e.code === 'BRISK_SVC_SHARD_MOVING' && e.retryable);
  });
});

describe('memory tier, router, contract', () => {
  test('the memory tier evicts the least recently used entry', () => {
    const tier = new MemoryTier(2);
    const entry = { value: 1, freshUntil: 2e12, staleUntil: 2e12 };
    tier.set('a', entry);
    tier.set('b', entry);
    tier.get('a', 0);
    tier.set('c', entry);
    assert.equal(tier.get('b', 0), undefined);
    assert.ok(tier.get('a', 0) !== undefined && tier.get('c', 0) !== undefined);
    tier.set('d', { value: 1, freshUntil: 5, staleUntil: 10 });
    assert.equal(tier.get('d', 11), undefined, 'an entry past its stale window is gone');
  });
  test('routes match by method and pattern; a known path with another method says which', () => {
    const router = new Router<string>();
    router.add('GET', '/orders/:id', 'get');
    router.add('POST', '/orders', 'create');
    assert.deepEqual(router.match('GET', '/orders/a%20b'), { handler: 'get', params: { id: 'a b' }, pattern: '/orders/:id' });
    assert.deepEqual(router.match('DELETE', '/orders/1'), { allow: ['GET'] });
    assert.equal(router.match('GET', '/nothing'), undefined);
  });
  test('trace context continues a valid traceparent and starts one otherwise', () => {
    const trace = traceFromHeaders('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'k=v');
    assert.equal(trace.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(trace.parentSpanId, 'b7ad6b7169203331');
    assert.match(outboundTraceparent(trace), /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    assert.notEqual(trace.spanId, 'b7ad6b7169203331');
    assert.equal(traceFromHeaders('00-00000000000000000000000000000000-b7ad6b7169203331-01', undefined).parentSpanId, undefined);
    assert.equal(parseDeadlineHeader('250'), 250);
    assert.equal(parseDeadlineHeader('-1'), undefined);
    assert.deepEqual(JSON.parse(errorBodyText('BRISK_SVC_NOT_FOUND', 'no', 'r1')), { error: { code: 'BRISK_SVC_NOT_FOUND', message: 'no', requestId: 'r1' } });
  });
});

describe('the package stands alone', () => {
  test('docs/errors.md documents every error code, and only those', () => {
    const doc = readFileSync(join(PACKAGE, 'docs', 'errors.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/`(BRISK_SVC_[A-Z_]+)`/g)].map((m) => m[1]));
    assert.deepEqual([...documented].sort(), Object.keys(SERVICE_ERROR_CODES).sort(), 'run `node packages/service/scripts/gen-errors-doc.mjs` after changing src/errors.ts');
    for (const [code, { description }] of Object.entries(SERVICE_ERROR_CODES)) assert.ok(doc.includes(description), `${code}: description differs from src/errors.ts`);
  });
  test('no source file imports the gateway (src/** of the repository) or leaves the package', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts')) {
          for (const m of readFileSync(path, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
            const target = resolve(dirname(path), m[1]!);
            if (!target.startsWith(PACKAGE + '/')) offenders.push(`${path.slice(PACKAGE.length + 1)} → ${m[1]}`);
          }
        }
      }
    };
    for (const dir of ['src', 'proof', 'test']) walk(join(PACKAGE, dir));
    assert.deepEqual(offenders, []);
  });
});

describe('Redis locations', () => {
  test('a redis+sentinel:// URL names the Sentinels, the primary, its password and db', () => {
    assert.deepEqual(parseRedisLocation('redis+sentinel://:s%40cret@10.0.0.1:26379,[::1]:26380/shop/2'), { sentinels: ['10.0.0.1:26379', '[::1]:26380'], name: 'shop', password: 's@cret', db: 2 });
    assert.deepEqual(parseRedisLocation('redis+sentinel://h:26379/brisk'), { sentinels: ['h:26379'], name: 'brisk' });
    assert.equal(parseRedisLocation('redis://127.0.0.1:6379/0'), 'redis://127.0.0.1:6379/0');
  });
  test('a malformed one is refused with its code, without the password', () => {
    for (const bad of ['redis+sentinel://:pw@h:26379', 'redis+sentinel://:pw@h/brisk', 'redis+sentinel://:pw@h:26379,:1/brisk']) {
      assert.throws(
        () => parseRedisLocation(bad),
        (e: unknown) => e instanceof ServiceError && e.code === 'BRISK_SVC_REDIS_CONFIG_INVALID' && !e.message.includes('pw') && /redis\+sentinel:\/\//.test(e.message),
        bad,
      );
    }
  });
});
