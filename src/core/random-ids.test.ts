import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomHex, randomUuid } from './random-ids.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('randomUuid: version-4 form, unique across several pool refills, every variant nibble used', () => {
  const seen = new Set<string>();
  const variants = new Set<string>();
  // 4 KiB of pool is 128 ids: 2,000 ids cross many refills, and mixed-size takes misalign them.
  for (let i = 0; i < 2000; i++) {
    if (i % 7 === 0) randomHex(16);
    const id = randomUuid();
    assert.match(id, UUID_V4);
    assert.ok(!seen.has(id), `duplicate id ${id}`);
    seen.add(id);
    variants.add(id[19]!);
  }
  assert.deepEqual([...variants].sort(), ['8', '9', 'a', 'b']);
});

test('randomHex: the length asked for, hex only, not repeating', () => {
  const a = randomHex(32);
  const b = randomHex(32);
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, b);
  assert.equal(randomHex(16).length, 16);
});
