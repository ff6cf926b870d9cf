import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import * as packaged from 'yaml';
import { LineCounter, Parser, YAMLParseError, isMap, parse, parseDocument } from './yaml.js';

// The build's one-file bundle of `yaml` must be the package itself, only faster to load.

const require = createRequire(import.meta.url);

describe("yaml's one-file bundle", () => {
  test('is what src/config/yaml.ts loads, and is of the installed version', () => {
    const bundle = require('./yaml.bundle.cjs') as { version: string; exports: typeof packaged };
    assert.equal(bundle.version, (require('yaml/package.json') as { version: string }).version);
    assert.equal(parse, bundle.exports.parse, 'the bundle is in use (written by scripts/gen-validator.mjs)');
    assert.notEqual(parse, packaged.parse);
    assert.deepEqual(Object.keys(bundle.exports).sort(), Object.keys(require('yaml') as object).sort());
  });

  test('parses as the package does: anchors, merge keys, errors with their positions', () => {
    const text = 'base: &b { a: 1, list: [x, "y", 3.5] }\nderived:\n  <<: *b\n  c: true\n';
    assert.deepEqual(parse(text, { merge: true }), packaged.parse(text, { merge: true }));
    const bad = 'a: [1, 2\nb: }\n';
    const ours = parseDocument(bad).errors.map((e) => [e.code, e.pos, e.message]);
    assert.ok(ours.length > 0);
    assert.deepEqual(ours, packaged.parseDocument(bad).errors.map((e) => [e.code, e.pos, e.message]));
    assert.ok(parseDocument(bad).errors[0] instanceof YAMLParseError, "the bundle's errors are the bundle's class");
    assert.ok(isMap(parseDocument('k: v').contents));
    const lines = new LineCounter();
    assert.equal([...new Parser(lines.addNewLine).parse('a: 1\nb: 2\n')].length > 0, true);
    assert.deepEqual(lines.linePos(5), { line: 2, col: 1 });
  });
});
