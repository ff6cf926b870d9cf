import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDictionary } from './structured-field.js';

describe('Structured Field Dictionary (RFC 9651 §4.2.2)', () => {
  it('members, bare keys, parameters and inner lists', () => {
    const d = parseDictionary('max-age=60, private, no-cache="set-cookie, x-a";p=1, a=(1 "b" c);q, b=?0, c=2.5, d=tok/en, e=:aGk=:, *f=@1700000000, g=%"caf%c3%a9"')!;
    assert.equal(d.get('max-age'), 60);
    assert.equal(d.get('private'), true);
    assert.equal(d.get('no-cache'), 'set-cookie, x-a');
    assert.deepEqual(d.get('a'), { inner: [1, 'b', { token: 'c' }] });
    assert.equal(d.get('b'), false);
    assert.deepEqual(d.get('c'), { decimal: 2.5 });
    assert.deepEqual(d.get('d'), { token: 'tok/en' });
    assert.deepEqual(d.get('e'), { bytes: 'aGk=' });
    assert.deepEqual(d.get('*f'), { date: 1700000000 });
    assert.deepEqual(d.get('g'), { display: 'café' });
  });

  it('spaces and tabs around commas; the last of a repeated key wins; empty is empty', () => {
    const d = parseDictionary('  a=1 ,\tb=2,a=3  ')!;
    assert.equal(d.get('a'), 3);
    assert.equal(d.get('b'), 2);
    assert.equal(parseDictionary('')!.size, 0);
  });

  it('refuses what is not a Dictionary', () => {
    for (const bad of [
      'max-age=10000, &&&&&', // cache-tests cdn-cc-invalid-sh-type-unknown
      'MaX-aGe=3600', // keys are lower case
      'max-age =100',
      'max-age= 100',
      'max-age=60,',
      'max-age=60,,private',
      'max-age=60;',
      'a=1234567890123456', // 16 digits
      'a=1234567890123.5',
      'a=1.2345',
      'a=1.',
      'a="unterminated',
      'a="bad \\n escape"',
      'a=?2',
      'a=(1 2',
      'a=(1,2)',
      'a=:not base64!:',
      'a=%"caf%C3%A9"', // display strings use lower-case hex
      'a=@1.5',
      'a=1 b=2',
    ]) {
      assert.equal(parseDictionary(bad), null, bad);
    }
  });
});
