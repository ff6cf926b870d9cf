/**
 * A real headless Chromium for the dashboard tests (playwright-core drives it; no browser
 * is downloaded: the system's `chromium` is used).
 *
 * `npm test` installs Debian's `chromium` with apt-get when it runs as root (see
 * scripts/test.mjs). When it is missing, the browser tests skip with {@link CHROMIUM_MISSING},
 * except as root in CI (`CI` set), where they fail: there it should have been installed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { findExecutable } from './executables.js';

export const CHROMIUM_MISSING = 'chromium is not installed (npm test installs it as root; otherwise: sudo apt-get install chromium, or set BRISK_CHROMIUM to a Chromium binary)';

/**
 * The switches that make Chromium work in a closed network: without the background
 * networking ones it keeps trying to reach Google's services and its own connections get
 * refused.
 */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** The Chromium binary: `BRISK_CHROMIUM`, else `chromium` or `chromium-browser` on PATH. */
export function findChromium(): string | undefined {
  return findExecutable('BRISK_CHROMIUM', ['chromium', 'chromium-browser'], ['/usr/bin']);
}

/** True where a missing Chromium is a failure rather than a reason to skip (root in CI). */
export function chromiumRequired(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0 && process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false';
}

/** A browser with a fresh profile; `close()` also deletes the profile. */
export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/**
 * @example
 * const browser = await launchBrowser();
 * after(() => browser.close());
 * const page = await browser.context.newPage();
 */
export async function launchBrowser(options: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {}): Promise<TestBrowser> {
  const executablePath = findChromium();
  if (executablePath === undefined) throw new Error(CHROMIUM_MISSING);
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'brisk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: options.width ?? 1400, height: options.height ?? 900 },
    colorScheme: options.colorScheme ?? 'light',
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
