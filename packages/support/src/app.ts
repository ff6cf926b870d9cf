/**
 * The support service: the bot, the conversation hub, the WebSockets, the widget and the
 * agent page, on the toolkit's service bootstrap (health, readiness, metrics, logs,
 * graceful shutdown). Brisk routes `/support/*` to it (WebSocket upgrades included).
 *
 * | path | what |
 * |---|---|
 * | `GET /support/widget.js`, `/support/widget.css` | the chat widget (one script tag) |
 * | `GET /support/agent` | the agent page |
 * | `GET /support/ws` (WebSocket) | a customer's conversation |
 * | `GET /support/agent/ws` (WebSocket) | an agent's queue and conversations |
 * | `GET /support/api/conversations` | the queue as JSON (agent token as a Bearer) |
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createService, Housekeeper, json, Registry, type Logger, type Service } from '@brisk/service';
import { Counter, Gauge } from 'prom-client';
import { Bot, type BotOptions } from './bot/bot.js';
import { FAQ_DIR, FaqRetriever, loadFaq, type Language } from './bot/faq.js';
import type { OrdersApi } from './bot/orders.js';
import type { ChineseMode } from './bot/tokenize.js';
import { Hub } from './chat/hub.js';
import { ConversationJournal } from './chat/journal.js';
import { WebhookNotifier, type Notifier } from './chat/notify.js';
import { AgentKeys } from './chat/agents.js';
import { chatSockets } from './chat/sockets.js';

/** The folder of the widget and the agent page. */
export const STATIC_DIR = join(FAQ_DIR, '..', 'static');

export interface SupportOptions {
  orders: OrdersApi;
  /** The agents' shared secret (the agent page asks for it; each agent types a name). */
  agentToken?: string;
  /** Personal tokens, name → token: the token signs in as that name (agents.ts). At least one of the two. */
  agentTokens?: Record<string, string>;
  /** The IM webhook told about each handoff (none: the agent page only). */
  webhookUrl?: string;
  /** Or a notifier of your own (tests). */
  notifier?: Notifier;
  /** Where customers and agents reach Brisk (for the link in the IM message), e.g. http://127.0.0.1:8080. */
  publicUrl?: string;
  threshold?: BotOptions['threshold'];
  chinese?: ChineseMode;
  port?: number;
  host?: string;
  logger?: Logger;
  registry?: Registry;
  handleSignals?: boolean;
  /**
   * Where conversations are kept across restarts (a journal file in this folder, created if
   * missing); none: memory only, and a restart forgets every conversation.
   */
  dataDir?: string;
  /** Time between housekeeping runs (default 5 minutes). */
  housekeepingIntervalMs?: number;
  now?: () => number;
}

export interface Support {
  service: Service;
  hub: Hub;
  bot: Bot;
  housekeeper: Housekeeper;
}

/** Conversations idle this long (nobody connected) are closed… */
export const CONVERSATION_IDLE_MS = 30 * 60_000;
/** …and closed ones are forgotten after this long. */
export const CONVERSATION_FORGET_MS = 24 * 3600_000;

/** Builds the support service (call `service.start()`). */
export function createSupportService(options: SupportOptions): Support {
  const agents = new AgentKeys(options.agentToken, options.agentTokens);
  const service = createService({
    name: 'support',
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.registry ? { registry: options.registry } : {}),
    handleSignals: options.handleSignals ?? true,
    maxBodyBytes: 16 * 1024,
  });
  const log = service.log;
  const retrievers = {} as Record<Language, FaqRetriever>;
  for (const language of ['zh', 'en'] as const) retrievers[language] = new FaqRetriever(language, loadFaq(language), { chinese: options.chinese ?? 'jieba+bigram' });
  if (retrievers.zh.chinese !== (options.chinese ?? 'jieba+bigram')) log.warn({ wanted: options.chinese ?? 'jieba+bigram' }, 'support: jieba (@node-rs/jieba) could not load on this platform; Chinese questions are matched by character bigrams alone');
  const bot = new Bot({ retrievers, orders: options.orders, ...(options.threshold !== undefined ? { threshold: options.threshold } : {}) });

  const registry = service.registry;
  const messages = new Counter({ name: 'support_messages_total', help: 'Chat messages by who sent them', labelNames: ['from'], registers: [registry] });
  const answers = new Counter({ name: 'support_bot_answers_total', help: 'Bot answers by kind (faq, order-status, ask-order-id, handoff) and language', labelNames: ['kind', 'language'], registers: [registry] });
  const handoffs = new Counter({ name: 'support_handoffs_total', help: 'Conversations handed to a human, by reason', labelNames: ['reason'], registers: [registry] });
  const notices = new Counter({ name: 'support_agent_notifications_total', help: 'IM webhook notifications of handoffs, by result', labelNames: ['result'], registers: [registry] });
  const notifier = options.notifier ?? (options.webhookUrl ? new WebhookNotifier(options.webhookUrl, log, { onResult: (ok) => notices.inc({ result: ok ? 'sent' : 'failed' }) }) : undefined);
  const publicUrl = (options.publicUrl ?? '').replace(/\/+$/, '');

  const store = options.dataDir === undefined ? undefined : new ConversationJournal(options.dataDir, { warn: (message) => log.warn(message) });
  const hub = new Hub({
    bot,
    ...(store ? { store } : {}),
    ...(options.now ? { now: options.now } : {}),
    events: {
      handoff: (conversation, reason, question) => {
        handoffs.inc({ reason });
        log.info({ conversation: conversation.id, reason, language: conversation.language }, 'support: conversation handed to a person');
        void notifier?.notify({ conversation: conversation.id, reason, language: conversation.language, question, link: `${publicUrl}/support/agent#${conversation.id}` });
      },
      message: (from, reply) => {
        messages.inc({ from });
        if (reply) answers.inc({ kind: reply.kind, language: reply.language });
      },
    },
  });
  new Gauge({
    name: 'support_conversations',
    help: 'Conversations held, by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(hub.counts())) this.set({ state }, n);
    },
  });

  const sockets = chatSockets({ hub, log, agents });
  const assets = new Map<string, { type: string; body: string }>();
  const asset = (file: string, type: string) => {
    let cached = assets.get(file);
    if (cached === undefined) {
      cached = { type, body: readFileSync(join(STATIC_DIR, file), 'utf8') };
      assets.set(file, cached);
    }
    const headers: Record<string, string> = { 'content-type': cached.type, 'cache-control': 'public, max-age=300' };
    if (file.endsWith('.html')) headers['content-security-policy'] = pagePolicy(cached.body);
    return json(200, cached.body, headers);
  };
  service
    .route('GET', '/support/widget.js', async () => asset('widget.js', 'application/javascript; charset=utf-8'))
    .route('GET', '/support/widget.css', async () => asset('widget.css', 'text/css; charset=utf-8'))
    .route('GET', '/support/agent', async () => asset('agent.html', 'text/html; charset=utf-8'))
    .route('GET', '/support/api/conversations', async (ctx) => {
      const auth = ctx.req.headers['authorization'] ?? '';
      if (!auth.startsWith('Bearer ') || agents.check(auth.slice(7)) === undefined) return json(401, { error: { code: 'SUPPORT_AGENT_TOKEN', message: 'send the agent token as "Authorization: Bearer <token>"', requestId: ctx.requestId } });
      return { conversations: hub.queue() };
    })
    .upgrade('/support/ws', (req, socket, head) => sockets.customers.handleUpgrade(req, socket, head, (ws) => sockets.customers.emit('connection', ws, req)), { drain: sockets.closeAll })
    .upgrade('/support/agent/ws', (req, socket, head) => sockets.agents.handleUpgrade(req, socket, head, (ws) => sockets.agents.emit('connection', ws, req)));

  // Housekeeping: idle conversations closed, closed ones forgotten (logged and counted
  // like the toolkit's own jobs).
  const housekeeper = new Housekeeper({
    logger: log,
    registry,
    intervalMs: options.housekeepingIntervalMs ?? 5 * 60_000,
    jobs: [
      {
        name: 'conversations',
        run: async () => {
          const { closed, removed } = hub.sweep(CONVERSATION_IDLE_MS, CONVERSATION_FORGET_MS);
          return { removed, detail: { closed } };
        },
      },
    ],
  });
  service.dependsOn('housekeeping', { close: () => housekeeper.stop() });
  if (store !== undefined) service.dependsOn('conversations', { close: async () => hub.close() });
  return { service, hub, bot, housekeeper: housekeeper.start() };
}

/**
 * A strict Content-Security-Policy for a page whose only script and style are inline:
 * those exact blocks are allowed by their hashes, nothing else runs (an agent console is
 * where an injected script would do the most harm), and the socket stays on the origin.
 */
export function pagePolicy(html: string): string {
  const hashes = (tag: string) => [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`).join(' ');
  return `default-src 'none'; script-src ${hashes('script') || "'none'"}; style-src ${hashes('style') || "'none'"}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}
