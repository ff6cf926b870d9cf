import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isToken, TCHAR } from './http-token.js';

test('tchar is exactly RFC 9110 §5.6.2: ALPHA, DIGIT and the 15 listed symbols', () => {
  const expected = new Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
  for (let c = 0; c < 256; c++) assert.equal(TCHAR[c], expected.has(String.fromCharCode(c)) ? 1 : 0, `byte 0x${c.toString(16)}`);
});

test('isToken: field names node takes, and those it refuses', () => {
  for (const name of ['content-type', 'X-Request-Id', "a!#$%&'*+-.^_`|~z", '0']) assert.ok(isToken(name), name);
  for (const name of ['', 'a b', 'a:b', 'a\r\nb', 'é', 'a\u0100', 'a"b', '(a)', 'a/b']) assert.ok(!isToken(name), JSON.stringify(name));
});
