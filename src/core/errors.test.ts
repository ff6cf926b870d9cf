import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { BriskError, ERROR_CODES, errorBody, type ErrorCode } from './errors.js';

/** The repository root: the nearest directory above this file with the package.json (works from src/ and dist/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'src', 'core', 'errors.ts'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found above the test file');
    dir = up;
  }
  return dir;
}

const ROOT = repoRoot();
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

describe('error code registry', () => {
  it('every code has a description and a client status (4xx/5xx) or 0 for operator-only codes', () => {
    for (const code of CODES) {
      const { status, description } = ERROR_CODES[code];
      assert.match(code, /^BRISK_[A-Z0-9_]+$/);
      assert.ok(status === 0 || (status >= 400 && status <= 599), `${code}: status ${status}`);
      assert.ok(description.trim().length > 10, `${code}: description`);
    }
  });

  it('every code is documented in docs/errors.md, with its status', () => {
    const docs = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    const missing = CODES.filter((code) => !new RegExp(`\`${code}\``).test(docs));
    assert.deepEqual(missing, [], 'undocumented codes: run `npm run build && node scripts/gen-docs.mjs`');
    for (const code of CODES) {
      const status = ERROR_CODES[code].status;
      if (status === 0) continue;
      assert.match(docs, new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`), `${code} is documented with status ${status}`);
    }
  });

  it('every BRISK_ code the source uses is in the registry', () => {
    const used = new Map<string, string>();
    const srcDir = join(ROOT, 'src');
    const files = (readdirSync(srcDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'));
    assert.ok(files.length > 10, `found the sources (${files.length} files under ${srcDir})`);
    for (const file of files) {
      const text = readFileSync(join(srcDir, file), 'utf8');
      // `process.env['BRISK_CONFIG']` and the like are environment variables, not error codes.
      for (const m of text.matchAll(/(env\[\s*)?['"`](BRISK_[A-Z0-9_]+)['"`]/g)) if (m[1] === undefined && !used.has(m[2]!)) used.set(m[2]!, file);
    }
    assert.ok(used.size > 5, 'found code literals in the sources');
    const unknown = [...used].filter(([code]) => !(code in ERROR_CODES)).map(([code, file]) => `${code} (src/${file})`);
    assert.deepEqual(unknown, [], 'codes used but not registered in src/core/errors.ts');
  });

  it('errorBody is valid JSON for any message, with or without a request id', () => {
    const message = 'a "quoted" \\ back\nslash \u2028 and </script>';
    const parsed = JSON.parse(errorBody('BRISK_BAD_REQUEST', message, 'id-1')) as { error: Record<string, unknown> };
    assert.deepEqual(parsed, { error: { code: 'BRISK_BAD_REQUEST', message, requestId: 'id-1' } });
    const noId = JSON.parse(errorBody('BRISK_INTERNAL', 'x', undefined)) as { error: Record<string, unknown> };
    assert.equal(noId.error['requestId'], null);
  });

  it('BriskError carries the registry status', () => {
    const err = new BriskError('BRISK_UPSTREAM_RESPONSE_TIMEOUT', 'slow');
    assert.equal(err.status, 504);
    assert.equal(err.code, 'BRISK_UPSTREAM_RESPONSE_TIMEOUT');
    assert.ok(err instanceof Error);
  });
});
