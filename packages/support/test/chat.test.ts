/**
 * The support chat end to end, through a real Brisk process: a customer's WebSocket to the
 * support service, bot answers in both languages, an order's status from the orders
 * service (a test double of its HTTP API on loopback), a handoff announced on the IM
 * webhook, an agent who signs in on the agent WebSocket, joins and answers, and the
 * answers flowing back to the customer's socket. Also: the widget and the agent page
 * served through Brisk, bad frames, a wrong agent token, and the metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createSupportService, type Support } from '../src/app.js';
import { HttpOrdersApi } from '../src/bot/orders.js';
import { connect, startBrisk, startReceiver, until, type BriskChild } from './helpers.js';
import { startOrdersDouble, type OrdersDouble } from './orders-double.js';

const AGENT_TOKEN = 'agent-secret-for-the-test';

describe('support chat through Brisk', () => {
  let orders: OrdersDouble;
  let im: Awaited<ReturnType<typeof startReceiver>>;
  let support: Support;
  let brisk: BriskChild;
  let wsUrl: string;

  before(async () => {
    orders = await startOrdersDouble();
    orders.orders.set('1024', { owner: 'alice-token', body: { id: 1024, status: 'shipped', tracking: { carrier: 'SF', number: 'SF900' } } });
    im = await startReceiver();
    support = createSupportService({ orders: new HttpOrdersApi({ baseUrl: orders.url }), agentToken: AGENT_TOKEN, webhookUrl: im.url, publicUrl: 'http://shop.test', logger: pino({ level: 'silent' }), handleSignals: false });
    await support.service.start();
    brisk = await startBrisk(support.service.url);
    wsUrl = `ws://127.0.0.1:${brisk.port}/support`;
  });
  after(async () => {
    await brisk?.stop();
    await support?.service.stop();
    await im?.close();
    await orders?.stop();
  });

  test('the widget and the agent page are served through Brisk', async () => {
    const widget = await fetch(`${brisk.url}/support/widget.js`);
    assert.equal(widget.status, 200);
    assert.match(widget.headers.get('content-type') ?? '', /javascript/);
    assert.match(await widget.text(), /window\.BriskSupport/);
    const css = await fetch(`${brisk.url}/support/widget.css`);
    assert.match(css.headers.get('content-type') ?? '', /text\/css/);
    await css.arrayBuffer();
    const page = await fetch(`${brisk.url}/support/agent`);
    assert.match(await page.text(), /Support — agent/);
    // The agent console runs only its own inline script and style (by hash).
    assert.match(page.headers.get('content-security-policy') ?? '', /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-/);
    const refused = await fetch(`${brisk.url}/support/api/conversations`);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'SUPPORT_AGENT_TOKEN');
    const queue = await fetch(`${brisk.url}/support/api/conversations`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
    assert.ok(Array.isArray(((await queue.json()) as { conversations: unknown[] }).conversations));
  });

  test('every error code is documented in docs/support-chat.md', async () => {
    const { readFileSync } = await import('node:fs');
    const { SUPPORT_ERROR_CODES } = await import('../src/errors.js');
    const doc = readFileSync(new URL('../../../../docs/support-chat.md', import.meta.url), 'utf8');
    for (const [code, description] of Object.entries(SUPPORT_ERROR_CODES)) assert.ok(doc.includes(`| \`${code}\` | ${description} |`), `${code} with its description`);
  });

  test('a conversation: FAQ answers in both languages, an order status, a handoff, an agent who answers', { timeout: 30_000 }, async () => {
    const customer = await connect(`${wsUrl}/ws`);
    customer.send({ type: 'hello', language: 'zh', token: 'alice-token' });
    const welcome = await customer.next((f) => f['type'] === 'welcome', 'the welcome');
    const id = welcome['conversation'] as string;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(welcome['state'], 'bot');
    assert.match(((welcome['messages'] as { text: string }[])[0]!).text, /商城小助手/);

    let mark = customer.frames.length;
    customer.send({ type: 'message', text: '运费多少钱？' });
    const zh = await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'the bot answer in Chinese', mark);
    assert.match(zh['text'] as string, /满 99 元包邮/);
    assert.equal((zh['faq'] as { id: string }).id, 'ship-cost');
    // The customer's own message is echoed to every socket of the conversation.
    assert.ok(customer.frames.slice(mark).some((f) => f['from'] === 'customer' && f['text'] === '运费多少钱？'));

    mark = customer.frames.length;
    customer.send({ type: 'message', text: 'How do I reset my password?' });
    const en = await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'the bot answer in English', mark);
    assert.match(en['text'] as string, /Forgot password/);

    mark = customer.frames.length;
    customer.send({ type: 'message', text: '我的订单 1024 到哪了？' });
    const status = await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'the order status', mark);
    assert.equal(status['text'], '订单 1024 已发货。快递单号：SF SF900。');
    assert.equal(orders.seen.at(-1)?.authorization, 'Bearer alice-token', 'the customer\'s token went to the orders service');
    // Signed out meanwhile (the widget sends the token in force with each message): no token goes on.
    mark = customer.frames.length;
    customer.send({ type: 'message', text: '我的订单 1024 到哪了？', token: null });
    await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot' && /不在您当前登录的账户下/.test(f['text'] as string), 'refused without a token', mark);
    assert.equal(orders.seen.at(-1)?.authorization, undefined);
    mark = customer.frames.length;
    customer.send({ type: 'message', text: 'How do I reset my password?', token: 'alice-token' });
    await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'signed in again', mark);

    // Out of scope: handed to a person, and the IM receiver is told.
    mark = customer.frames.length;
    customer.send({ type: 'message', text: 'what is the capital of France' });
    await customer.next((f) => f['type'] === 'state' && f['state'] === 'waiting', 'the waiting state', mark);
    const unsure = await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'the bot\'s handoff message', mark);
    assert.match(unsure['text'] as string, /not sure I understood/);
    await until(() => im.got.length === 1, 20_000, 'the IM webhook');
    assert.equal(im.got[0]!['conversation'], id);
    assert.equal(im.got[0]!['reason'], 'low-confidence');
    assert.match(im.got[0]!['text'] as string, new RegExp(`what is the capital of France.*http://shop\\.test/support/agent#${id}`));

    // While waiting for a person, the bot still answers what it knows (and stays quiet on the rest).
    mark = customer.frames.length;
    customer.send({ type: 'message', text: '怎么申请退货？' });
    const meanwhile = await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'a bot answer while waiting', mark);
    assert.match(meanwhile['text'] as string, /退换货/);
    customer.send({ type: 'message', text: 'and who won the football yesterday?' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(customer.frames.slice(mark).filter((f) => f['type'] === 'message' && f['from'] === 'bot').length, 1, 'no second hand-off message');
    assert.equal(im.got.length, 1, 'no second IM notice');

    // A wrong agent token is refused and the socket closed.
    const intruder = await connect(`${wsUrl}/agent/ws`);
    intruder.send({ type: 'hello', token: 'guess', name: 'Eve' });
    assert.equal((await intruder.closed).code, 4401);

    // The agent signs in through Brisk, sees the conversation waiting, joins and answers.
    const agent = await connect(`${wsUrl}/agent/ws`);
    agent.send({ type: 'hello', token: AGENT_TOKEN, name: 'Lin' });
    await agent.next((f) => f['type'] === 'welcome' && f['name'] === 'Lin', 'the agent welcome');
    const queue = await agent.next((f) => f['type'] === 'queue', 'the queue');
    const entry = (queue['conversations'] as { id: string; state: string; reason: string; question: string }[]).find((c) => c.id === id);
    assert.deepEqual({ state: entry?.state, reason: entry?.reason, question: entry?.question }, { state: 'waiting', reason: 'low-confidence', question: 'what is the capital of France' });

    mark = customer.frames.length;
    agent.send({ type: 'join', conversation: id });
    const transcript = await agent.next((f) => f['type'] === 'transcript', 'the transcript');
    assert.ok((transcript['messages'] as { text: string }[]).some((m) => m.text === '我的订单 1024 到哪了？'));
    await customer.next((f) => f['type'] === 'state' && f['state'] === 'agent' && f['agent'] === 'Lin', 'the agent state', mark);

    agent.send({ type: 'message', conversation: id, text: 'Paris! Anything about your order I can help with?' });
    const reply = await customer.next((f) => f['type'] === 'message' && f['from'] === 'agent', 'the agent\'s reply on the customer socket', mark);
    assert.equal(reply['text'], 'Paris! Anything about your order I can help with?');
    assert.equal(reply['agent'], 'Lin');

    // While the agent is in, the customer's messages go to the agent, not the bot.
    const agentMark = agent.frames.length;
    mark = customer.frames.length;
    customer.send({ type: 'message', text: 'How much is shipping?' });
    await agent.next((f) => f['type'] === 'message' && f['from'] === 'customer' && f['text'] === 'How much is shipping?', 'the customer message at the agent', agentMark);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!customer.frames.slice(mark).some((f) => f['from'] === 'bot'), 'the bot stays quiet while an agent is in');

    // The agent leaves: the bot is back.
    agent.send({ type: 'leave', conversation: id });
    await customer.next((f) => f['type'] === 'state' && f['state'] === 'bot', 'the bot state', mark);
    mark = customer.frames.length;
    customer.send({ type: 'message', text: 'How much is shipping?' });
    const back = await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'the bot again', mark);
    assert.match(back['text'] as string, /¥99/);

    // A reconnecting customer resumes the same conversation with its transcript.
    customer.ws.close();
    const again = await connect(`${wsUrl}/ws`);
    again.send({ type: 'hello', conversation: id });
    const resumed = await again.next((f) => f['type'] === 'welcome', 'the resumed welcome');
    assert.equal(resumed['conversation'], id);
    assert.ok((resumed['messages'] as { from: string; text: string }[]).some((m) => m.from === 'agent' && m.text.startsWith('Paris!')));
    again.ws.close();
    agent.ws.close();

    // The metrics count what happened.
    const metrics = await (await fetch(`${support.service.url}/metrics`)).text();
    assert.match(metrics, /support_handoffs_total\{reason="low-confidence"\} 1/);
    assert.match(metrics, /support_agent_notifications_total\{result="sent"\} 1/);
    assert.match(metrics, /support_bot_answers_total\{kind="order-status",language="zh"\} 2/);
    assert.match(metrics, /support_messages_total\{from="agent"\} 1/);
  });

  test('the Node client (scripts, load tests, game days): answers with their time, hand-offs flagged', { timeout: 20_000 }, async () => {
    const { SupportClient } = await import('../src/client.js');
    const chat = await SupportClient.connect(`${wsUrl}/ws`, { language: 'en' });
    assert.match(chat.conversation, /^[0-9a-f-]{36}$/);
    const answer = await chat.ask('How much does shipping cost?');
    assert.equal(answer.from, 'bot');
    assert.match(answer.text, /¥99/);
    assert.ok(answer.ms > 0 && answer.ms < 10_000);
    assert.equal(answer.handoff, undefined);
    const handed = await chat.ask('what is the capital of France');
    assert.equal(handed.handoff, 'low-confidence');
    chat.close();
  });

  test('asking for a person, and bad frames get errors, never a crash', { timeout: 20_000 }, async () => {
    const customer = await connect(`${wsUrl}/ws`);
    customer.send({ type: 'message', text: 'hi' });
    await customer.next((f) => f['type'] === 'error' && /hello/.test(f['message'] as string), 'hello first');
    customer.ws.send('not json');
    await customer.next((f) => f['type'] === 'error' && f['message'] === 'the frame is not JSON', 'not JSON');
    customer.send({ type: 'hello' });
    await customer.next((f) => f['type'] === 'welcome', 'welcome');
    customer.send({ type: 'message', text: 'x'.repeat(2001) });
    await customer.next((f) => f['type'] === 'error' && /longer than 2000/.test(f['message'] as string), 'too long');
    customer.send({ type: 'message', text: '转人工' });
    await customer.next((f) => f['type'] === 'state' && f['state'] === 'waiting', 'waiting after asking for a person');
    await until(() => im.got.some((g) => g['reason'] === 'asked'), 20_000, 'the IM webhook for the request');
    customer.ws.close();
    assert.equal(brisk.child.exitCode, null);
  });
});
