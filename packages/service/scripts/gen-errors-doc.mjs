#!/usr/bin/env node
/**
 * Writes docs/errors.md from src/errors.ts (compiled: run the build first). A unit test
 * (test/units.test.ts) fails when the two differ.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { SERVICE_ERROR_CODES } = await import(join(root, 'dist', 'src', 'errors.js'));
const lines = [
  '# Error codes of @brisk/service',
  '',
  '<!-- Generated from src/errors.ts by scripts/gen-errors-doc.mjs: edit there. -->',
  '',
  'Every error a client or an operator can see carries one of these codes. A client gets it in the',
  'body shared with Brisk, `{"error":{"code","message","requestId","traceId"}}`, with the HTTP status',
  'below; "retry" says whether the same request may succeed later (503s carry `Retry-After`).',
  'Status "—" marks errors that are logged or thrown to the program, never answered to a client.',
  '',
  '| code | status | retry | meaning |',
  '|---|---|---|---|',
  ...Object.entries(SERVICE_ERROR_CODES).map(([code, { status, retryable, description }]) => `| \`${code}\` | ${status === 0 ? '—' : status} | ${retryable ? 'yes' : 'no'} | ${description} |`),
  '',
];
writeFileSync(join(root, 'docs', 'errors.md'), lines.join('\n'));
