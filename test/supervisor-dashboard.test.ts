/**
 * The dashboard's services panel in a real headless Chromium: a service Brisk runs is
 * shown with its instances, and a restart appears with its reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { ServiceSnapshot } from '../src/observability/snapshot.js';
import { CHROMIUM_MISSING, chromiumRequired, findChromium, launchBrowser, type TestBrowser } from './helpers/browser.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const chromium = findChromium();
const skip = chromium === undefined && !chromiumRequired() ? CHROMIUM_MISSING : false;
const SERVICE = fileURLToPath(new URL('../../proofs/supervisor/service.mjs', import.meta.url));

async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the services panel of the dashboard', { skip }, () => {
  let browser: TestBrowser;
  let gw: TestGateway;

  before(async () => {
    if (chromium === undefined) assert.fail(`${CHROMIUM_MISSING}; running as root in CI, so it should have been installed by npm test`);
    gw = await startGateway({
      upstreams: { shop: { healthCheck: { path: '/healthz', interval: '200ms', healthyThreshold: 1 } } },
      routes: [{ name: 'shop', upstream: 'shop' }],
      services: { shop: { command: [process.execPath, SERVICE], instances: 2, upstream: 'shop', stopTimeout: '2s' } },
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('lists the instances, and shows a restart with its reason', async () => {
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(`${gw.adminUrl}/dashboard`);
    await page.waitForSelector('#services-panel:not([hidden])');
    const rows = page.locator('#services tbody tr');
    await until(async () => (await rows.count()) === 3);
    const head = await page.locator('#services tbody tr.service-head').textContent();
    assert.match(head ?? '', /shop.*2\/2 ready.*scaling fixed.*no restarts/);
    const s = (await (await request(`${gw.adminUrl}/api/services/shop`)).body.json()) as ServiceSnapshot;
    process.kill(s.instances[0]!.pid!, 'SIGKILL');
    await until(async () => (await rows.allTextContents()).some((t) => /exit: killed by SIGKILL \(replaced #1/.test(t)));
    await until(async () => /restarts: exit 1/.test((await page.locator('#services tr.service-head').textContent()) ?? ''));
    assert.deepEqual(problems, []);
  });
});
