import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEntry, encodeEntry, makeEntry } from './entry.js';
import { keyMatchesPrefix, keyMatchesUrl, MemoryStore, normalizePurgeTarget } from './store.js';

const opts = { targets: ['cdn-cache-control'], defaultTtl: 0, overrideTtl: 0 };
const entry = (key: string, bodySize: number, extra: string[] = [], vary: string | null = null) =>
  makeEntry(key, 200, 'OK', ['cache-control', 'max-age=60', ...extra], Buffer.alloc(bodySize, 'x'), 1000, 1100, vary === null ? null : ['accept-language'], vary === null ? [] : [vary], opts, 7);

describe('memory tier', () => {
  it('stays within maxBytes, dropping the least recently used URL', () => {
    const m = new MemoryStore(3000);
    m.put(entry('h/a', 1000));
    m.put(entry('h/b', 1000));
    m.get('h/a'); // a is now the most recent
    m.put(entry('h/c', 1000));
    assert.ok(m.size <= 3000);
    assert.ok(m.get('h/a') !== undefined);
    assert.equal(m.get('h/b'), undefined);
    assert.ok(m.get('h/c') !== undefined);
  });
  it('keeps one entry per Vary selection and replaces the same selection', () => {
    const m = new MemoryStore(1e6);
    m.put(entry('h/v', 10, [], 'en'));
    m.put(entry('h/v', 10, [], 'de'));
    m.put(entry('h/v', 20, [], 'en'));
    const v = m.get('h/v')!;
    assert.equal(v.length, 2);
    assert.equal(v.find((e) => e.varyValues[0] === 'en')!.body.length, 20);
    assert.equal(m.size, v[0]!.size + v[1]!.size);
  });
  it('purges by url, prefix and tag', () => {
    const m = new MemoryStore(1e6);
    m.put(entry('h/a', 1, ['cache-tag', 'red blue']));
    m.put(entry('h/b/1', 1, ['surrogate-key', 'green,blue']));
    m.put(entry('other/b/2', 1));
    assert.equal(m.purge({ url: '/a' }), 1);
    assert.equal(m.purge({ tag: 'green' }), 1);
    assert.equal(m.purge({ prefix: '/b/' }), 1);
    assert.equal(m.count, 0);
    assert.equal(m.size, 0);
  });
});

describe('keys and purge targets', () => {
  it('normalises what operators type', () => {
    assert.equal(normalizePurgeTarget('https://Shop.Example/a?b=1'), 'shop.example/a?b=1');
    assert.equal(normalizePurgeTarget('shop.example'), 'shop.example/');
    assert.equal(normalizePurgeTarget('/x'), '/x');
    assert.ok(keyMatchesUrl('shop.example/x', '/x'));
    assert.ok(!keyMatchesUrl('shop.example/x?y', '/x'));
    assert.ok(keyMatchesPrefix('shop.example/x/y', 'shop.example/x/'));
    assert.ok(keyMatchesPrefix('a.example/x/y', '/x'));
  });
});

describe('Redis encoding', () => {
  it('round-trips an entry with its timing facts and body', () => {
    const e = entry('h/r', 100, ['etag', '"a"', 'cache-tag', 't1'], 'en');
    const d = decodeEntry(encodeEntry(e), opts)!;
    assert.equal(d.key, 'h/r');
    assert.deepEqual(d.headers, e.headers);
    assert.equal(d.body.length, 100);
    assert.equal(d.ageValue, 7);
    assert.equal(d.requestTime, 1000);
    assert.equal(d.responseTime, 1100);
    assert.deepEqual(d.varyValues, ['en']);
    assert.equal(d.etag, '"a"');
    assert.deepEqual(d.tags, ['t1']);
    assert.equal(decodeEntry(Buffer.from('garbage'), opts), null);
  });
});
