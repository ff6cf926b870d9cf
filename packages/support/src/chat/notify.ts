/**
 * Telling the agents that a conversation needs a person: a POST to the IM webhook, the
 * same demo IM receiver Brisk's alerting uses. The body is Slack-style (`text`), which
 * the demo receiver, Slack and most IM bridges take, with the structured fields beside it
 * for receivers that want them. Delivery is best effort with one retry: the agent page
 * lists the waiting conversation whether or not the message went out, and a failure is
 * logged and counted.
 */
import type { Logger } from '@brisk/service';
import type { HandoffReason } from '../bot/bot.js';
import type { Language } from '../bot/faq.js';

/** What the agents are told. */
export interface HandoffNotice {
  conversation: string;
  reason: HandoffReason;
  language: Language;
  question: string;
  /** The agent page, opened on this conversation. */
  link: string;
}

export interface Notifier {
  notify(notice: HandoffNotice): Promise<boolean>;
}

const REASON: Record<HandoffReason, string> = {
  asked: 'the customer asked for a person',
  'low-confidence': 'the bot was not sure',
  'orders-unavailable': 'the orders service did not answer',
};

/** The text of the IM message. */
export function noticeText(n: HandoffNotice): string {
  const question = n.question.length > 300 ? `${n.question.slice(0, 300)}…` : n.question;
  return `🙋 Support chat needs a person (${REASON[n.reason]}, ${n.language === 'zh' ? 'Chinese' : 'English'}): “${question}” — answer at ${n.link}`;
}

export class WebhookNotifier implements Notifier {
  readonly #url: string;
  readonly #origin: string;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #onResult: ((ok: boolean) => void) | undefined;

  /** Throws when `url` is not an http(s) URL: a start-up error, not a handoff that fails later. */
  constructor(url: string, log: Logger, options: { timeoutMs?: number; onResult?: (ok: boolean) => void } = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`support: the IM webhook "${url}" is not a URL (SUPPORT_AGENT_WEBHOOK, e.g. http://127.0.0.1:7401/webhook)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`support: the IM webhook "${url}" must be http:// or https://`);
    this.#origin = parsed.origin;
    this.#url = url;
    this.#log = log;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#onResult = options.onResult;
  }

  async notify(notice: HandoffNotice): Promise<boolean> {
    const body = JSON.stringify({ text: noticeText(notice), source: 'brisk-support', ...notice });
    let last = '';
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const response = await fetch(this.#url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(this.#timeoutMs) });
        await response.arrayBuffer();
        if (response.ok) {
          this.#log.info({ conversation: notice.conversation, reason: notice.reason }, 'support: agents notified');
          this.#onResult?.(true);
          return true;
        }
        last = `answered ${response.status}`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (attempt === 1) await new Promise((r) => setTimeout(r, 500));
    }
    this.#log.warn({ conversation: notice.conversation, webhook: this.#origin, err: last }, 'support: the IM webhook could not be told about a handoff (the agent page still lists it)');
    this.#onResult?.(false);
    return false;
  }
}
