/**
 * The system's Chromium, for browser tests of pages served through Brisk (playwright-core
 * drives it; no browser is downloaded). `npm test` installs Debian's `chromium` when it
 * runs as root.
 */
import { existsSync } from 'node:fs';
import { which } from './processes.js';

/**
 * The switches that make Chromium work in a closed network: without the background
 * networking ones it keeps trying to reach Google's services.
 */
export const CHROMIUM_ARGS: readonly string[] = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** `BRISK_CHROMIUM`, else `chromium` or `chromium-browser` on PATH (or in /usr/bin). */
export function findChromium(): string | undefined {
  const fromEnv = process.env['BRISK_CHROMIUM'];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  return which('chromium', ['/usr/bin']) ?? which('chromium-browser', ['/usr/bin']);
}

/**
 * Why a browser test skips, or `false` to run it. As root in CI a missing Chromium is a
 * failure rather than a skip (npm test should have installed it): the test then runs and fails.
 */
export function chromiumSkip(): string | false {
  if (findChromium() !== undefined) return false;
  const required = typeof process.getuid === 'function' && process.getuid() === 0 && !!process.env['CI'] && process.env['CI'] !== 'false';
  return required ? false : 'chromium is not installed (sudo apt-get install chromium, or set BRISK_CHROMIUM)';
}
