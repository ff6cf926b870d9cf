/**
 * The chat widget in a real headless Chromium (playwright-core drives the system's
 * chromium; none is downloaded): a shop page that includes it with one script tag, served
 * through a real Brisk process with the support service behind it. The customer opens the
 * widget, asks in Chinese, gets the bot's answer, asks for a person; an agent signs in on
 * the agent page (through Brisk too), sees the transcript and answers, and the reply shows
 * up in the widget; a reload resumes the conversation; "Back to the bot" hands it back;
 * every request the page makes stays on the shop's origin (no external assets).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHROMIUM_ARGS, chromiumSkip, findChromium } from '@brisk/service/local';
import { pino } from 'pino';
import { createSupportService, type Support } from '../src/app.js';
import { HttpOrdersApi } from '../src/bot/orders.js';
import { startBrisk, startReceiver, type BriskChild } from './helpers.js';

/** Polls an async condition (a page under a strict policy cannot run string predicates). */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
import { startOrdersDouble, type OrdersDouble } from './orders-double.js';

const AGENT_TOKEN = 'widget-test-agent-token';
// As root in CI a missing Chromium is a failure (npm test installs it); elsewhere a skip.
const chromium = findChromium();
const skip = chromiumSkip();

/** A page-side condition (a string: these tests compile without the DOM types). */
const botSaid = (text: string) => `[...document.querySelectorAll('.bs-msg[data-from="bot"]')].some((e) => e.textContent.includes(${JSON.stringify(text)}))`;

const PAGE = `<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Brisk shop</h1><script src="/support/widget.js" data-lang="zh" data-token-key="shopToken" defer></script></body></html>`;

describe('the chat widget in a browser, through Brisk', { skip }, () => {
  let orders: OrdersDouble;
  let support: Support;
  let site: Server;
  let brisk: BriskChild;
  let im: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    orders = await startOrdersDouble();
    orders.orders.set('1024', { owner: 'alice-jwt', body: { id: '1024', status: 'confirmed', lines: [{ name: 'Teapot', qty: 1 }] } });
    im = await startReceiver();
    support = createSupportService({ orders: new HttpOrdersApi({ baseUrl: orders.url }), agentToken: AGENT_TOKEN, webhookUrl: im.url, logger: pino({ level: 'silent' }), handleSignals: false });
    await support.service.start();
    site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE));
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    brisk = await startBrisk(support.service.url, `http://127.0.0.1:${(site.address() as AddressInfo).port}`);
  });
  after(async () => {
    await brisk?.stop();
    await support?.service.stop();
    await new Promise((r) => site?.close(r));
    await im?.close();
    await orders?.stop();
  });

  test('ask, get answers (FAQ and order status with the shop token), ask for a person, see the agent reply, resume after a reload', { timeout: 90_000 }, async () => {
    const { chromium: launcher } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'brisk-widget-'));
    const context = await launcher.launchPersistentContext(profile, { executablePath: chromium!, headless: true, args: [...CHROMIUM_ARGS], timeout: 60_000 });
    try {
      const page = await context.newPage();
      const requests: string[] = [];
      const problems: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${brisk.url}/`);
      await page.evaluate(`localStorage.setItem('shopToken', 'alice-jwt')`);

      await page.click('.bs-launcher');
      await page.waitForSelector('.bs-msg[data-from="bot"]');
      assert.match(await page.textContent('.bs-msg[data-from="bot"]') ?? '', /商城小助手/);

      await page.fill('.bs-input', '运费多少钱？');
      await page.press('.bs-input', 'Enter');
      await page.waitForFunction(botSaid('99 元'));

      await page.fill('.bs-input', '我的订单 1024 到哪了？');
      await page.click('.bs-send');
      await page.waitForFunction(botSaid('订单 1024 已确认'));
      assert.equal(orders.seen.at(-1)?.authorization, 'Bearer alice-jwt', 'the token from the page reached the orders service');

      await page.click('.bs-human');
      await page.waitForFunction(`document.querySelector('.bs-status')?.textContent === '正在等待人工客服…'`);
      const conversation = await page.evaluate<string | null>(`sessionStorage.getItem('brisk.support.conversation')`);
      assert.match(conversation ?? '', /^[0-9a-f-]{36}$/);

      // The agent answers from the agent page (through Brisk), opened on the IM message's link.
      const desk = await context.newPage();
      desk.on('pageerror', (e) => problems.push(`agent page: ${e.message}`));
      desk.on('console', (m) => {
        if (m.type() === 'error') problems.push(`agent page: ${m.text()}`);
      });
      await desk.goto(`${brisk.url}/support/agent#${conversation}`);
      await desk.fill('#name', 'Mei');
      await desk.fill('#token', AGENT_TOKEN);
      await desk.click('#signin button[type="submit"]');
      await desk.waitForSelector('#desk:not([hidden])');
      // The link's conversation is joined at sign-in: its transcript shows, the queue lists it.
      // Locators, not string predicates: the page's policy forbids eval, as it should.
      await desk.locator('#messages li', { hasText: '我的订单 1024 到哪了？' }).first().waitFor();
      // The queue follows (its updates are coalesced, so wait for it rather than read it at once).
      await desk.locator('#queue li', { hasText: 'agent · Mei' }).first().waitFor();
      // Nothing waits any more: the tab's title carries no count.
      await until(async () => (await desk.title()) === 'Support — agent', 10_000, 'the title without a count');
      await desk.fill('#text', '您好，我是小美，请问还有什么可以帮您？');
      await desk.click('#send');
      await page.waitForSelector('.bs-msg[data-from="agent"]');
      assert.match(await page.textContent('.bs-msg[data-from="agent"]') ?? '', /Mei.*小美/s);
      assert.match(await page.textContent('.bs-status') ?? '', /Mei/);
      // The customer's answer reaches the agent page.
      await page.fill('.bs-input', '没有了，谢谢');
      await page.press('.bs-input', 'Enter');
      await desk.locator('#messages li.customer', { hasText: '没有了，谢谢' }).first().waitFor();

      // A reload resumes the same conversation, transcript included.
      await page.reload();
      await page.click('.bs-launcher');
      await page.waitForSelector('.bs-msg[data-from="agent"]');
      assert.equal(await page.evaluate<string | null>(`sessionStorage.getItem('brisk.support.conversation')`), conversation);

      // "Back to the bot": the bot answers again.
      await desk.click('#leave');
      await page.waitForFunction(`document.querySelector('.bs-status')?.textContent === ''`);
      await page.fill('.bs-input', '运费多少钱？');
      await page.press('.bs-input', 'Enter');
      await page.waitForFunction(`[...document.querySelectorAll('.bs-msg[data-from="bot"]')].filter((e) => e.textContent.includes('99 元')).length >= 2`);

      assert.deepEqual(problems, []);
      const foreign = requests.filter((u) => !u.startsWith(brisk.url) && !u.startsWith(`ws://127.0.0.1:${brisk.port}`));
      assert.deepEqual(foreign, [], 'the widget loads nothing from elsewhere');
      assert.ok(requests.some((u) => u.endsWith('/support/widget.css')));
    } finally {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
