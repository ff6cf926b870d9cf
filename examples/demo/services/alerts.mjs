// A tiny stand-in for an IM group: it accepts Brisk's generic webhook and Slack-style
// incoming-webhook JSON and prints each alert readably. Node built-ins only.
//
//   PORT=7401 node examples/demo/services/alerts.mjs
//   curl -X POST localhost:7401/webhook -d '{"text":"hello"}'
import { createServer } from 'node:http';
import { jsonSender, serve } from './serve.mjs';

const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.env.PORT ?? 7401);
const send = jsonSender('alerts');

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const red = (s) => paint('1;31', s);
const yellow = (s) => paint('1;33', s);
const green = (s) => paint('1;32', s);
const dim = (s) => paint('2', s);

function printWebhook(body) {
  const paintTitle = body.status === 'resolved' ? green : body.alerts?.[0]?.severity === 'critical' ? red : yellow;
  console.log(paintTitle(body.title ?? body.status));
  for (const a of body.alerts ?? []) {
    const state = a.state === 'resolved' ? green('resolved') : a.severity === 'critical' ? red('firing') : yellow('firing');
    const labels = Object.entries(a.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    console.log(`  ${state} ${a.severity} ${a.summary}`);
    console.log(dim(`    rule ${a.rule} · value ${a.value}${a.threshold ? ` (${a.threshold})` : ''} · since ${a.startsAt}${a.endsAt ? ` · resolved ${a.endsAt}` : ''}`));
    if (labels !== '') console.log(dim(`    ${labels}`));
  }
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { status: 'ok' });
  if (req.method !== 'POST') return send(res, 405, { error: 'POST alerts here' });
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (c) => {
    if (text.length < 1_000_000) text += c;
  });
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return send(res, 400, { error: 'not JSON' });
    }
    if (Array.isArray(body.alerts)) printWebhook(body);
    else if (typeof body.text === 'string') console.log(body.text); // Slack-style
    else console.log(JSON.stringify(body));
    send(res, 200, { ok: true });
  });
});

serve(server, { host: HOST, port: PORT, servedBy: 'alerts' });
