/**
 * `@brisk/support`: the shop's support chat. See docs/support-chat.md in the repository.
 */
export { Bm25Index, type Bm25Options, type Hit, type IndexDocument } from './bot/bm25.js';
export { bigrams, chineseTerms, englishTerms, isChinese, loadJieba, stemEnglish, type ChineseMode, type Segmenter } from './bot/tokenize.js';
export { FAQ_DIR, FaqRetriever, loadFaq, TOPICS, type FaqEntry, type FaqMatch, type Language, type RetrieverOptions, type Topic } from './bot/faq.js';
export { bareOrderId, detectIntent, type Intent } from './bot/intent.js';
export { HttpOrdersApi, readOrder, type Asker, type HttpOrdersOptions, type OrderLookup, type OrdersApi, type OrderView } from './bot/orders.js';
export { orderStatusText, say, type MessageKey } from './bot/messages.js';
export { Bot, DEFAULT_THRESHOLDS, type BotMemory, type BotOptions, type BotReply, type HandoffReason } from './bot/bot.js';
export { Hub, type ChatMessage, type Conversation, type ConversationState, type HubEvents, type HubOptions, type Party, type QueueEntry, type Send } from './chat/hub.js';
export { noticeText, WebhookNotifier, type HandoffNotice, type Notifier } from './chat/notify.js';
export { chatSockets, MAX_FRAMES_PER_10S, MAX_TEXT } from './chat/sockets.js';
export { CONVERSATION_FORGET_MS, CONVERSATION_IDLE_MS, createSupportService, STATIC_DIR, type Support, type SupportOptions } from './app.js';
export { SUPPORT_ERROR_CODES, type SupportErrorCode } from './errors.js';
export { SupportClient, type ChatAnswer } from './client.js';
