import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { loadConfig } from './load.js';
import { expectProblem, expectProblems as problems, MINIMAL_CONFIG as BASE, where } from './testing.js';

// What the loader makes of files that are not a configuration at all: unreadable, not
// YAML, hostile YAML. Every one is a positioned problem, never an exception.

describe('unreadable and malformed files', () => {
  test('a file that does not exist', async () => {
    const result = await loadConfig('/nonexistent/brisk.yaml');
    assert.deepEqual(result, {
      ok: false,
      problems: [{ file: '/nonexistent/brisk.yaml', line: 1, column: 1, path: '', message: 'cannot read the configuration file: file not found' }],
    });
  });

  test('a directory', async () => {
    const result = await loadConfig(tmpdir());
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : (result.problems[0]?.message ?? ''), /is a directory/);
  });

  test('YAML syntax errors carry their position', () => {
    const text = 'listen:\n  - address: a: b\nroutes: []\n';
    assert.deepEqual(problems(text), [
      { file: 'test.yaml', line: 2, column: 14, path: '', message: 'invalid YAML: Nested mappings are not allowed in compact mappings' },
    ]);
    const flow = 'upstreams: { a: 1,, b: 2 }\n';
    assert.deepEqual(
      problems(flow).map((p) => [p.line, p.column, p.message]),
      [[1, 19, 'invalid YAML: Unexpected , in flow map']],
    );
  });

  test('a bad indentation is reported on its line', () => {
    const text = 'listen:\n  - address: x\n upstreams: {}\n';
    const list = problems(text);
    assert.match(list[0]?.message ?? '', /^invalid YAML: /);
    assert.equal(list[0]?.line, 3);
  });

  test('duplicate keys are errors, not silently overwritten', () => {
    const text = `${BASE}routes: []\n`;
    const list = problems(text);
    assert.equal(list.length, 1);
    assert.match(list[0]?.message ?? '', /^invalid YAML: Map keys must be unique/);
    assert.equal(list[0]?.line, where(text, 'routes: []').line);
  });

  test('more than one document', () => {
    const list = problems(`${BASE}---\nlisten: []\n`);
    assert.match(list[0]?.message ?? '', /more than one YAML document/);
  });

  test('empty and comment-only files', () => {
    for (const text of ['', '\n\n', '# just a comment\n', '\uFEFF']) {
      assert.deepEqual(problems(text), [
        { file: 'test.yaml', line: 1, column: 1, path: '', message: 'the configuration file is empty; it needs at least listen, upstreams and routes' },
      ]);
    }
  });

  test('a top level that is not a mapping', () => {
    expectProblem(problems('- a\n- b\n'), '', 'expected a mapping (key: value); got a list', { line: 1, column: 1 });
    expectProblem(problems('just text'), '', 'expected a mapping (key: value); got "just text"', { line: 1, column: 1 });
  });

  test('deep nesting is refused before it can exhaust the stack', () => {
    const list = problems(`listen: ${'['.repeat(5000)}`);
    assert.match(list[0]?.message ?? '', /nest more than 64 levels/);
  });

  test('alias bombs are refused', () => {
    const text = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
    assert.match(problems(text)[0]?.message ?? '', /alias/i);
  });
});
