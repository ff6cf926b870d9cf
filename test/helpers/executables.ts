/** Finding the programs the tests start (redis-server, PostgreSQL, promtool, Chromium). */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The program named by `$envVar` when that is set and executable, else the first of `names`
 * found in `extraDirs` and then on PATH.
 */
export function findExecutable(envVar: string | null, names: readonly string[], extraDirs: readonly string[] = []): string | undefined {
  const fromEnv = envVar === null ? undefined : process.env[envVar];
  if (fromEnv !== undefined && fromEnv !== '' && isExecutable(fromEnv)) return fromEnv;
  for (const dir of [...extraDirs, ...(process.env['PATH'] ?? '').split(delimiter)]) {
    if (dir === '') continue;
    for (const name of names) if (isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}
