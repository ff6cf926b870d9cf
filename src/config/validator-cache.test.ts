import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { compileValidatorScript } from './validator-cache.js';

const dir = mkdtempSync(join(tmpdir(), 'brisk-validator-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for the generated validator: a CommonJS module ending with its fingerprint. */
function validatorFile(name: string, fingerprint: string | null, answer = 42): { path: string; source: string } {
  const path = join(dir, name);
  const source = `module.exports = function validate() { return ${answer}; };\n${fingerprint === null ? '' : `module.exports.fingerprint = "${fingerprint}";\n`}`;
  writeFileSync(path, source);
  return { path, source };
}

function load(path: string, source: string): { value: unknown; stored: boolean } {
  const script = compileValidatorScript(path, source);
  const module = { exports: {} as unknown };
  script.run(module.exports, () => undefined, module, path, dir);
  const stored = script.store !== null;
  script.store?.();
  return { value: (module.exports as () => unknown)(), stored };
}

describe("the build validator's code cache", () => {
  test('the first load writes the cache, the next one uses it, and both run the same code', () => {
    const { path, source } = validatorFile('a.cjs', 'a'.repeat(64));
    const first = load(path, source);
    assert.equal(first.value, 42);
    assert.equal(first.stored, true, 'no cache yet: one is written');
    assert.ok(existsSync(`${path}.v8cache`));
    assert.match(readFileSync(`${path}.v8cache`, 'latin1'), /^brisk validator code cache 1 a{64} \d+\n/);
    const second = load(path, source);
    assert.equal(second.value, 42);
    assert.equal(second.stored, false, 'the cache fitted: nothing to write');
  });

  test("a cache made from another validator is not used, even for a source of the same length, and is replaced", () => {
    const { path, source } = validatorFile('b.cjs', 'b'.repeat(64), 1);
    load(path, source);
    // Same length, other fingerprint and code: V8 alone would take the old cache for it.
    const other = validatorFile('b.cjs', 'c'.repeat(64), 2);
    assert.equal(other.source.length, source.length);
    const loaded = load(other.path, other.source);
    assert.equal(loaded.value, 2);
    assert.equal(loaded.stored, true);
    assert.match(readFileSync(`${path}.v8cache`, 'latin1'), /^brisk validator code cache 1 c{64} /);
  });

  test('a source without a fingerprint is compiled without a cache', () => {
    const { path, source } = validatorFile('d.cjs', null, 7);
    const loaded = load(path, source);
    assert.equal(loaded.value, 7);
    assert.equal(loaded.stored, false);
    assert.equal(existsSync(`${path}.v8cache`), false);
  });
});
