#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/. On a fresh clone (no dist/, or no
// node_modules/) it first installs and builds, as `npm start` does, with scripts/ensure.mjs.
// Its output goes to stderr, so that `brisk schema > schema.json` stays clean.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
const installed = new URL('../node_modules/.package-lock.json', import.meta.url);
if (!existsSync(entry) || !existsSync(installed)) {
  const ensure = new URL('../scripts/ensure.mjs', import.meta.url);
  if (!existsSync(ensure)) {
    process.stderr.write('brisk: not built yet; run `npm install && npm run build` in the checkout first\n');
    process.exit(1);
  }
  process.stderr.write('brisk: first run in this checkout: installing the dependencies and building (as `npm start` does)\n');
  const result = spawnSync(process.execPath, [fileURLToPath(ensure)], { stdio: ['ignore', 2, 2] });
  if (result.status !== 0 || !existsSync(entry)) {
    process.stderr.write('brisk: could not install and build (see above); run `npm install && npm run build` in the checkout and try again\n');
    process.exit(1);
  }
}
const { main, exitAfterFlush } = await import(entry.href);
exitAfterFlush(await main(process.argv.slice(2)));
