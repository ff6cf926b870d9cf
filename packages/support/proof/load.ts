/**
 * `npm run load -w @brisk/support` (or `node packages/support/dist/proof/load.js`): many
 * customers chatting at once, through a real Brisk process and straight to the support
 * service, side by side in one run. Each customer opens a WebSocket, then asks its
 * questions one after another (FAQ questions of both languages from eval/test-*.json, and
 * order-status questions answered by a test double of the orders API).
 *
 *   --clients=50      customers at once
 *   --questions=20    questions per customer
 *   --json            figures as JSON
 *
 * A measurement, not a test: it prints what it saw and never fails on a time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createSupportService } from '../src/app.js';
import { HttpOrdersApi } from '../src/bot/orders.js';
import { SupportClient } from '../src/client.js';
import { startBrisk } from '../test/helpers.js';
import { startOrdersDouble } from '../test/orders-double.js';
import { EVAL_DIR } from './eval.js';

interface Run {
  path: string;
  clients: number;
  answers: number;
  handoffs: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function drive(url: string, path: string, clients: number, perClient: number, questions: { q: string; language: 'zh' | 'en' }[]): Promise<Run> {
  const latencies: number[] = [];
  let errors = 0;
  let handoffs = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let chat: SupportClient | undefined;
      for (let i = 0; i < perClient; i++) {
        const { q } = questions[(c * perClient + i) % questions.length]!;
        try {
          chat ??= await SupportClient.connect(url, { language: c % 2 === 0 ? 'zh' : 'en', token: 'load-user' });
          const answer = await chat.ask(q);
          latencies.push(answer.ms);
          // Handed to a person: the bot is quiet now, so this customer starts a new conversation.
          if (answer.handoff !== undefined) {
            handoffs++;
            chat.close();
            chat = undefined;
          }
        } catch {
          errors++;
          chat?.close();
          chat = undefined;
        }
      }
      chat?.close();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { path, clients, answers: latencies.length, handoffs, errors, seconds, perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0 };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string, fallback: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
  const clients = value('clients', 50);
  const perClient = value('questions', 20);
  if (!(clients >= 1 && perClient >= 1)) throw new Error('--clients and --questions must be at least 1');

  // Questions the customers ask: the test sets' FAQ questions (in-scope and out-of-scope:
  // hand-offs included, as in real traffic) and order lookups.
  const questions: { q: string; language: 'zh' | 'en' }[] = [];
  for (const language of ['zh', 'en'] as const) {
    for (const item of (JSON.parse(readFileSync(join(EVAL_DIR, `test-${language}.json`), 'utf8')) as { items: { q: string; expect: string }[] }).items) {
      if (item.expect !== 'handoff') questions.push({ q: item.q, language });
    }
    questions.push({ q: language === 'zh' ? '我的订单 1024 到哪了？' : 'where is my order 1024?', language });
  }

  const orders = await startOrdersDouble();
  orders.orders.set('1024', { owner: 'load-user', body: { id: 1024, status: 'shipped' } });
  const support = createSupportService({ orders: new HttpOrdersApi({ baseUrl: orders.url }), agentToken: 'load', logger: pino({ level: 'silent' }), handleSignals: false });
  await support.service.start();
  const brisk = await startBrisk(support.service.url);
  try {
    const direct = `ws://${new URL(support.service.url).host}/support/ws`;
    const through = `ws://127.0.0.1:${brisk.port}/support/ws`;
    // A short warm-up on each path, then the two measured runs.
    await drive(direct, 'warm-up', 4, 5, questions);
    await drive(through, 'warm-up', 4, 5, questions);
    const runs = [await drive(direct, 'straight to the support service', clients, perClient, questions), await drive(through, 'through Brisk', clients, perClient, questions)];
    if (args.includes('--json')) {
      console.log(JSON.stringify({ clients, perClient, runs }, null, 2));
      return;
    }
    console.log(`support chat under load: ${clients} customers × ${perClient} questions each (one at a time per customer)\n`);
    console.log('| path | answers | of them hand-offs | errors | answers/s | p50 | p99 | max |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of runs) console.log(`| ${r.path} | ${r.answers} | ${r.handoffs} | ${r.errors} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${r.max.toFixed(1)} ms |`);
    console.log(`\nthrough Brisk / straight: ${(runs[1]!.perSecond / runs[0]!.perSecond).toFixed(2)}× the answers per second, p50 ${(runs[1]!.p50 - runs[0]!.p50).toFixed(1)} ms more`);
  } finally {
    await brisk.stop();
    await support.service.stop();
    await orders.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
