/**
 * Conversations survive a restart of the support service (its `dataDir` journal): a real
 * service with real WebSockets, stopped and started again on the same folder. Also the
 * journal alone: a torn last line is skipped, compaction keeps what is held.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { createSupportService, type Support } from '../src/app.js';
import { HttpOrdersApi } from '../src/bot/orders.js';
import type { Conversation } from '../src/chat/hub.js';
import { ConversationJournal } from '../src/chat/journal.js';
import { connect } from './helpers.js';

const AGENT_TOKEN = 'agent-secret-for-the-journal-test';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'support-journal-'));
  dirs.push(d);
  return d;
}

async function startSupport(dataDir: string, warnings: string[] = []): Promise<Support> {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  // The orders API is not asked in these conversations: an address nothing listens on.
  const support = createSupportService({ orders: new HttpOrdersApi({ baseUrl: 'http://127.0.0.1:9/api' }), agentToken: AGENT_TOKEN, logger, handleSignals: false, dataDir });
  await support.service.start();
  return support;
}

const texts = (messages: unknown) => (messages as { from: string; text: string }[]).map((m) => `${m.from}: ${m.text}`);

describe('support: conversations across a restart', () => {
  test('a customer gets the transcript back, a handed-over conversation is still in the agents queue', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const first = await startSupport(dir);
    const ws = first.service.url.replace(/^http/, 'ws');
    const customer = await connect(`${ws}/support/ws`);
    customer.send({ type: 'hello', language: 'en' });
    const id = (await customer.next((f) => f['type'] === 'welcome', 'the welcome'))['conversation'] as string;
    let mark = customer.frames.length;
    customer.send({ type: 'message', text: 'How do I reset my password?' });
    await customer.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'a bot answer', mark);
    mark = customer.frames.length;
    customer.send({ type: 'message', text: 'what is the capital of France' });
    await customer.next((f) => f['type'] === 'state' && f['state'] === 'waiting', 'handed over', mark);
    const agent = await connect(`${ws}/support/agent/ws`);
    agent.send({ type: 'hello', token: AGENT_TOKEN, name: 'Lin' });
    await agent.next((f) => f['type'] === 'welcome', 'the agent welcome');
    agent.send({ type: 'join', conversation: id });
    await agent.next((f) => f['type'] === 'transcript', 'the transcript');
    mark = customer.frames.length;
    agent.send({ type: 'message', conversation: id, text: 'Paris. Anything else?' });
    await customer.next((f) => f['type'] === 'message' && f['from'] === 'agent', "the agent's answer", mark);
    const before = texts((await (async () => {
      const again = await connect(`${ws}/support/ws`);
      again.send({ type: 'hello', conversation: id });
      const w = await again.next((f) => f['type'] === 'welcome', 'a second tab');
      again.ws.close();
      return w;
    })())['messages']);
    customer.ws.close();
    agent.ws.close();
    await first.service.stop();

    const second = await startSupport(dir);
    try {
      const ws2 = second.service.url.replace(/^http/, 'ws');
      const back = await connect(`${ws2}/support/ws`);
      back.send({ type: 'hello', conversation: id });
      const welcome = await back.next((f) => f['type'] === 'welcome', 'the welcome after the restart');
      assert.equal(welcome['conversation'], id, 'the same conversation, not a new one');
      const after = texts(welcome['messages']);
      assert.deepEqual(after.slice(0, before.length), before, 'the whole transcript is back');
      assert.ok(after.some((t) => t === 'agent: Paris. Anything else?'));
      // The agent's socket did not survive: the conversation waits for a person again.
      assert.equal(welcome['state'], 'waiting');
      const lin = await connect(`${ws2}/support/agent/ws`);
      lin.send({ type: 'hello', token: AGENT_TOKEN, name: 'Lin' });
      const queue = await lin.next((f) => f['type'] === 'queue', 'the queue after the restart');
      const entry = (queue['conversations'] as { id: string; state: string; reason: string }[]).find((c) => c.id === id);
      assert.equal(entry?.state, 'waiting');
      assert.equal(entry?.reason, 'low-confidence');
      // And it goes on: the bot still answers it.
      const m = back.frames.length;
      back.send({ type: 'message', text: 'How do I reset my password?' });
      await back.next((f) => f['type'] === 'message' && f['from'] === 'bot', 'a bot answer after the restart', m);
      back.ws.close();
      lin.ws.close();
    } finally {
      await second.service.stop();
    }
  });

  test('a torn last line is skipped with a warning; the rest comes back', { timeout: 30_000 }, async () => {
    const dir = tempDir();
    const first = await startSupport(dir);
    const customer = await connect(`${first.service.url.replace(/^http/, 'ws')}/support/ws`);
    customer.send({ type: 'hello', language: 'en' });
    const id = (await customer.next((f) => f['type'] === 'welcome', 'the welcome'))['conversation'] as string;
    customer.ws.close();
    await first.service.stop();
    appendFileSync(join(dir, 'conversations.jsonl'), `{"c":"${id}","m":{"from":"customer","te`);

    const warnings: string[] = [];
    const second = await startSupport(dir, warnings);
    try {
      assert.ok(second.hub.get(id) !== undefined, 'the conversation is back');
      assert.ok(warnings.some((w) => /skipped 1 unreadable line/.test(w)), warnings.join('\n'));
    } finally {
      await second.service.stop();
    }
  });
});

describe('the conversations journal', () => {
  const conversation = (id: string, n: number): Conversation => ({
    id,
    state: 'bot',
    language: 'en',
    messages: Array.from({ length: n }, (_, i) => ({ from: 'customer' as const, text: `line ${i}`, at: new Date(1_000 + i).toISOString() })),
    memory: { language: 'en' },
    asker: {},
    customers: new Set(),
    agent: undefined,
    handoff: undefined,
    createdAt: 1_000,
    lastActivity: 2_000,
  });

  test('compaction rewrites the file from what is held: forgotten ones go, the rest reads back the same', () => {
    const dir = tempDir();
    const journal = new ConversationJournal(dir, { compactBytes: 4096 });
    const kept = conversation('kept', 30);
    const gone = conversation('gone', 30);
    for (const c of [kept, gone]) {
      journal.began(c);
      for (const m of c.messages) journal.said(c, m);
      journal.changed(c);
    }
    journal.forgot('gone');
    assert.ok(journal.oversized);
    const big = statSync(journal.file).size;
    journal.compact([kept]);
    assert.ok(!journal.oversized);
    assert.ok(statSync(journal.file).size < big / 1.5, 'smaller after compaction');
    journal.said(kept, { from: 'bot', text: 'after compaction', at: new Date(5_000).toISOString() });
    journal.close();
    const back = new ConversationJournal(dir).read();
    assert.deepEqual(back.map((c) => c.id), ['kept']);
    assert.equal(back[0]!.messages.length, 31);
    assert.equal(back[0]!.messages.at(-1)!.text, 'after compaction');
    assert.doesNotMatch(readFileSync(journal.file, 'utf8'), /"gone"/);
  });
});
