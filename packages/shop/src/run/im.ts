/**
 * The demo IM group: a webhook receiver that prints what Brisk's alerts (and the support
 * chat's hand-offs) send it, as a team chat would show them. Kept in memory too, so a
 * test or a game day can read what was announced (`GET /messages`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImMessage {
  at: string;
  text: string;
  body: unknown;
}

interface AlertBody {
  title?: string;
  status?: string;
  alerts?: { state?: string; severity?: string; summary?: string; rule?: string; labels?: Record<string, string> }[];
  text?: string;
}

/** One line per alert: what a person reads in the group. */
export function imText(body: AlertBody): string {
  if (Array.isArray(body.alerts)) {
    const lines = body.alerts.map((a) => `  ${a.state === 'resolved' ? 'resolved' : 'FIRING'} ${a.severity ?? ''} ${a.summary ?? a.rule ?? ''}`.trimEnd());
    return [body.title ?? body.status ?? 'alert', ...lines].join('\n');
  }
  if (typeof body.text === 'string') return body.text;
  return JSON.stringify(body);
}

export async function startIm(port: number, print: (line: string) => void): Promise<{ server: Server; url: string; messages: ImMessage[]; stop(): Promise<void> }> {
  const messages: ImMessage[] = [];
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'GET' && req.url === '/healthz') return reply(200, { status: 'ok' });
    if (req.method === 'GET' && req.url === '/messages') return reply(200, { messages });
    if (req.method !== 'POST') return reply(405, { error: { code: 'SHOP_BAD_INPUT', message: 'POST messages to /webhook' } });
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (text.length < 1_000_000) text += chunk;
    });
    req.on('end', () => {
      let body: AlertBody;
      try {
        body = JSON.parse(text) as AlertBody;
      } catch {
        return reply(400, { error: { code: 'SHOP_BAD_INPUT', message: 'the message is not JSON' } });
      }
      const message = { at: new Date().toISOString(), text: imText(body), body };
      messages.push(message);
      if (messages.length > 500) messages.shift();
      for (const line of message.text.split('\n')) print(line);
      return reply(200, { ok: true });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, messages, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
