/**
 * Order status from the shop's real orders service (packages/shop), through Brisk the way
 * the support service reaches it in the shop: `GET /api/orders/:id` on a route where Brisk
 * verifies the customer's JWT and passes its subject as `x-user-id`, the orders service
 * answering only the owner. The customer's token is the one the widget sent in `hello`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Database, startEmbeddedPostgres, type EmbeddedPostgres, type Service } from '@brisk/service';
import { JWT_AUDIENCE, JWT_ISSUER, startOrders } from '@brisk/shop';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { Bot } from '../src/bot/bot.js';
import { FaqRetriever, loadFaq } from '../src/bot/faq.js';
import { HttpOrdersApi } from '../src/bot/orders.js';
import { startBrisk, type BriskChild } from './helpers.js';

const SECRET = 'support-test-secret-of-at-least-32-bytes';
const silent = pino({ level: 'silent' });

/** A shopper's token as the users service signs it (shop user ids are numbers). */
async function tokenFor(user: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
}

describe('order status from the shop\'s orders service, through Brisk with the customer\'s JWT', () => {
  let pg: EmbeddedPostgres;
  let orders: Service;
  let brisk: BriskChild;
  let bot: Bot;
  let orderId: string;

  before(async () => {
    pg = await startEmbeddedPostgres();
    orders = await startOrders({ databaseUrl: pg.url, handleSignals: false, logger: silent, redisUrl: '', peers: { products: { url: 'http://127.0.0.1:1' }, payments: { url: 'http://127.0.0.1:1' } } });
    // An order as checkout leaves it (the saga itself is the shop's own tests' business).
    const db = await Database.connect({ url: pg.url, logger: silent });
    const { rows } = await db.write<{ id: string }>(`insert into orders (saga_id, user_id, status, lines, total_cents) values ('s-1', '41', 'confirmed', $1::jsonb, 9800) returning id::text as id`, [JSON.stringify([{ productId: 3, name: 'Teapot', qty: 2, priceCents: 4900 }])]);
    orderId = rows[0]!.id;
    await db.close();
    // A placeholder support target: this test talks to the orders route only.
    brisk = await startBrisk('http://127.0.0.1:1', undefined, {
      upstreams: { orders: { targets: [{ url: orders.url }] } },
      routes: [{ name: 'orders', match: { pathPrefix: '/api/orders', methods: ['GET'] }, upstream: 'orders', auth: { jwt: { secret: SECRET, algorithms: ['HS256'], issuer: JWT_ISSUER, audience: JWT_AUDIENCE }, identityHeaders: { subject: 'x-user-id' } } }],
    });
    bot = new Bot({ retrievers: { zh: new FaqRetriever('zh', loadFaq('zh')), en: new FaqRetriever('en', loadFaq('en')) }, orders: new HttpOrdersApi({ baseUrl: `${brisk.url}/api` }) });
  });
  after(async () => {
    await brisk?.stop();
    await orders?.stop();
    await pg?.stop();
  });

  test('the owner gets the status in both languages; another customer and no token do not', { timeout: 30_000 }, async () => {
    const alice = { authorization: `Bearer ${await tokenFor('41')}` };
    const en = await bot.reply(`where is my order ${orderId}?`, {}, alice);
    assert.equal(en.text, `Order ${orderId} is confirmed and being prepared in our warehouse. Items: Teapot × 2.`);
    const zh = await bot.reply(`我的订单 ${orderId} 到哪了？`, {}, alice);
    assert.equal(zh.text, `订单 ${orderId} 已确认，仓库正在备货。商品：Teapot × 2。`);
    // The orders service answers 404 for someone else's order: "no such order".
    const mallory = await bot.reply(`where is my order ${orderId}?`, {}, { authorization: `Bearer ${await tokenFor('42')}` });
    assert.match(mallory.text, new RegExp(`cannot find order ${orderId}`));
    // No token: Brisk refuses before the orders service (401) — "sign in with the account".
    const anonymous = await bot.reply(`where is my order ${orderId}?`, {});
    assert.match(anonymous.text, /not on the account you are signed in with/);
    const unknown = await bot.reply('order 999999 status', {}, alice);
    assert.match(unknown.text, /cannot find order 999999/);
  });
});
