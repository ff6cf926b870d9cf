/**
 * `npm run eval -w @brisk/support` (or `node packages/support/dist/proof/eval.js`):
 * the bot's accuracy on the held-out questions: eval/test-{zh,en}.json (the figures in
 * docs/support-chat.md), or with `--set=dev` eval/dev-{zh,en}.json, on which the
 * keywords, the Chinese mode and the thresholds were chosen.
 *
 *   --set=test|dev                        which questions (default test)
 *   --chinese=jieba|bigram|jieba+bigram   Chinese terms (default jieba+bigram)
 *   --threshold=0.3                       one handoff threshold for both languages (default the bot's)
 *   --sweep                               a table of thresholds instead
 *   --misses                              list the questions answered wrongly
 *   --json                                figures as JSON
 *
 * Figures: top-1 accuracy (the best FAQ entry is the expected one, threshold aside);
 * answered right / wrong / handed off at the threshold, for the FAQ questions; and for
 * the out-of-scope questions, the share handed to a human; and order-status questions
 * recognised.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bot, DEFAULT_THRESHOLDS } from '../src/bot/bot.js';
import { FAQ_DIR, FaqRetriever, loadFaq, type Language, type RetrieverOptions } from '../src/bot/faq.js';
import { detectIntent } from '../src/bot/intent.js';
import type { ChineseMode } from '../src/bot/tokenize.js';

/** One language's figures. */
export interface EvalFigures {
  language: Language;
  faqQuestions: number;
  top1: number;
  top1Accuracy: number;
  answeredRight: number;
  answeredWrong: number;
  handedOff: number;
  outOfScope: number;
  outOfScopeHandedOff: number;
  orderStatus: number;
  orderStatusRecognised: number;
  misses: { q: string; expect: string; got: string; confidence: number }[];
}

interface EvalItem {
  q: string;
  expect: string;
}

export const EVAL_DIR = join(FAQ_DIR, '..', 'eval');

/** The question sets: dev and test were used to tune; holdout was written before the last changes and run once. */
export type EvalSet = 'dev' | 'test' | 'holdout';

/** Runs the evaluation of one language. */
export async function evaluate(language: Language, options: { set?: EvalSet; chinese?: ChineseMode; threshold?: number; retriever?: RetrieverOptions } = {}): Promise<EvalFigures> {
  const items = (JSON.parse(readFileSync(join(EVAL_DIR, `${options.set ?? 'test'}-${language}.json`), 'utf8')) as { items: EvalItem[] }).items;
  const retriever = new FaqRetriever(language, loadFaq(language), { ...options.retriever, chinese: options.chinese ?? 'jieba+bigram' });
  const noOrders = { order: () => Promise.reject(new Error('not used')) };
  const other = new FaqRetriever(language === 'zh' ? 'en' : 'zh', loadFaq(language === 'zh' ? 'en' : 'zh'));
  const bot = new Bot({ retrievers: language === 'zh' ? { zh: retriever, en: other } : { en: retriever, zh: other }, orders: noOrders, ...(options.threshold !== undefined ? { threshold: options.threshold } : {}) });
  const f: EvalFigures = { language, faqQuestions: 0, top1: 0, top1Accuracy: 0, answeredRight: 0, answeredWrong: 0, handedOff: 0, outOfScope: 0, outOfScopeHandedOff: 0, orderStatus: 0, orderStatusRecognised: 0, misses: [] };
  for (const item of items) {
    if (item.expect === 'order-status') {
      f.orderStatus++;
      if (detectIntent(item.q).kind === 'order-status') f.orderStatusRecognised++;
      continue;
    }
    const reply = await bot.reply(item.q, {});
    if (item.expect === 'handoff') {
      f.outOfScope++;
      if (reply.kind === 'handoff') f.outOfScopeHandedOff++;
      else f.misses.push({ q: item.q, expect: 'handoff', got: reply.faq?.id ?? reply.kind, confidence: reply.faq?.confidence ?? 0 });
      continue;
    }
    f.faqQuestions++;
    const match = bot.match(item.q, language);
    const right = match?.entry.id === item.expect;
    if (right) f.top1++;
    if (reply.kind === 'handoff') f.handedOff++;
    else if (reply.faq?.id === item.expect) f.answeredRight++;
    else f.answeredWrong++;
    if (!right || reply.kind === 'handoff') f.misses.push({ q: item.q, expect: item.expect, got: match?.entry.id ?? '(nothing)', confidence: match?.confidence ?? 0 });
  }
  f.top1Accuracy = f.faqQuestions === 0 ? 0 : f.top1 / f.faqQuestions;
  return f;
}

function pct(n: number, d: number): string {
  return d === 0 ? '—' : `${((100 * n) / d).toFixed(1)}%`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const chinese = (value('chinese') ?? 'jieba+bigram') as ChineseMode;
  if (!['jieba', 'bigram', 'jieba+bigram'].includes(chinese)) throw new Error(`--chinese must be jieba, bigram or jieba+bigram (got ${chinese})`);
  const set = (value('set') ?? 'test') as EvalSet;
  if (!['dev', 'test', 'holdout'].includes(set)) throw new Error(`--set must be dev, test or holdout (got ${String(set)})`);
  const retriever: RetrieverOptions = {};
  if (value('answer-weight') !== undefined) retriever.answerWeight = Number(value('answer-weight'));
  if (value('k1') !== undefined) retriever.k1 = Number(value('k1'));
  if (value('b') !== undefined) retriever.b = Number(value('b'));
  const threshold = value('threshold') !== undefined ? Number(value('threshold')) : undefined;
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) throw new Error('--threshold must be a number from 0 to 1');
  if (args.includes('--sweep')) {
    console.log('| threshold | zh right | zh wrong | zh handed off | zh out-of-scope handed off | en right | en wrong | en handed off | en out-of-scope handed off |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const t of [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]) {
      const [zh, en] = [await evaluate('zh', { set, chinese, threshold: t, retriever }), await evaluate('en', { set, chinese, threshold: t, retriever })];
      const cells = (x: EvalFigures) => [pct(x.answeredRight, x.faqQuestions), pct(x.answeredWrong, x.faqQuestions), pct(x.handedOff, x.faqQuestions), pct(x.outOfScopeHandedOff, x.outOfScope)];
      console.log(`| ${t} | ${cells(zh).join(' | ')} | ${cells(en).join(' | ')} |`);
    }
    return;
  }
  const opts = { set, chinese, retriever, ...(threshold !== undefined ? { threshold } : {}) };
  const results = [await evaluate('zh', opts), await evaluate('en', opts)];
  if (args.includes('--json')) {
    console.log(JSON.stringify({ set, chinese, threshold: threshold ?? DEFAULT_THRESHOLDS, results }, null, 2));
    return;
  }
  console.log(`support bot, ${set} questions (Chinese terms: ${chinese}; threshold ${threshold ?? `zh ${DEFAULT_THRESHOLDS.zh}, en ${DEFAULT_THRESHOLDS.en}`})\n`);
  console.log('| language | FAQ questions | top-1 accuracy | answered right | answered wrong | handed off | out-of-scope handed off | order-status recognised |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.language} | ${r.faqQuestions} | **${pct(r.top1, r.faqQuestions)}** (${r.top1}/${r.faqQuestions}) | ${pct(r.answeredRight, r.faqQuestions)} | ${pct(r.answeredWrong, r.faqQuestions)} | ${pct(r.handedOff, r.faqQuestions)} | ${r.outOfScopeHandedOff}/${r.outOfScope} | ${r.orderStatusRecognised}/${r.orderStatus} |`);
  }
  if (args.includes('--misses')) {
    for (const r of results) for (const m of r.misses) console.log(`${r.language}  expected ${m.expect.padEnd(20)} got ${m.got.padEnd(20)} ${m.confidence.toFixed(2)}  ${m.q}`);
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
