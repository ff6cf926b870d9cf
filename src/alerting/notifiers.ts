/**
 * Receivers: how a notification becomes an HTTP request for each kind of receiver
 * (generic webhook, Slack-compatible, DingTalk, Feishu/Lark, WeCom), how it is signed, and
 * how the answer is read. The IM robots answer HTTP 200 with an error code in the JSON
 * body (bad signature, rate limit, keyword missing); that is a failure, retried like a
 * refused connection.
 */
import { createHmac } from 'node:crypto';
import { request } from '../core/undici.js';
import type { ReceiverConfig, Severity } from './schema.js';

/** One alert inside a notification. */
export interface NotifiedAlert {
  readonly rule: string;
  readonly severity: Severity;
  readonly state: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly value: string;
  readonly threshold: string;
  readonly summary: string;
  readonly message: string;
  /** Epoch ms when it started firing. */
  readonly startsAt: number;
  /** Epoch ms when it resolved; null while firing. */
  readonly endsAt: number | null;
  readonly fingerprint: string;
}

/**
 * A notification as it is queued on disk: what happened, for whom. It carries no secret
 * and no URL; those are taken from the receiver's config when it is sent, so a token
 * rotated by a reload applies to what is still queued and signatures are always fresh.
 */
export interface Notification {
  readonly id: string;
  readonly receiver: string;
  readonly createdAt: number;
  readonly groupKey: string;
  readonly groupLabels: Readonly<Record<string, string>>;
  readonly status: 'firing' | 'resolved';
  readonly alerts: readonly NotifiedAlert[];
  readonly dashboardUrl: string | null;
  /** True when this is a reminder for alerts already notified. */
  readonly repeat: boolean;
}

/** An HTTP request ready to go. */
export interface OutgoingRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

type Lang = 'en' | 'zh';

const WORDS = {
  en: {
    firing: 'FIRING',
    resolved: 'RESOLVED',
    reminder: 'still firing',
    critical: 'critical',
    warning: 'warning',
    info: 'info',
    rule: 'Rule',
    severity: 'Severity',
    value: 'Value',
    threshold: 'threshold',
    since: 'Since',
    resolvedAt: 'Resolved at',
    labels: 'Labels',
    dashboard: 'Open the dashboard',
    alerts: 'alerts',
  },
  zh: {
    firing: '告警',
    resolved: '已恢复',
    reminder: '仍在告警',
    critical: '严重',
    warning: '警告',
    info: '提示',
    rule: '规则',
    severity: '级别',
    value: '当前值',
    threshold: '阈值',
    since: '开始时间',
    resolvedAt: '恢复时间',
    labels: '标签',
    dashboard: '打开控制台',
    alerts: '条告警',
  },
} as const;

/** `2026-11-25 12:30:01 UTC`: one unambiguous form for every reader. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The one-line title: `🔥 [FIRING] critical · Upstream products has no healthy target`. */
export function notificationTitle(n: Notification, lang: Lang): string {
  const w = WORDS[lang];
  const firing = n.alerts.filter((a) => a.state === 'firing');
  const resolved = n.status === 'resolved';
  const head = n.alerts[0]!;
  const count = n.alerts.length > 1 ? (lang === 'zh' ? ` ${n.alerts.length} ${w.alerts}` : ` ×${n.alerts.length}`) : '';
  const state = resolved ? w.resolved : n.repeat ? w.reminder : w.firing;
  const what = n.alerts.length === 1 ? head.summary : `${head.rule}${Object.keys(n.groupLabels).length > 0 ? ` (${labelText(n.groupLabels)})` : ''}`;
  const icon = resolved ? '✅' : head.severity === 'critical' ? '🔥' : head.severity === 'warning' ? '⚠️' : 'ℹ️';
  const sev = w[(firing[0] ?? head).severity];
  return lang === 'zh' ? `${icon}【${state}${count}】${sev} · ${what}` : `${icon} [${state}${count}] ${sev} · ${what}`;
}

function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/**
 * The body as Markdown (`md`: DingTalk, Feishu, WeCom, and the generic webhook's
 * `text`) or Slack mrkdwn (`slack`).
 */
export function notificationText(n: Notification, lang: Lang, flavour: 'md' | 'slack'): string {
  const w = WORDS[lang];
  const bold = (s: string) => (flavour === 'slack' ? `*${s}*` : `**${s}**`);
  const link = (url: string, text: string) => (flavour === 'slack' ? `<${url}|${text}>` : `[${text}](${url})`);
  const colon = lang === 'zh' ? '：' : ': ';
  const lines: string[] = [];
  for (const a of n.alerts) {
    const icon = a.state === 'resolved' ? '✅' : a.severity === 'critical' ? '🔥' : a.severity === 'warning' ? '⚠️' : 'ℹ️';
    lines.push(`${icon} ${bold(a.summary)}`);
    if (a.message !== '') lines.push(a.message);
    lines.push(`- ${w.rule}${colon}${a.rule}`);
    lines.push(`- ${w.severity}${colon}${w[a.severity]}`);
    if (a.threshold === '') lines.push(`- ${w.value}${colon}${a.value}`);
    else lines.push(lang === 'zh' ? `- ${w.value}${colon}${a.value}（${w.threshold} ${a.threshold}）` : `- ${w.value}${colon}${a.value} (${w.threshold} ${a.threshold})`);
    lines.push(`- ${w.since}${colon}${formatTime(a.startsAt)}`);
    if (a.endsAt !== null) lines.push(`- ${w.resolvedAt}${colon}${formatTime(a.endsAt)}`);
    if (Object.keys(a.labels).length > 0) lines.push(`- ${w.labels}${colon}${labelText(a.labels)}`);
    lines.push('');
  }
  if (n.dashboardUrl !== null) lines.push(link(n.dashboardUrl, w.dashboard));
  return lines.join('\n').trimEnd();
}

/** DingTalk's signature: HMAC-SHA256 keyed by the secret over `timestamp\nsecret`, base64. */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

/** Feishu's signature: HMAC-SHA256 keyed by `timestamp\nsecret` over an empty message, base64. */
export function feishuSign(secret: string, timestampS: number): string {
  return createHmac('sha256', `${timestampS}\n${secret}`).update('').digest('base64');
}

/**
 * The request for one receiver. `now` is the signing time (tests fix it).
 *
 * @example
 * const req = buildRequest(receiver, notification, Date.now());
 */
export function buildRequest(receiver: ReceiverConfig, n: Notification, now: number): OutgoingRequest {
  const lang = receiver.language;
  const title = notificationTitle(n, lang);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'brisk-alerting', ...receiver.headers };
  switch (receiver.type) {
    case 'webhook':
      return {
        url: receiver.webhookUrl,
        headers,
        body: JSON.stringify({
          version: '1',
          id: n.id,
          receiver: n.receiver,
          status: n.status,
          repeat: n.repeat,
          groupKey: n.groupKey,
          groupLabels: n.groupLabels,
          title,
          text: notificationText(n, lang, 'md'),
          dashboardUrl: n.dashboardUrl,
          alerts: n.alerts.map((a) => ({ ...a, startsAt: new Date(a.startsAt).toISOString(), endsAt: a.endsAt === null ? null : new Date(a.endsAt).toISOString() })),
        }),
      };
    case 'slack':
      return {
        url: receiver.webhookUrl,
        headers,
        // The title as the message, the details in a coloured attachment (Slack, Mattermost and Rocket.Chat all render it).
        body: JSON.stringify({
          text: title,
          attachments: [{ color: n.status === 'resolved' ? 'good' : n.alerts[0]?.severity === 'critical' ? 'danger' : 'warning', fallback: title, text: notificationText(n, lang, 'slack'), mrkdwn_in: ['text'] }],
        }),
      };
    case 'dingtalk': {
      let url = receiver.webhookUrl;
      if (receiver.secret !== null) {
        const sign = dingtalkSign(receiver.secret, now);
        url += `${url.includes('?') ? '&' : '?'}timestamp=${now}&sign=${encodeURIComponent(sign)}`;
      }
      return { url, headers, body: JSON.stringify({ msgtype: 'markdown', markdown: { title, text: `### ${title}\n\n${notificationText(n, lang, 'md')}` } }) };
    }
    case 'feishu': {
      const body: Record<string, unknown> = {
        msg_type: 'interactive',
        card: {
          config: { wide_screen_mode: true },
          header: { title: { tag: 'plain_text', content: title }, template: n.status === 'resolved' ? 'green' : n.alerts[0]?.severity === 'critical' ? 'red' : 'orange' },
          elements: [{ tag: 'markdown', content: notificationText(n, lang, 'md') }],
        },
      };
      if (receiver.secret !== null) {
        const ts = Math.floor(now / 1000);
        body['timestamp'] = String(ts);
        body['sign'] = feishuSign(receiver.secret, ts);
      }
      return { url: receiver.webhookUrl, headers, body: JSON.stringify(body) };
    }
    case 'wecom':
      return { url: receiver.webhookUrl, headers, body: JSON.stringify({ msgtype: 'markdown', markdown: { content: `### ${title}\n${notificationText(n, lang, 'md')}` } }) };
  }
}

/**
 * Why an answer is a failure, or null for a success. DingTalk and WeCom answer
 * `{"errcode":0}`; Feishu `{"code":0}` (older robots `{"StatusCode":0}`).
 */
export function responseProblem(type: ReceiverConfig['type'], status: number, body: string): string | null {
  if (status < 200 || status > 299) return `HTTP ${status}${body === '' ? '' : `: ${body.slice(0, 200)}`}`;
  if (type === 'webhook' || type === 'slack') return null;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return `HTTP ${status} without the JSON answer a ${type} robot gives: ${body.slice(0, 200)}`;
  }
  const code = type === 'feishu' ? (parsed['code'] ?? parsed['StatusCode']) : parsed['errcode'];
  if (code === 0) return null;
  const msg = type === 'feishu' ? (parsed['msg'] ?? parsed['StatusMessage']) : parsed['errmsg'];
  return `${type} refused it: code ${String(code)}${msg === undefined ? '' : ` (${String(msg)})`}`;
}

/** Where a URL points, for logs: scheme, host and port only (paths and queries carry tokens). */
export function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Sends one notification; resolves on success, rejects with a readable reason (never the
 * URL or a secret) on failure.
 */
export async function deliver(receiver: ReceiverConfig, n: Notification): Promise<void> {
  const req = buildRequest(receiver, n, Date.now());
  let status: number;
  let body: string;
  try {
    const res = await request(req.url, { method: 'POST', headers: req.headers, body: req.body, headersTimeout: receiver.timeoutMs, bodyTimeout: receiver.timeoutMs });
    status = res.statusCode;
    body = await res.body.text();
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new Error(`cannot reach ${safeOrigin(receiver.webhookUrl)}: ${e.code ?? e.message}`);
  }
  const problem = responseProblem(receiver.type, status, body);
  if (problem !== null) throw new Error(problem);
}
