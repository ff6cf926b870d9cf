import assert from 'node:assert/strict';
import { test } from 'node:test';
import { esc, labelString } from './labels.js';

test('label values are escaped for the text format', () => {
  assert.equal(esc('plain-name.1'), 'plain-name.1');
  assert.equal(esc('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.equal(labelString('route', 'api', 'target', 'http://x/"y"'), 'route="api",target="http://x/\\"y\\""');
  assert.equal(labelString(), '');
});
