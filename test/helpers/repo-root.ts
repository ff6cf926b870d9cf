/** Where the checkout is, for tests that run its scripts (chaos/, overload/). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root: the first directory above this file (compiled under dist/) that
 * holds `marker` (a path relative to the root, such as `chaos/run.mjs`).
 */
export function repoRoot(marker: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, marker))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`repository root not found: no ${marker} above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}
