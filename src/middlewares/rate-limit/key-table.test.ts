import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { KeyTable } from './key-table.js';

describe('KeyTable', () => {
  it('stores and finds state per key', () => {
    const t = new KeyTable(10, 2);
    t.set('a', t.find('a'), 1, 2, 3);
    t.set('b', t.find('b'), 4, 5, 6);
    t.set('c', t.find('c'), 7, 8, 9); // grows past the initial capacity
    const a = t.find('a');
    assert.deepEqual([t.get(a, 0), t.get(a, 1), t.get(a, 2)], [1, 2, 3]);
    const c = t.find('c');
    assert.deepEqual([t.get(c, 0), t.get(c, 1), t.get(c, 2)], [7, 8, 9]);
    assert.equal(t.find('zzz'), -1);
    assert.equal(t.size, 3);
  });

  it('evicts the least recently used key when full; a touched key stays', () => {
    const t = new KeyTable(3, 1);
    for (const k of ['a', 'b', 'c']) t.set(k, -1, 1, 0, 0);
    t.find('a'); // a is now the most recent; b is the oldest
    t.set('d', -1, 1, 0, 0);
    assert.equal(t.has('b'), false);
    assert.equal(t.has('a'), true);
    assert.equal(t.has('c'), true);
    assert.equal(t.has('d'), true);
    assert.equal(t.evictions, 1);
    // A reused slot carries the new key's state, not the evicted one's.
    t.set('e', -1, 42, 43, 44);
    const e = t.find('e');
    assert.deepEqual([t.get(e, 0), t.get(e, 1), t.get(e, 2)], [42, 43, 44]);
    assert.equal(t.has('c'), false);
  });

  it('stays bounded while a client sprays random keys, and keeps an active key', () => {
    const t = new KeyTable(1000);
    t.set('victim', -1, 7, 0, 0);
    for (let i = 0; i < 30_000; i++) {
      const key = `spray-${i}-${Math.random()}`;
      t.set(key, t.find(key), i, 0, 0);
      if (i % 100 === 0) assert.notEqual(t.find('victim'), -1, 'the active key was evicted');
    }
    assert.equal(t.size, 1000);
    assert.equal(t.evictions, 30_000 + 1 - 1000);
    assert.equal(t.get(t.find('victim'), 0), 7);
  });

  it('heap stays flat under spraying once full', () => {
    // A real collection before each reading, without needing node --expose-gc.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const t = new KeyTable(10_000);
    const spray = (n: number) => {
      for (let i = 0; i < n; i++) t.set(`spray-${i}-${Math.random()}`, -1, i, 0, 0);
    };
    spray(20_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    spray(200_000);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(t.size, 10_000);
    // 200k retained keys would be tens of megabytes.
    assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${grown} bytes`);
  });
});
