/**
 * The two intents the bot recognises before it looks in the FAQ: an order-status
 * question ("我的订单 1024 到哪了？", "where is my order 1024?") and a request for a
 * person ("转人工", "talk to a human"). Rules, not a model: both have a few fixed ways of
 * being said, and a rule that fires is explainable to the customer and to a test.
 */

/** What a message asks, before FAQ retrieval. */
export type Intent = { kind: 'order-status'; orderId: string | undefined } | { kind: 'human' } | { kind: 'faq' };

// An order number sits next to the word for order: "order 1024", "order #1024", "order
// no. 1024", "订单 1024", "订单号：1024", "1024号订单", or stands alone as "#1024". A number
// elsewhere ("a ¥50 order", "2 items") is not an order number.
const EN_ORDER_ID = /\border(?:\s+(?:number|no\.?|id))?\s*[:#]?\s*#?\s*(\d{1,12})\b/i;
const HASH_ID = /(?:^|\s)#(\d{1,12})\b/;
const ZH_ORDER_ID = /(?:订单|单号)\s*(?:号|编号|号码)?\s*[:：#]?\s*(\d{1,12})|(\d{1,12})\s*号?\s*订单/;
// Asking about an order's whereabouts or state without giving its number.
const EN_ORDER_WHERE = /\b(?:where(?:'s| is)|status of|track)\s+(?:my|the)\s+(?:order|package|parcel)\b|\bmy order(?:'s)? status\b/i;
const ZH_ORDER_WHERE = /我的(?:订单|包裹|快递).{0,6}(?:到哪|在哪|状态|怎么样|发货了吗|到了吗)|(?:订单|包裹).{0,4}(?:到哪了|在哪了)/;

const EN_HUMAN = /\b(?:human|real person|live (?:agent|person|chat)|(?:customer service |support )?agent|representative|operator|speak to (?:someone|somebody|a person))\b/i;
const ZH_HUMAN = /人工|真人|转客服|找客服|客服人员|接线员/;

/** The intent of a message. */
export function detectIntent(text: string): Intent {
  const orderId = EN_ORDER_ID.exec(text)?.[1] ?? HASH_ID.exec(text)?.[1] ?? firstOf(ZH_ORDER_ID.exec(text));
  if (orderId !== undefined) return { kind: 'order-status', orderId };
  if (EN_HUMAN.test(text) || ZH_HUMAN.test(text)) return { kind: 'human' };
  if (EN_ORDER_WHERE.test(text) || ZH_ORDER_WHERE.test(text)) return { kind: 'order-status', orderId: undefined };
  return { kind: 'faq' };
}

/** A bare order number sent as the answer to "which order?". */
export function bareOrderId(text: string): string | undefined {
  return /^\s*(?:#|订单号?\s*)?(\d{1,12})\s*[。.!！]?\s*$/.exec(text)?.[1];
}

function firstOf(match: RegExpExecArray | null): string | undefined {
  return match === null ? undefined : (match[1] ?? match[2]);
}
