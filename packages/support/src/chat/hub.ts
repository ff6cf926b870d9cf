/**
 * The conversations and who is in them: customers (one or more sockets: tabs, a
 * reconnect), the bot, and agents. A conversation is `bot` until it is handed over, then
 * `waiting` until an agent joins, `agent` while one is in it, and back to `bot` when the
 * agent leaves. Every party sees one ordered transcript.
 *
 * State lives in this process's memory: the support service runs as one instance (the
 * WebSockets of a customer and of the agent must meet in one hub). Several instances
 * would share the hub through Redis pub/sub; the demo does not need it, and
 * docs/support-chat.md says so. With a store (journal.ts) every change is also written to
 * disk and read back at start, so a restart loses no conversation.
 */
import { randomUUID } from 'node:crypto';
import type { Bot, BotMemory, BotReply, HandoffReason } from '../bot/bot.js';
import type { Language } from '../bot/faq.js';
import { say } from '../bot/messages.js';
import type { Asker } from '../bot/orders.js';

export type ConversationState = 'bot' | 'waiting' | 'agent' | 'closed';
export type Party = 'customer' | 'bot' | 'agent' | 'system';

/** One line of a transcript. */
export interface ChatMessage {
  from: Party;
  text: string;
  at: string;
  /** The agent's name, for `from: 'agent'`. */
  agent?: string;
  suggestions?: string[];
  /** For the agent page: what the bot matched, and how sure it was. */
  faq?: BotReply['faq'];
  /** On the bot's last message before a person takes over: why. */
  handoff?: HandoffReason;
}

/** What a party's socket is given (JSON-serialisable frames). */
export type Send = (frame: Record<string, unknown>) => void;

export interface Conversation {
  id: string;
  state: ConversationState;
  language: Language;
  messages: ChatMessage[];
  memory: BotMemory;
  asker: Asker;
  customers: Set<Send>;
  agent: { name: string; send: Send } | undefined;
  handoff: { reason: HandoffReason; at: string; question: string } | undefined;
  createdAt: number;
  lastActivity: number;
}

/** A conversation as a store gives it back at start. */
export interface StoredConversation {
  id: string;
  state: ConversationState;
  language: Language;
  messages: ChatMessage[];
  handoff: Conversation['handoff'];
  createdAt: number;
  lastActivity: number;
}

/** Where the hub keeps its conversations across restarts (journal.ts); told of every change. */
export interface ConversationStore {
  read(): StoredConversation[];
  began(c: Conversation): void;
  said(c: Conversation, message: ChatMessage): void;
  changed(c: Conversation): void;
  forgot(id: string): void;
  /** True when it should be rewritten from what the hub holds. */
  readonly oversized: boolean;
  compact(conversations: Iterable<Conversation>): void;
  close(): void;
}

/** A conversation as the agents' queue lists it. */
export interface QueueEntry {
  id: string;
  state: ConversationState;
  language: Language;
  reason: HandoffReason | undefined;
  question: string | undefined;
  lastText: string;
  waitingSince: string | undefined;
  agent: string | undefined;
  messages: number;
}

export interface HubEvents {
  /** A conversation was handed to a human (the IM webhook is told). */
  handoff(conversation: Conversation, reason: HandoffReason, question: string): void;
  /** Counted by the metrics. */
  message?(from: Party, reply?: BotReply): void;
}

export interface HubOptions {
  bot: Bot;
  events: HubEvents;
  /** Most conversations kept (default 10,000): beyond, the least recently active closed one goes, then the least recently active. */
  maxConversations?: number;
  /** Longest transcript kept per conversation (default 500 messages). */
  maxMessages?: number;
  now?: () => number;
  /** Keeps the conversations across restarts (none: memory only). */
  store?: ConversationStore;
}

export class Hub {
  readonly #conversations = new Map<string, Conversation>();
  readonly #agents = new Map<Send, string>();
  readonly #bot: Bot;
  readonly #events: HubEvents;
  readonly #max: number;
  readonly #maxMessages: number;
  readonly #now: () => number;
  readonly #store: ConversationStore | undefined;
  #queueTimer: NodeJS.Timeout | undefined;

  constructor(options: HubOptions) {
    this.#bot = options.bot;
    this.#events = options.events;
    this.#max = options.maxConversations ?? 10_000;
    this.#maxMessages = options.maxMessages ?? 500;
    this.#now = options.now ?? Date.now;
    this.#store = options.store;
    for (const stored of this.#store?.read() ?? []) {
      // The agent's socket did not survive the restart: the conversation waits for one again.
      const state = stored.state === 'agent' ? 'waiting' : stored.state;
      const c: Conversation = { ...stored, state, memory: { language: stored.language }, asker: {}, customers: new Set(), agent: undefined };
      this.#conversations.set(c.id, c);
      if (state !== stored.state) this.#store!.changed(c);
    }
  }

  /** Closes the store (the service's shutdown). */
  close(): void {
    this.#store?.close();
  }

  get size(): number {
    return this.#conversations.size;
  }

  get(id: string): Conversation | undefined {
    return this.#conversations.get(id);
  }

  /** Counts by state (the metrics' gauge). */
  counts(): Record<ConversationState, number> {
    const counts: Record<ConversationState, number> = { bot: 0, waiting: 0, agent: 0, closed: 0 };
    for (const c of this.#conversations.values()) counts[c.state]++;
    return counts;
  }

  /** A customer's socket joins its conversation (resumed by id, or a new one with a greeting). */
  connectCustomer(send: Send, options: { conversation?: string; language?: Language; asker?: Asker }): Conversation {
    let conversation = options.conversation !== undefined ? this.#conversations.get(options.conversation) : undefined;
    if (conversation === undefined || conversation.state === 'closed') {
      this.#makeRoom();
      const language = options.language ?? 'en';
      conversation = { id: randomUUID(), state: 'bot', language, messages: [], memory: { language }, asker: {}, customers: new Set(), agent: undefined, handoff: undefined, createdAt: this.#now(), lastActivity: this.#now() };
      this.#conversations.set(conversation.id, conversation);
      this.#store?.began(conversation);
      this.#append(conversation, { from: 'bot', text: say(language, 'greeting') }, false);
    }
    if (options.asker?.authorization !== undefined) conversation.asker = options.asker;
    conversation.customers.add(send);
    send({ type: 'welcome', conversation: conversation.id, state: conversation.state, agent: conversation.agent?.name, messages: conversation.messages });
    return conversation;
  }

  disconnectCustomer(conversation: Conversation, send: Send): void {
    conversation.customers.delete(send);
  }

  /** A customer's message: to the agent when one is in, else to the bot. */
  async customerMessage(conversation: Conversation, text: string): Promise<void> {
    const language = this.#bot.languageOf(text, conversation.memory);
    if (language !== conversation.language) {
      conversation.language = language;
      this.#store?.changed(conversation);
    }
    this.#append(conversation, { from: 'customer', text });
    this.#events.message?.('customer');
    if (conversation.state === 'agent') {
      this.#publishQueue();
      return;
    }
    // While waiting for a person the bot still answers what it can; what it cannot is
    // already in the agents' queue, so it says nothing rather than hand over twice.
    const reply = await this.#bot.reply(text, conversation.memory, conversation.asker);
    // The state may have changed while the bot waited on the orders service.
    const now = conversation.state as ConversationState;
    if (now === 'agent' || (now === 'waiting' && reply.handoff !== undefined)) {
      this.#publishQueue();
      return;
    }
    this.#events.message?.('bot', reply);
    this.#append(conversation, { from: 'bot', text: reply.text, ...(reply.suggestions?.length ? { suggestions: reply.suggestions } : {}), ...(reply.faq ? { faq: reply.faq } : {}), ...(reply.handoff ? { handoff: reply.handoff } : {}) });
    if (reply.handoff !== undefined) this.handOver(conversation, reply.handoff, text);
  }

  /** Hands a conversation to the agents (idempotent while it is waiting or with an agent). */
  handOver(conversation: Conversation, reason: HandoffReason, question: string): void {
    if (conversation.state === 'waiting' || conversation.state === 'agent') return;
    conversation.state = 'waiting';
    conversation.handoff = { reason, at: new Date(this.#now()).toISOString(), question };
    this.#store?.changed(conversation);
    this.#broadcastState(conversation);
    const position = [...this.#conversations.values()].filter((c) => c.state === 'waiting').length;
    this.#append(conversation, { from: 'system', text: say(conversation.language, this.#agents.size === 0 ? 'offHours' : 'waiting', { position }) });
    this.#events.handoff(conversation, reason, question);
    this.#publishQueue();
  }

  /** An agent's socket signed in: it gets the queue and its updates. */
  connectAgent(send: Send, name: string): void {
    this.#agents.set(send, name);
    send({ type: 'queue', conversations: this.queue() });
  }

  /** An agent's socket went away: the conversations it held go back to waiting. */
  disconnectAgent(send: Send): void {
    const name = this.#agents.get(send);
    this.#agents.delete(send);
    if (name === undefined) return;
    for (const c of this.#conversations.values()) {
      if (c.agent?.send !== send) continue;
      c.agent = undefined;
      c.state = 'waiting';
      this.#store?.changed(c);
      this.#append(c, { from: 'system', text: say(c.language, 'agentLeft', { agent: name }) });
      this.#broadcastState(c);
    }
    this.#publishQueue();
  }

  /** An agent takes a conversation (any state but closed; taking it from another agent is refused). */
  join(send: Send, id: string): string | undefined {
    const name = this.#agents.get(send);
    const c = this.#conversations.get(id);
    if (name === undefined) return 'sign in first';
    if (c === undefined || c.state === 'closed') return `no open conversation ${id}`;
    if (c.agent !== undefined && c.agent.send !== send) return `${c.agent.name} is already in this conversation`;
    const already = c.agent !== undefined;
    c.agent = { name, send };
    send({ type: 'transcript', conversation: c.id, language: c.language, messages: c.messages, handoff: c.handoff });
    if (already) return undefined; // the page asked for the transcript again

    c.state = 'agent';
    this.#store?.changed(c);
    this.#append(c, { from: 'system', text: say(c.language, 'agentJoined', { agent: name }) });
    this.#broadcastState(c);
    this.#publishQueue();
    return undefined;
  }

  /** An agent's message to the customer. */
  agentMessage(send: Send, id: string, text: string): string | undefined {
    const c = this.#conversations.get(id);
    if (c === undefined || c.agent?.send !== send) return `join conversation ${id} first`;
    this.#append(c, { from: 'agent', text, agent: c.agent.name });
    this.#events.message?.('agent');
    return undefined;
  }

  /** The agent hands the conversation back to the bot. */
  leave(send: Send, id: string): string | undefined {
    const c = this.#conversations.get(id);
    if (c === undefined || c.agent?.send !== send) return `you are not in conversation ${id}`;
    const name = c.agent.name;
    c.agent = undefined;
    c.state = 'bot';
    c.handoff = undefined;
    this.#store?.changed(c);
    this.#append(c, { from: 'system', text: say(c.language, 'agentLeft', { agent: name }) });
    this.#broadcastState(c);
    this.#publishQueue();
    return undefined;
  }

  /** The agents' list: waiting first (oldest first), then with an agent, then recent bot conversations. */
  queue(limit = 100): QueueEntry[] {
    const order: Record<ConversationState, number> = { waiting: 0, agent: 1, bot: 2, closed: 3 };
    return [...this.#conversations.values()]
      .filter((c) => c.state !== 'closed' && c.messages.some((m) => m.from === 'customer'))
      .sort((a, b) => order[a.state] - order[b.state] || (a.state === 'waiting' ? a.lastActivity - b.lastActivity : b.lastActivity - a.lastActivity))
      .slice(0, limit)
      .map((c) => ({
        id: c.id,
        state: c.state,
        language: c.language,
        reason: c.handoff?.reason,
        question: c.handoff?.question,
        lastText: c.messages.at(-1)?.text ?? '',
        waitingSince: c.handoff?.at,
        agent: c.agent?.name,
        messages: c.messages.length,
      }));
  }

  /**
   * Closes conversations idle for `idleMs` and forgets closed ones idle for `forgetMs`
   * (housekeeping calls this). Returns how many of each.
   */
  sweep(idleMs: number, forgetMs: number): { closed: number; removed: number } {
    const now = this.#now();
    let closed = 0;
    let removed = 0;
    for (const c of [...this.#conversations.values()]) {
      const idle = now - c.lastActivity;
      if (c.state === 'closed' && idle >= forgetMs) {
        this.#conversations.delete(c.id);
        this.#store?.forgot(c.id);
        removed++;
      } else if (c.state !== 'closed' && idle >= idleMs && c.customers.size === 0 && c.agent === undefined) {
        c.state = 'closed';
        this.#store?.changed(c);
        closed++;
      }
    }
    if (closed + removed > 0) this.#publishQueue();
    if (this.#store?.oversized) this.#store.compact(this.#conversations.values());
    return { closed, removed };
  }

  #append(c: Conversation, message: Omit<ChatMessage, 'at'>, publish = true): void {
    const full: ChatMessage = { ...message, at: new Date(this.#now()).toISOString() };
    c.messages.push(full);
    if (c.messages.length > this.#maxMessages) c.messages.splice(0, c.messages.length - this.#maxMessages);
    c.lastActivity = this.#now();
    if (this.#store !== undefined) {
      this.#store.said(c, full);
      if (this.#store.oversized) this.#store.compact(this.#conversations.values());
    }
    if (!publish) return;
    for (const send of c.customers) send({ type: 'message', ...full });
    c.agent?.send({ type: 'message', conversation: c.id, ...full });
  }

  #broadcastState(c: Conversation): void {
    for (const send of c.customers) send({ type: 'state', state: c.state, agent: c.agent?.name });
  }

  // Coalesced: building the queue sorts every conversation, so under a burst of messages
  // agents get one fresh list per 100 ms rather than one per message.
  #publishQueue(): void {
    if (this.#agents.size === 0 || this.#queueTimer !== undefined) return;
    this.#queueTimer = setTimeout(() => {
      this.#queueTimer = undefined;
      if (this.#agents.size === 0) return;
      const frame = { type: 'queue', conversations: this.queue() };
      for (const send of this.#agents.keys()) send(frame);
    }, 100);
    this.#queueTimer.unref();
  }

  // Bounded memory: a flood of new conversations evicts the idlest ones, closed first.
  #makeRoom(): void {
    if (this.#conversations.size < this.#max) return;
    let victim: Conversation | undefined;
    for (const c of this.#conversations.values()) {
      if (c.customers.size > 0 || c.agent !== undefined) continue;
      if (victim === undefined || (c.state === 'closed') > (victim.state === 'closed') || ((c.state === 'closed') === (victim.state === 'closed') && c.lastActivity < victim.lastActivity)) victim = c;
    }
    if (victim !== undefined) {
      this.#conversations.delete(victim.id);
      this.#store?.forgot(victim.id);
    }
  }
}
