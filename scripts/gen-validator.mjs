#!/usr/bin/env node
/**
 * Compiles the config validator ahead of time into dist/src/config/validator.generated.cjs
 * (see src/config/validator-code.ts), so that a start does not spend most of a second in
 * Ajv's code generation. Runs after tsc in `npm run build` and scripts/ensure.mjs; a dist/
 * without it, or with one compiled from another schema, still works (compiled at start).
 * It also writes dist/src/config/yaml.bundle.cjs, the `yaml` package in one file
 * (scripts/bundle-cjs.mjs; src/config/yaml.ts falls back to the package without it).
 *
 *   node scripts/gen-validator.mjs
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleCommonJs } from './bundle-cjs.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** Writes the compiled validator; returns its path. */
export async function generateValidator(root = ROOT) {
  const dir = join(root, 'dist', 'src', 'config');
  const { publishedSchema } = await import(pathToFileURL(join(dir, 'json-schema.js')).href);
  const { validatorSource, GENERATED_VALIDATOR } = await import(pathToFileURL(join(dir, 'validator-code.js')).href);
  const file = join(dir, GENERATED_VALIDATOR);
  // Written aside and renamed: a gateway starting meanwhile reads the old file or the new one, never half of one.
  writeFileSync(`${file}.tmp`, validatorSource(publishedSchema()));
  renameSync(`${file}.tmp`, file);
  writeYamlBundle(dir, root);
  return file;
}

/** Writes yaml's one-file bundle next to src/config/yaml.js (written aside and renamed, as the validator). */
export function writeYamlBundle(dir, root = ROOT) {
  const require = createRequire(join(root, 'package.json'));
  const entry = require.resolve('yaml');
  const { version } = JSON.parse(readFileSync(require.resolve('yaml/package.json'), 'utf8'));
  const file = join(dir, 'yaml.bundle.cjs');
  writeFileSync(`${file}.tmp`, bundleCommonJs(entry, version));
  renameSync(`${file}.tmp`, file);
  return file;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = await generateValidator();
  process.stdout.write(`config validator compiled: ${file}\n`);
}
