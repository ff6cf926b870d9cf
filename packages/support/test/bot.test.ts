/**
 * The bot's parts on their own: segmentation, the BM25 index and its confidence, the
 * shipped FAQ, intents, thresholds, accuracy on the held-out questions (a floor, so a
 * change that makes retrieval worse fails here), and order-status answers from a test
 * double of the orders service's HTTP API on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { evaluate } from '../proof/eval.js';
import { Bm25Index } from '../src/bot/bm25.js';
import { Bot, DEFAULT_THRESHOLDS, type BotMemory } from '../src/bot/bot.js';
import { FAQ_DIR, FaqRetriever, loadFaq, TOPICS, type Language } from '../src/bot/faq.js';
import { bareOrderId, detectIntent } from '../src/bot/intent.js';
import { orderStatusText } from '../src/bot/messages.js';
import { HttpOrdersApi, readOrder } from '../src/bot/orders.js';
import { bigrams, chineseTerms, englishTerms, loadJieba, stemEnglish } from '../src/bot/tokenize.js';
import { startOrdersDouble, type OrdersDouble } from './orders-double.js';

const retrievers: Record<Language, FaqRetriever> = { zh: new FaqRetriever('zh', loadFaq('zh')), en: new FaqRetriever('en', loadFaq('en')) };
const FAQ_ROOT = join(FAQ_DIR, '..');
const noOrders = { order: () => Promise.reject(new Error('no orders service in this test')) };

describe('segmentation and terms', () => {
  test('jieba loads from the installed package and segments Chinese into words', () => {
    const jieba = loadJieba();
    assert.ok(jieba, 'the @node-rs/jieba native addon should load on this platform');
    const words = jieba('退货需要多长时间才能退款');
    for (const w of ['退货', '时间', '多长时间', '退款']) assert.ok(words.includes(w), `${w} in ${words.join('/')}`);
    assert.equal(retrievers.zh.chinese, 'jieba+bigram');
  });

  test('Chinese terms drop function words, keep Latin words, and add bigrams in the mixed mode', () => {
    const terms = chineseTerms('我的订单能用Visa付款吗？', 'jieba', loadJieba() ?? undefined);
    assert.ok(terms.includes('订单') && terms.includes('付款') && terms.includes('visa'));
    assert.ok(!terms.includes('的') && !terms.includes('吗') && !terms.includes('我'));
    assert.deepEqual(bigrams('退货运费'), ['退货', '货运', '运费']);
    const mixed = chineseTerms('退货运费', 'jieba+bigram', loadJieba() ?? undefined);
    assert.ok(mixed.includes('货运') && mixed.includes('运费'));
    // Without a segmenter (jieba missing) the bigram fallback still gives terms.
    assert.deepEqual(chineseTerms('运费', 'jieba', undefined), ['运费']);
  });

  test('English terms: lower case, stop words out, light stemming', () => {
    assert.deepEqual(englishTerms('Where are my PARCELS being shipped?'), ['parcel', 'ship']);
    assert.equal(stemEnglish('deliveries'), 'delivery');
    assert.equal(stemEnglish('stopped'), 'stop');
    assert.equal(stemEnglish('pass'), 'pass');
    assert.equal(stemEnglish('status'), 'status');
    // The shop's vocabulary meets on one term.
    assert.deepEqual(englishTerms('package shipment voucher'), ['parcel', 'parcel', 'coupon']);
    assert.ok(chineseTerms('我想退钱', 'jieba', loadJieba() ?? undefined).includes('退款'));
  });
});

describe('BM25 index', () => {
  const index = new Bm25Index([
    { id: 'a', fields: { q: ['refund', 'time'], a: ['bank', 'day'] } },
    { id: 'b', fields: { q: ['refund', 'method'], a: ['alipay'] } },
    { id: 'c', fields: { q: ['coupon'], a: ['code'] } },
  ], { weights: { q: 1, a: 0.3 } });

  test('ranks by matching rare terms, questions over answers', () => {
    const hits = index.search(['refund', 'method']);
    assert.equal(hits[0]!.id, 'b');
    assert.equal(hits[1]!.id, 'a');
    assert.deepEqual(hits[0]!.matched, ['refund', 'method']);
    assert.equal(index.search(['alipay'])[0]!.id, 'b');
    assert.ok(index.search(['coupon'])[0]!.score > index.search(['code'])[0]!.score, 'a question term weighs more than an answer term');
    assert.deepEqual(index.search(['nothing', 'here']), []);
  });

  test('confidence is in [0, 1] and falls with words the index does not know', () => {
    const full = index.search(['coupon'])[0]!.confidence;
    const diluted = index.search(['coupon', 'weather', 'tomorrow'])[0]!.confidence;
    assert.ok(full > 0.5 && full <= 1, `full ${full}`);
    assert.ok(diluted < full / 2, `diluted ${diluted} vs ${full}`);
    assert.ok(index.idf('unseen') > index.idf('refund'));
  });
});

describe('the shipped FAQ', () => {
  test('54 entries per language, same ids in both, every topic covered', () => {
    const zh = loadFaq('zh');
    const en = loadFaq('en');
    assert.equal(zh.length, 54);
    assert.deepEqual(zh.map((e) => e.id), en.map((e) => e.id));
    for (const topic of TOPICS) assert.ok(en.filter((e) => e.topic === topic).length >= 10, topic);
  });

  test('each entry is found by its own questions (the index is sound)', () => {
    for (const language of ['zh', 'en'] as const) {
      let right = 0;
      let total = 0;
      for (const entry of retrievers[language].entries) {
        for (const q of entry.questions) {
          total++;
          if (retrievers[language].match(q)?.entry.id === entry.id) right++;
        }
      }
      assert.ok(right / total >= 0.97, `${language}: ${right}/${total}`);
    }
  });

  test('a malformed FAQ file is refused with the file and entry named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'faq-'));
    writeFileSync(join(dir, 'en.json'), JSON.stringify({ entries: [{ id: 'x', topic: 'weather', questions: ['q'], answer: 'a' }] }));
    assert.throws(() => loadFaq('en', dir), /en\.json: entry 0 \("x"\): "topic" must be one of shipping, returns, payment, account/);
    writeFileSync(join(dir, 'zh.json'), '{ not json');
    assert.throws(() => loadFaq('zh', dir), /zh\.json: cannot be read as JSON/);
  });
});

describe('intents', () => {
  test('order numbers next to the word for order, in both languages', () => {
    assert.deepEqual(detectIntent('我的订单 1024 到哪了？'), { kind: 'order-status', orderId: '1024' });
    assert.deepEqual(detectIntent('where is my order 1024?'), { kind: 'order-status', orderId: '1024' });
    assert.deepEqual(detectIntent('订单号：2048'), { kind: 'order-status', orderId: '2048' });
    assert.deepEqual(detectIntent('77号订单发货了吗'), { kind: 'order-status', orderId: '77' });
    assert.deepEqual(detectIntent('order #431 please'), { kind: 'order-status', orderId: '431' });
    assert.deepEqual(detectIntent('where is my order?'), { kind: 'order-status', orderId: undefined });
    assert.deepEqual(detectIntent('我的订单到哪了'), { kind: 'order-status', orderId: undefined });
    // A number elsewhere is not an order number.
    assert.equal(detectIntent('do I pay postage on a ¥50 order').kind, 'faq');
    assert.equal(detectIntent('买 2 件包邮吗').kind, 'faq');
    assert.equal(bareOrderId(' #1024 '), '1024');
    assert.equal(bareOrderId('1024 please'), undefined);
  });

  test('asking for a person', () => {
    for (const text of ['转人工', '我要找真人客服', 'talk to a human', 'can I speak to someone', 'live agent please']) assert.equal(detectIntent(text).kind, 'human', text);
    assert.equal(detectIntent('how do I reset my password').kind, 'faq');
  });
});

describe('thresholds', () => {
  test('a covered question is answered, an unrelated one goes to a human with suggestions', async () => {
    const bot = new Bot({ retrievers, orders: noOrders });
    assert.deepEqual(bot.thresholds, DEFAULT_THRESHOLDS);
    const en = await bot.reply('How much does shipping cost?', {});
    assert.equal(en.kind, 'faq');
    assert.equal(en.faq?.id, 'ship-cost');
    assert.match(en.text, /¥99/);
    const zh = await bot.reply('运费多少钱？', {});
    assert.equal(zh.language, 'zh');
    assert.equal(zh.faq?.id, 'ship-cost');
    assert.match(zh.text, /99 元/);
    const off = await bot.reply('what is the capital of France', {});
    assert.equal(off.kind, 'handoff');
    assert.equal(off.handoff, 'low-confidence');
    const person = await bot.reply('转人工', {});
    assert.equal(person.handoff, 'asked');
  });

  test('the threshold decides: 0 answers everything that matches, 1 hands nearly everything over', async () => {
    const question = 'can I send back something I don\'t like';
    const eager = new Bot({ retrievers, orders: noOrders, threshold: 0 });
    const strict = new Bot({ retrievers, orders: noOrders, threshold: 1 });
    const match = eager.match(question)!;
    assert.ok(match.confidence > 0 && match.confidence < 1, `confidence ${match.confidence}`);
    assert.equal((await eager.reply(question, {})).kind, 'faq');
    const handed = await strict.reply(question, {});
    assert.equal(handed.kind, 'handoff');
    assert.equal(handed.suggestions?.[0], eager.match(question)!.entry.questions[0], 'the nearest questions are offered meanwhile');
    const between = new Bot({ retrievers, orders: noOrders, threshold: { en: match.confidence } });
    assert.equal((await between.reply(question, {})).kind, 'faq', 'a confidence equal to the threshold is answered');
    assert.equal(between.thresholds.zh, DEFAULT_THRESHOLDS.zh);
  });

  test('accuracy stays above a floor on the held-out questions (docs/support-chat.md has the figures)', async () => {
    for (const language of ['zh', 'en'] as const) {
      const holdout = await evaluate(language, { set: 'holdout' });
      assert.ok(holdout.faqQuestions >= 40, `${language}: ${holdout.faqQuestions} questions`);
      assert.ok(holdout.top1Accuracy >= 0.7, `${language} holdout top-1 ${(100 * holdout.top1Accuracy).toFixed(1)}%`);
      assert.ok(holdout.answeredWrong / holdout.faqQuestions <= 0.2, `${language}: ${holdout.answeredWrong} answered wrong`);
      assert.ok(holdout.outOfScopeHandedOff >= holdout.outOfScope - 1, `${language}: out-of-scope handed off ${holdout.outOfScopeHandedOff}/${holdout.outOfScope}`);
      assert.equal(holdout.orderStatusRecognised, holdout.orderStatus);
      // On the tuning sets the thresholds hand every out-of-scope question to a person.
      for (const set of ['dev', 'test'] as const) {
        const f = await evaluate(language, { set });
        assert.equal(f.outOfScopeHandedOff, f.outOfScope, `${language} ${set}: every out-of-scope question goes to a human`);
        assert.ok(f.top1Accuracy >= 0.75, `${language} ${set} top-1 ${(100 * f.top1Accuracy).toFixed(1)}%`);
      }
    }
  });
});

describe('order status from the orders service (test double over HTTP on loopback)', () => {
  let orders: OrdersDouble;
  let bot: Bot;
  before(async () => {
    orders = await startOrdersDouble();
    orders.orders.set('1024', { owner: 'alice', body: { id: 1024, status: 'shipped', items: [{ name: 'Tea cup', quantity: 2 }], tracking: { carrier: 'SF', number: 'SF123' } } });
    orders.orders.set('7', { owner: 'bob', body: { order: { id: '7', state: 'paid' } } });
    bot = new Bot({ retrievers, orders: new HttpOrdersApi({ baseUrl: orders.url }) });
  });
  after(() => orders.stop());

  test('"我的订单 1024 到哪了？" and "where is my order 1024?" are answered from the service, with the customer\'s credentials', async () => {
    const zh = await bot.reply('我的订单 1024 到哪了？', {}, { authorization: 'Bearer alice' });
    assert.equal(zh.kind, 'order-status');
    assert.equal(zh.text, '订单 1024 已发货。商品：Tea cup × 2。快递单号：SF SF123。');
    const en = await bot.reply('where is my order 1024?', {}, { authorization: 'Bearer alice' });
    assert.equal(en.text, 'Order 1024 has shipped. Items: Tea cup × 2. Tracking: SF SF123.');
    assert.deepEqual(orders.seen.slice(-1)[0], { id: '1024', authorization: 'Bearer alice' });
  });

  test('another customer\'s order, an unknown one, and a bare number after "which order?"', async () => {
    assert.match((await bot.reply('order 1024 status', {}, { authorization: 'Bearer mallory' })).text, /not on the account/);
    assert.match((await bot.reply('订单 999 到哪了', {}, { authorization: 'Bearer alice' })).text, /没有找到订单 999/);
    const memory: BotMemory = {};
    assert.equal((await bot.reply('where is my order?', memory)).kind, 'ask-order-id');
    const answer = await bot.reply('7', memory, { authorization: 'Bearer bob' });
    assert.equal(answer.text, 'Order 7 is paid and being prepared in our warehouse.');
    assert.equal(memory.awaitingOrderId, false);
  });

  test('the orders service down: an apology and a handoff, never a crash', async () => {
    orders.down = true;
    try {
      const reply = await bot.reply('我的订单 1024 到哪了', {}, { authorization: 'Bearer alice' });
      assert.equal(reply.handoff, 'orders-unavailable');
      assert.match(reply.text, /暂时无法查询订单 1024/);
    } finally {
      orders.down = false;
    }
    const unreachable = new Bot({ retrievers, orders: new HttpOrdersApi({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 }) });
    assert.equal((await unreachable.reply('order 5 status', {})).handoff, 'orders-unavailable');
  });

  test('bad settings are start-up errors that say which variable', async () => {
    assert.throws(() => new HttpOrdersApi({ baseUrl: 'orders:8080' }), /must be http:\/\/ or https:\/\//);
    assert.throws(() => new HttpOrdersApi({ baseUrl: 'not a url' }), /SUPPORT_ORDERS_URL/);
    assert.throws(() => new HttpOrdersApi({ baseUrl: 'http://x', path: '/orders' }), /SUPPORT_ORDERS_PATH/);
    const { WebhookNotifier } = await import('../src/chat/notify.js');
    const { pino } = await import('pino');
    assert.throws(() => new WebhookNotifier('localhost:7401', pino({ level: 'silent' })), /SUPPORT_AGENT_WEBHOOK|must be http/);
  });

  test('readOrder takes the shapes an orders service may answer with', () => {
    assert.deepEqual(readOrder({ id: 3, status: 'delivered', totalCents: 1250 }, '3'), { id: '3', status: 'delivered', total: 12.5 });
    assert.deepEqual(readOrder({ order: { state: 'cancelled' } }, '9'), { id: '9', status: 'cancelled' });
    // The shop's orders service: lines with qty, totalCents, a reason when cancelled.
    const shop = readOrder({ id: '12', userId: 'u1', status: 'cancelled', lines: [{ productId: 3, name: 'Teapot', qty: 1, priceCents: 4900 }], totalCents: 4900, reason: 'payment declined' }, '12');
    assert.deepEqual(shop, { id: '12', status: 'cancelled', total: 49, items: [{ name: 'Teapot', quantity: 1 }], reason: 'payment declined' });
    assert.equal(orderStatusText('en', shop), 'Order 12 was cancelled (payment declined). Items: Teapot × 1.');
    assert.throws(() => readOrder('nope', '1'), /order 1 is not a JSON object/);
  });
});

describe('package boundaries', () => {
  test('no source file imports the gateway (src/** of the repository) or leaves the package but for its dependencies', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { dirname, resolve } = await import('node:path');
    const root = join(FAQ_ROOT, 'src');
    const allowed = new Set(['@brisk/service', 'ws', 'prom-client']);
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.ts')) files.push(join(dir, e.name));
      }
    };
    walk(root);
    assert.ok(files.length >= 10);
    for (const file of files) {
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)) {
        if (spec!.startsWith('.')) assert.ok(resolve(dirname(file), spec!).startsWith(root), `${file} imports ${spec} (outside the package)`);
        else assert.ok(spec!.startsWith('node:') || allowed.has(spec!), `${file} imports ${spec}`);
      }
    }
  });
});
