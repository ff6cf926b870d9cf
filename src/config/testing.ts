/** Fixtures for the configuration tests: a small valid file, loaders that assert, and problem positions. */
import assert from 'node:assert/strict';
import { formatProblem, parseConfigText } from './load.js';
import type { Config, ConfigProblem } from './types.js';

/** A small valid configuration; tests append to or edit it. */
export const MINIMAL_CONFIG = `listen:
  - address: 127.0.0.1:0
upstreams:
  products:
    targets:
      - url: http://127.0.0.1:7001
routes:
  - name: products
    upstream: products
`;

/** Loads `text` and fails the test, with every problem, unless it is valid. */
export function expectValid(text: string, file = 'test.yaml'): { config: Config; warnings: ConfigProblem[] } {
  const result = parseConfigText(text, file);
  if (!result.ok) assert.fail(`expected a valid config, got:\n${result.problems.map(formatProblem).join('\n')}`);
  return result;
}

/** Loads `text` and fails the test unless it has problems; returns them. */
export function expectProblems(text: string, file = 'test.yaml'): ConfigProblem[] {
  const result = parseConfigText(text, file);
  assert.equal(result.ok, false, 'expected problems');
  return result.ok ? [] : result.problems;
}

/** 1-based line and column of the `occurrence`-th `needle` in `text`. */
export function where(text: string, needle: string, occurrence = 1): { line: number; column: number } {
  let offset = -1;
  for (let i = 0; i < occurrence; i++) {
    offset = text.indexOf(needle, offset + 1);
    assert.notEqual(offset, -1, `${needle} not in text`);
  }
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1) ?? '').length + 1 };
}

/** Asserts one problem with exactly this path, message and position. */
export function expectProblem(list: readonly ConfigProblem[], path: string, message: string | RegExp, at: { line: number; column: number }): void {
  const found = list.filter((p) => p.path === path);
  assert.equal(found.length, 1, `expected one problem at ${path}, got:\n${list.map(formatProblem).join('\n')}`);
  const p = found[0] as ConfigProblem;
  if (typeof message === 'string') assert.equal(p.message, message);
  else assert.match(p.message, message);
  assert.deepEqual({ line: p.line, column: p.column }, at, `position of ${path}: ${formatProblem(p)}`);
}
