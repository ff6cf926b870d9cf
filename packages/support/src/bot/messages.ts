/**
 * What the bot says besides FAQ answers, in both languages, and how an order's status
 * reads. One table, so a new language is one more column.
 */
import type { Language } from './faq.js';
import type { OrderView } from './orders.js';

const TEXT = {
  greeting: {
    en: 'Hi! I am the shop’s assistant. Ask me about shipping, returns, payment or your account, or type “where is my order” with its number. Type “human” any time to talk to a person.',
    zh: '您好！我是商城小助手，可以回答配送、退换货、支付和账户问题；输入“我的订单”加订单号可查询订单状态。随时输入“人工”即可转接人工客服。',
  },
  askOrderId: { en: 'Sure — what is the order number? You find it in My Account → Orders.', zh: '好的，请告诉我订单号，可以在“我的账户 → 我的订单”中找到。' },
  orderNotFound: { en: 'I cannot find order {id}. Please check the number (My Account → Orders).', zh: '没有找到订单 {id}，请核对订单号（“我的账户 → 我的订单”）。' },
  orderForbidden: { en: 'Order {id} is not on the account you are signed in with. Please sign in with the account that placed it.', zh: '订单 {id} 不在您当前登录的账户下，请使用下单的账户登录后再查询。' },
  ordersUnavailable: {
    en: 'Sorry, I cannot look up order {id} right now. I have asked a colleague to check it for you; please stay in this chat.',
    zh: '抱歉，暂时无法查询订单 {id}。我已请同事为您核查，请留在本对话中稍候。',
  },
  handoffAsked: { en: 'I am connecting you to a colleague. Please stay in this chat; they will answer here.', zh: '正在为您转接人工客服，请稍候，同事会在本对话中回复您。' },
  handoffUnsure: {
    en: 'I am not sure I understood. I have asked a colleague to join; meanwhile, did you mean one of these?',
    zh: '抱歉，我不太确定您的问题。已请人工客服加入对话；您是否想问以下问题？',
  },
  agentJoined: { en: '{agent} has joined the chat.', zh: '客服 {agent} 已加入对话。' },
  agentLeft: { en: '{agent} has left the chat. The assistant is back; type “human” to call a person again.', zh: '客服 {agent} 已离开对话，小助手将继续为您服务；如需人工请输入“人工”。' },
  waiting: { en: 'You are in the queue for a colleague (position {position}).', zh: '您正在排队等待人工客服（第 {position} 位）。' },
  offHours: {
    en: 'Our colleagues are offline right now (they answer 9:00–22:00 Beijing time). Leave your question here and they will reply in this chat.',
    zh: '人工客服当前不在线（服务时间为北京时间 9:00–22:00）。请留下您的问题，同事上线后会在本对话中回复。',
  },
} as const satisfies Record<string, Record<Language, string>>;

export type MessageKey = keyof typeof TEXT;

/** A fixed message, with `{name}` placeholders filled. */
export function say(language: Language, key: MessageKey, values: Record<string, string | number> = {}): string {
  return TEXT[key][language].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? `{${name}}`));
}

const STATUS: Record<string, Record<Language, string>> = {
  pending: { en: 'is waiting for payment', zh: '待付款' },
  awaiting_payment: { en: 'is waiting for payment', zh: '待付款' },
  created: { en: 'has been placed and is being processed', zh: '已下单，正在处理' },
  reserved: { en: 'has been placed and is being processed', zh: '已下单，正在处理' },
  paid: { en: 'is paid and being prepared in our warehouse', zh: '已付款，仓库正在备货' },
  confirmed: { en: 'is confirmed and being prepared in our warehouse', zh: '已确认，仓库正在备货' },
  shipped: { en: 'has shipped', zh: '已发货' },
  in_transit: { en: 'is on its way', zh: '运输中' },
  delivered: { en: 'has been delivered', zh: '已送达' },
  cancelled: { en: 'was cancelled', zh: '已取消' },
  canceled: { en: 'was cancelled', zh: '已取消' },
  failed: { en: 'could not be completed (the payment did not go through) and was cancelled', zh: '未能完成（付款未成功），已取消' },
  refunded: { en: 'was refunded', zh: '已退款' },
};

/** One order's status as a sentence. */
export function orderStatusText(language: Language, order: OrderView): string {
  const state = STATUS[order.status.toLowerCase()]?.[language] ?? (language === 'zh' ? `状态为“${order.status}”` : `is “${order.status}”`);
  const items = order.items?.length ? order.items.map((i) => `${i.name} × ${i.quantity}`).join(language === 'zh' ? '、' : ', ') : undefined;
  const tracking = order.tracking?.number ? `${order.tracking.carrier ? `${order.tracking.carrier} ` : ''}${order.tracking.number}` : undefined;
  if (language === 'zh') {
    return `订单 ${order.id}${state.startsWith('状态') ? '' : ' '}${state}${order.reason ? `（${order.reason}）` : ''}。${items ? `商品：${items}。` : ''}${tracking ? `快递单号：${tracking}。` : ''}`;
  }
  return `Order ${order.id} ${state}${order.reason ? ` (${order.reason})` : ''}.${items ? ` Items: ${items}.` : ''}${tracking ? ` Tracking: ${tracking}.` : ''}`;
}
