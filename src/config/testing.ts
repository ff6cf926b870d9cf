/** Fixtures for the configuration tests: a small valid file, and loaders that assert. */
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
