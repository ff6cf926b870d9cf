#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ (run `npm run build`, or `npm start` which builds).
import { existsSync } from 'node:fs';
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('brisk: not built yet; run `npm run build` (or `npm start`) first\n');
  process.exit(1);
}
const { main, exitAfterFlush } = await import(entry.href);
exitAfterFlush(await main(process.argv.slice(2)));
