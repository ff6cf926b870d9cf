/**
 * The shipped FAQ (faq/en.json, faq/zh.json beside the package) and its retrieval: one
 * BM25F index per language over each entry's questions and keywords (weight 1) and its
 * answer (weight `answerWeight`, lower: an answer mentions many things it is not about).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bm25Index, type Hit } from './bm25.js';
import { chineseTerms, englishTerms, loadJieba, type ChineseMode, type Segmenter } from './tokenize.js';

/** The languages the bot speaks. */
export type Language = 'zh' | 'en';

export const TOPICS = ['shipping', 'returns', 'payment', 'account'] as const;
export type Topic = (typeof TOPICS)[number];

/** One FAQ entry. */
export interface FaqEntry {
  id: string;
  topic: Topic;
  /** Ways a customer asks it (the first is shown as a suggestion). */
  questions: string[];
  /** Words and phrases customers use for it that the questions do not (synonyms, names). */
  keywords: string[];
  answer: string;
}

/** The folder with en.json and zh.json shipped in this package. */
export const FAQ_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'faq');

/**
 * Reads and checks one language's FAQ file. A malformed file is a start-up error that
 * names the file and the entry, never a bot that silently knows less.
 */
export function loadFaq(language: Language, dir = FAQ_DIR): FaqEntry[] {
  const file = join(dir, `${language}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`FAQ ${file}: cannot be read as JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const entries = (raw as { entries?: unknown }).entries;
  if (!Array.isArray(entries) || entries.length === 0) throw new Error(`FAQ ${file}: expected {"entries": [ … ]} with at least one entry`);
  const ids = new Set<string>();
  return entries.map((e: Partial<FaqEntry>, i): FaqEntry => {
    const where = `FAQ ${file}: entry ${i}${typeof e?.id === 'string' ? ` ("${e.id}")` : ''}`;
    if (typeof e?.id !== 'string' || e.id === '') throw new Error(`${where}: "id" must be a non-empty string`);
    if (ids.has(e.id)) throw new Error(`${where}: the id is used twice`);
    ids.add(e.id);
    if (!TOPICS.includes(e.topic as Topic)) throw new Error(`${where}: "topic" must be one of ${TOPICS.join(', ')}`);
    if (!Array.isArray(e.questions) || e.questions.length === 0 || !e.questions.every((q) => typeof q === 'string' && q.trim() !== '')) throw new Error(`${where}: "questions" must be a non-empty list of strings`);
    if (e.keywords !== undefined && (!Array.isArray(e.keywords) || !e.keywords.every((k) => typeof k === 'string'))) throw new Error(`${where}: "keywords" must be a list of strings`);
    if (typeof e.answer !== 'string' || e.answer.trim() === '') throw new Error(`${where}: "answer" must be a non-empty string`);
    return { id: e.id, topic: e.topic as Topic, questions: e.questions, keywords: e.keywords ?? [], answer: e.answer };
  });
}

export interface RetrieverOptions {
  /** Chinese terms: jieba words, character bigrams, or both (default `jieba+bigram`). */
  chinese?: ChineseMode;
  /** Weight of the answer text against the questions (default 0.5). */
  answerWeight?: number;
  /** Segmenter to use instead of jieba (tests). */
  segmenter?: Segmenter;
  /** BM25 term saturation (default 0.8) and length normalisation (default 0.75). */
  k1?: number;
  b?: number;
}

/** A match: the entry, how sure, and the runners-up. */
export interface FaqMatch {
  entry: FaqEntry;
  confidence: number;
  score: number;
  matched: string[];
  alternatives: { entry: FaqEntry; confidence: number }[];
}

/** Retrieval over one language's FAQ. */
export class FaqRetriever {
  readonly language: Language;
  readonly entries: readonly FaqEntry[];
  /** The Chinese mode in force (bigram when jieba could not load). */
  readonly chinese: ChineseMode;
  readonly #index: Bm25Index;
  readonly #byId: Map<string, FaqEntry>;
  readonly #segment: Segmenter | undefined;

  constructor(language: Language, entries: readonly FaqEntry[], options: RetrieverOptions = {}) {
    this.language = language;
    this.entries = entries;
    this.#byId = new Map(entries.map((e) => [e.id, e]));
    const wanted = options.chinese ?? 'jieba+bigram';
    this.#segment = options.segmenter ?? (language === 'zh' && wanted !== 'bigram' ? (loadJieba() ?? undefined) : undefined);
    this.chinese = language === 'zh' && wanted !== 'bigram' && this.#segment === undefined ? 'bigram' : wanted;
    this.#index = new Bm25Index(
      entries.map((e) => ({ id: e.id, fields: { q: this.terms([...e.questions, ...e.keywords].join('\n')), a: this.terms(e.answer) } })),
      { weights: { q: 1, a: options.answerWeight ?? 0.5 }, k1: options.k1 ?? 0.8, ...(options.b !== undefined ? { b: options.b } : {}) },
    );
  }

  /** The index terms of a text in this retriever's language. */
  terms(text: string): string[] {
    return this.language === 'zh' ? chineseTerms(text, this.chinese, this.#segment) : englishTerms(text);
  }

  /** The best entry for a question, or undefined when no term matches at all. */
  match(question: string): FaqMatch | undefined {
    const terms = this.terms(question);
    // Unseen bigrams that are not also a word of the question are soft (see Bm25Index.search).
    const words = this.language === 'zh' && this.chinese !== 'bigram' ? new Set(chineseTerms(question, 'jieba', this.#segment)) : new Set<string>();
    const hits: Hit[] = this.#index.search(terms, 3, (t) => isBigram(t) && !words.has(t));
    const best = hits[0];
    if (best === undefined) return undefined;
    return {
      entry: this.#byId.get(best.id)!,
      confidence: best.confidence,
      score: best.score,
      matched: best.matched,
      alternatives: hits.slice(1).map((h) => ({ entry: this.#byId.get(h.id)!, confidence: h.confidence })),
    };
  }
}

// In bigram-only mode every two-character Chinese term is a bigram.
function isBigram(term: string): boolean {
  return term.length === 2 && /^[\u3400-\u9fff\uf900-\ufaff]{2}$/.test(term);
}
