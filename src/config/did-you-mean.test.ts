import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closestMatch, didYouMean, editDistance } from './did-you-mean.js';

test('editDistance counts insertions, deletions, substitutions and swaps', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('timeout', 'timeouts'), 1);
  assert.equal(editDistance('prodcts', 'products'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('upstraem', 'upstream'), 1); // a swap is one edit
  assert.equal(editDistance('ab', 'ba'), 1);
});

test('closestMatch suggests only plausible typos', () => {
  assert.equal(closestMatch('timeout', ['targets', 'timeouts', 'balancer']), 'timeouts');
  assert.equal(closestMatch('Timeouts', ['timeouts']), 'timeouts');
  assert.equal(closestMatch('prodcts', ['orders', 'products']), 'products');
  assert.equal(closestMatch('zzzz', ['timeouts', 'pool']), undefined);
  assert.equal(closestMatch('url', ['weight']), undefined);
  assert.equal(closestMatch('x', []), undefined);
  assert.equal(closestMatch('warning', ['info', 'warn', 'error']), 'warn');
  assert.equal(closestMatch('time', ['timeouts', 'total']), 'timeouts');
  assert.equal(closestMatch('ti', ['timeouts']), undefined);
  // An exact match is not a suggestion.
  assert.equal(closestMatch('pool', ['pool']), undefined);
});

test('closestMatch breaks ties alphabetically', () => {
  assert.equal(closestMatch('bat', ['cat', 'bar']), 'bar');
  assert.equal(closestMatch('bat', ['bar', 'cat']), 'bar');
});

test('didYouMean formats the suggestion or nothing', () => {
  assert.equal(didYouMean('timeout', ['timeouts']), '; did you mean "timeouts"?');
  assert.equal(didYouMean('qqqqqq', ['timeouts']), '');
});
