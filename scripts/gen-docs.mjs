#!/usr/bin/env node
/**
 * Writes docs/configuration.md (from the config schema) and docs/errors.md (from the
 * error code registry). Run after a build:
 *
 *   npm run build && node scripts/gen-docs.mjs           # write the files
 *   npm run build && node scripts/gen-docs.mjs --check   # exit 1 when they are out of date
 *
 * The text comes from src/config/docs.ts, which the unit test src/config/docs.test.ts
 * also uses, so the files on disk are exactly what the test expects.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

let docs;
try {
  docs = await import(join(ROOT, 'dist/src/config/docs.js'));
} catch (error) {
  process.stderr.write(`gen-docs: cannot load dist/src/config/docs.js (run "npm run build" first): ${error.message}\n`);
  process.exit(2);
}

const files = [
  ['docs/configuration.md', docs.configurationMarkdown()],
  ['docs/errors.md', docs.errorsMarkdown()],
];

const check = process.argv.includes('--check');
let stale = 0;
for (const [file, text] of files) {
  const path = join(ROOT, file);
  let current;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) {
    process.stdout.write(`${file}: up to date\n`);
    continue;
  }
  if (check) {
    process.stderr.write(`${file}: out of date; run "node scripts/gen-docs.mjs"\n`);
    stale++;
    continue;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  process.stdout.write(`${file}: written\n`);
}
process.exitCode = stale === 0 ? 0 : 1;
