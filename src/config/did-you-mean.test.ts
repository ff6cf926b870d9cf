import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closestMatch, didYouMean, editDistance } from './did-you-mean.js';
import { publishedSchema } from './json-schema.js';
import { expectProblems, MINIMAL_CONFIG } from './testing.js';

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

test('closestMatch prefers the fewest edits over a shorter word that is a prefix', () => {
  const match = ['host', 'path', 'pathPrefix', 'pathRegex', 'methods', 'headers', 'query'];
  assert.equal(closestMatch('pathPrefx', match), 'pathPrefix');
  assert.equal(closestMatch('pathPerfix', match), 'pathPrefix');
  assert.equal(closestMatch('pathRegx', match), 'pathRegex');
  assert.equal(closestMatch('pat', match), 'path');
  // Equal edits: the candidate sharing the longer beginning wins, whatever the alphabet says.
  assert.equal(closestMatch('abcx', ['zbcd', 'abcd']), 'abcd');
  assert.equal(closestMatch('xbcd', ['abcd', 'xbce']), 'xbce');
});

test('a route with pathPrefx is told about pathPrefix, at the key', () => {
  const text = `${MINIMAL_CONFIG}    match: { pathPrefx: /api }\n`;
  const problems = expectProblems(text);
  assert.deepEqual(problems.map((p) => [p.path, p.message, p.line, p.column]), [['routes.0.match.pathPrefx', 'unknown key "pathPrefx"; did you mean "pathPrefix"?', 10, 14]]);
});

/**
 * Every set of sibling keys in the configuration schema (the keys of one object), so that
 * the typo test below covers every key a user can write, including those added later.
 */
function siblingKeySets(): { at: string; keys: string[] }[] {
  const sets = new Map<string, { at: string; keys: string[] }>();
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, at));
    if (node === null || typeof node !== 'object') return;
    const schema = node as Record<string, unknown>;
    const properties = schema['properties'] as Record<string, unknown> | undefined;
    if (properties !== undefined && typeof properties === 'object') {
      sets.set(Object.keys(properties).join(','), { at: at === '' ? '(root)' : at, keys: Object.keys(properties) });
      for (const [key, value] of Object.entries(properties)) walk(value, at === '' ? key : `${at}.${key}`);
    }
    for (const [key, value] of Object.entries(schema)) if (key !== 'properties') walk(value, at);
  };
  walk(publishedSchema(), '');
  return [...sets.values()];
}

/** Realistic one-slip typos: a letter dropped, doubled, swapped with the next or hit next to it on the keyboard, the wrong case, a plural. */
function typosOf(key: string): string[] {
  const rows = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'];
  const neighbours = (c: string): string[] => {
    for (const row of rows) {
      const i = row.indexOf(c.toLowerCase());
      if (i !== -1) return [row[i - 1], row[i + 1]].filter((n): n is string => n !== undefined);
    }
    return [];
  };
  const out = new Set<string>([key.toLowerCase(), `${key}s`]);
  for (let i = 0; i < key.length; i++) {
    out.add(key.slice(0, i) + key.slice(i + 1));
    out.add(key.slice(0, i) + key[i]! + key.slice(i));
    if (i + 1 < key.length) out.add(key.slice(0, i) + key[i + 1]! + key[i]! + key.slice(i + 2));
    for (const n of neighbours(key[i]!)) out.add(key.slice(0, i) + n + key.slice(i + 1));
  }
  out.delete(key);
  return [...out];
}

test('every config key: each realistic typo suggests that key, unless another key is as close', () => {
  const sets = siblingKeySets();
  assert.ok(sets.length >= 50, `found ${sets.length} key sets: the walk missed most of the schema`);
  assert.ok(sets.some((s) => s.keys.includes('pathPrefix')) && sets.some((s) => s.keys.includes('onStoreError')), 'route match and middleware keys are covered');
  let checked = 0;
  const wrong: string[] = [];
  for (const { at, keys } of sets) {
    for (const key of keys) {
      for (const typo of typosOf(key)) {
        if (keys.includes(typo)) continue;
        const distance = editDistance(typo.toLowerCase(), key.toLowerCase());
        // A typo as close to another key is ambiguous; no answer is wrong for it.
        if (keys.some((k) => k !== key && editDistance(typo.toLowerCase(), k.toLowerCase()) <= distance)) continue;
        checked++;
        const got = closestMatch(typo, keys);
        if (got !== key) wrong.push(`${at}: "${typo}" → ${got === undefined ? 'no suggestion' : `"${got}"`}, expected "${key}"`);
      }
    }
  }
  assert.ok(checked > 10_000, `only ${checked} typos checked`);
  assert.deepEqual(wrong, []);
});
