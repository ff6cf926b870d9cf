/**
 * The whole shop as `npm start` runs it — embedded databases, Brisk in front running
 * every service — and a shopper in a real headless Chromium (playwright-core drives the
 * system's chromium; none is downloaded): browse, search, sign in, fill the cart, check
 * out, and see the order confirmed and paid on the order page (Brisk's aggregate of three
 * services). Every request stays on the shop's origin and the page breaks no rule of its
 * Content-Security-Policy. Then a payments instance is killed: Brisk replaces it and the
 * next checkout still goes through.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHROMIUM_ARGS, chromiumSkip, findChromium, freePort } from '@brisk/service/local';
import { startStack, type Stack } from '../src/run/stack.js';
import { checkoutToEnd } from './helpers.js';

const chromium = findChromium();
const skip = chromiumSkip();

/**
 * Polls a condition read through playwright's locators: the page's CSP forbids the string
 * evaluation `waitForFunction` would need, and these tests compile without the DOM types.
 */
async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${condition.toString()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the shop in a browser, through Brisk', { skip, timeout: 180_000 }, () => {
  let stack: Stack;
  let context: import('playwright-core').BrowserContext;
  let profile: string;
  const output: string[] = [];

  before(async () => {
    const [port, adminPort, imPort] = [await freePort(), await freePort(), await freePort()];
    stack = await startStack({ port, adminPort, imPort, output: 'pipe', print: () => {}, env: { SHOP_LOG_LEVEL: 'warn', SHOP_MIN_INSTANCES: '1' } });
    stack.gateway.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    stack.gateway.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const { chromium: launcher } = await import('playwright-core');
    profile = mkdtempSync(join(tmpdir(), 'shop-chromium-'));
    context = await launcher.launchPersistentContext(profile, { executablePath: chromium!, headless: true, args: [...CHROMIUM_ARGS], viewport: { width: 1200, height: 900 }, timeout: 60_000 });
  });
  after(async () => {
    await context?.close().catch(() => {});
    if (profile) rmSync(profile, { recursive: true, force: true });
    await stack?.stop();
  });

  test('browse, search, sign in, add to cart, check out: the order page shows it confirmed and paid', async () => {
    const page = await context.newPage();
    const foreign: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(stack.url)) foreign.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${stack.url}/`);
    await page.waitForSelector('[data-testid="product"]');
    assert.ok((await page.locator('[data-testid="product"]').count()) >= 10, 'the catalogue is listed');

    await page.fill('[data-testid="search"]', 'teapot');
    await until(async () => (await page.locator('[data-testid="product"]').count()) === 1);
    assert.match((await page.locator('[data-testid="product"] h2').textContent()) ?? '', /Yixing clay teapot/);

    await page.click('[data-testid="nav-signin"]');
    await page.fill('[data-testid="email"]', 'demo@shop.test');
    await page.fill('[data-testid="password"]', 'demo-password');
    await page.click('[data-testid="signin"]');
    await until(async () => ((await page.locator('#notice').textContent()) ?? '').includes('Welcome'));

    // Back on the catalogue, still filtered by the search.
    await until(async () => (await page.locator('[data-testid="product"]').count()) === 1);
    await page.click('[data-testid="product"] [data-testid="add"]');
    await until(async () => (await page.locator('#cart-count').textContent()) === '1');
    await page.click('[data-testid="nav-cart"]');
    await page.waitForSelector('[data-testid="cart-line"]');
    await page.click('[data-testid="checkout"]');

    await until(async () => (await page.locator('[data-testid="order-status"]').textContent()) === 'confirmed', 30_000);
    await until(async () => ((await page.locator('#order-payment').textContent()) ?? '').startsWith('paid'));
    assert.match((await page.locator('#order-user').textContent()) ?? '', /demo@shop\.test/, 'the aggregate joined the shopper');
    assert.match((await page.locator('#order-lines').textContent()) ?? '', /Yixing clay teapot/);
    assert.equal(await page.locator('#cart-count').textContent(), '0', 'the cart was emptied');

    await page.click('[data-testid="nav-orders"]');
    await page.waitForSelector('[data-testid="order"]');
    assert.deepEqual(foreign, [], 'no request leaves the shop');
    assert.deepEqual(problems, [], 'no script error and no Content-Security-Policy violation');
    await page.close();
  });

  test('Brisk supervises the services: a killed payments instance is replaced and checkout goes on', async () => {
    const services = (await (await fetch(`${stack.adminUrl}/api/services`)).json()) as { services: { name: string; ready: number; instances: { pid: number; state: string }[] }[] };
    assert.deepEqual(services.services.map((s) => s.name).sort(), ['orders', 'payments', 'products', 'support', 'users', 'web']);
    const payments = services.services.find((s) => s.name === 'payments')!;
    assert.ok(payments.ready >= 2);
    const victim = payments.instances.find((i) => i.state === 'ready')!.pid;
    process.kill(victim, 'SIGKILL');

    const login = (await (await fetch(`${stack.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'demo@shop.test', password: 'demo-password' }) })).json()) as { token: string };
    const auth = { authorization: `Bearer ${login.token}`, 'content-type': 'application/json' };
    const checkout = await checkoutToEnd(stack.url, undefined, 'after-kill', { items: [{ productId: 14, qty: 2 }] }, auth);
    const body = checkout.body as { status: string };
    assert.equal(checkout.status, 201, JSON.stringify(body));
    assert.equal(body.status, 'confirmed');
    const unauthorised = await fetch(`${stack.url}/internal/payments?orderId=1001`);
    assert.equal(unauthorised.status, 401, '/internal/* needs the internal key');

    const deadline = Date.now() + 30_000;
    let replaced = false;
    while (!replaced && Date.now() < deadline) {
      const now = (await (await fetch(`${stack.adminUrl}/api/services/payments`)).json()) as { ready: number; instances: { pid: number; state: string }[] };
      replaced = now.ready >= 2 && !now.instances.some((i) => i.pid === victim);
      if (!replaced) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(replaced, `payments is back to two ready instances\n${output.join('').slice(-2000)}`);
  });

  // Last: it uses up this address's sign-in allowance.
  test("Brisk's policies in front of the shop: catalogue cache, JWT, order page aggregate, rate limit, the internal door", async () => {
    const first = await fetch(`${stack.url}/api/products?q=mango`);
    await first.arrayBuffer();
    const second = await fetch(`${stack.url}/api/products?q=mango`);
    const products = (await second.json()) as { products: { name: string }[] };
    assert.deepEqual([first.headers.get('x-cache'), second.headers.get('x-cache')], ['MISS', 'HIT']);
    assert.match(products.products[0]!.name, /mango/i);
    const cart = await fetch(`${stack.url}/api/cart`);
    assert.equal(cart.status, 401);
    assert.equal(((await cart.json()) as { error: { code: string } }).error.code, 'BRISK_UNAUTHORIZED');
    const forged = await fetch(`${stack.url}/api/cart`, { headers: { authorization: 'Bearer e30.e30.', 'x-user-id': '1' } });
    assert.equal(forged.status, 401, 'a forged token and a client-sent identity header are refused');
    const login = (await (await fetch(`${stack.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'demo@shop.test', password: 'demo-password' }) })).json()) as { token: string };
    const orders = (await (await fetch(`${stack.url}/api/orders`, { headers: { authorization: `Bearer ${login.token}` } })).json()) as { orders: { id: string }[] };
    const page = (await (await fetch(`${stack.url}/api/orders/${orders.orders[0]!.id}/page`, { headers: { authorization: `Bearer ${login.token}` } })).json()) as { order: { status: string }; user: { email: string }; payment: { status: string } };
    assert.deepEqual([page.order.status, page.user.email, page.payment.status], ['confirmed', 'demo@shop.test', 'paid']);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await fetch(`${stack.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'nobody@shop.test', password: 'wrong-guess' }) });
      await r.arrayBuffer();
      statuses.push(r.status);
    }
    assert.ok(statuses.includes(401) && statuses.at(-1) === 429, `sign-in is rate limited: ${statuses.join(' ')}`);
    const provider = await fetch(`${stack.url}/internal/payments/provider`, { headers: { 'x-api-key': stack.internalKey } });
    assert.equal(((await provider.json()) as { declineRate: number }).declineRate, 0, 'the internal key opens /internal/*');
  });
});
