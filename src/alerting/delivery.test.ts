import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ActionRunner } from './actions.js';
import { buildRequest, deliver, dingtalkSign, feishuSign, notificationText, notificationTitle, responseProblem, type Notification } from './notifiers.js';
import { DeliveryQueue } from './queue.js';
import type { ActionConfig, ReceiverConfig } from './schema.js';
import { captureLogger } from './testing.js';

const tmp = mkdtempSync(join(tmpdir(), 'brisk-alerting-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function notification(p: Partial<Notification> = {}): Notification {
  return {
    id: 'n1',
    receiver: 'r',
    createdAt: Date.UTC(2026, 10, 25, 12, 0, 0),
    groupKey: 'g',
    groupLabels: {},
    status: 'firing',
    repeat: false,
    dashboardUrl: 'http://127.0.0.1:9901/',
    alerts: [
      {
        rule: 'upstream-no-healthy-target',
        severity: 'critical',
        state: 'firing',
        labels: { upstream: 'products' },
        value: '0',
        threshold: '< 1',
        summary: 'Upstream products has no healthy target',
        message: '',
        startsAt: Date.UTC(2026, 10, 25, 12, 0, 0),
        endsAt: null,
        fingerprint: 'abc',
      },
    ],
    ...p,
  };
}

function receiver(p: Partial<ReceiverConfig>): ReceiverConfig {
  return { name: 'r', type: 'webhook', webhookUrl: 'http://127.0.0.1:1/hook', secret: null, language: 'en', headers: {}, sendResolved: true, timeoutMs: 2000, ...p };
}

interface Received {
  url: string;
  body: string;
  headers: IncomingMessage['headers'];
}

/** A loopback receiver answering with `answer` (status, body) and recording what it got. */
async function startReceiver(answer: () => [number, string] = () => [200, 'ok'], port = 0): Promise<{ server: Server; port: number; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ url: req.url ?? '', body, headers: req.headers });
      const [status, text] = answer();
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('notifiers', () => {
  it('renders firing and resolved in English and Chinese', () => {
    const n = notification();
    assert.equal(notificationTitle(n, 'en'), '🔥 [FIRING] critical · Upstream products has no healthy target');
    assert.equal(notificationTitle(n, 'zh'), '🔥【告警】严重 · Upstream products has no healthy target');
    const zh = notificationText(n, 'zh', 'md');
    assert.match(zh, /- 级别：严重/);
    assert.match(zh, /- 当前值：0（阈值 < 1）/);
    assert.match(zh, /- 开始时间：2026-11-25 12:00:00 UTC/);
    assert.match(zh, /\[打开控制台\]\(http:\/\/127\.0\.0\.1:9901\/\)/);
    const resolved = notification({ status: 'resolved', alerts: [{ ...n.alerts[0]!, state: 'resolved', endsAt: Date.UTC(2026, 10, 25, 12, 5, 0) }] });
    assert.match(notificationTitle(resolved, 'en'), /^✅ \[RESOLVED\]/);
    assert.match(notificationTitle(resolved, 'zh'), /^✅【已恢复】/);
    assert.match(notificationText(resolved, 'en', 'slack'), /- Resolved at: 2026-11-25 12:05:00 UTC\n- Labels: upstream=products\n\n<http:\/\/127\.0\.0\.1:9901\/\|Open the dashboard>/);
  });

  it('builds each IM body and signs DingTalk (query) and Feishu (body) requests', () => {
    const n = notification();
    const now = 1_700_000_000_123;
    const ding = buildRequest(receiver({ type: 'dingtalk', webhookUrl: 'https://oapi.dingtalk.com/robot/send?access_token=T', secret: 'SECxyz' }), n, now);
    const expected = createHmac('sha256', 'SECxyz').update(`${now}\nSECxyz`).digest('base64');
    assert.equal(dingtalkSign('SECxyz', now), expected);
    assert.equal(ding.url, `https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=${now}&sign=${encodeURIComponent(expected)}`);
    const dingBody = JSON.parse(ding.body) as { msgtype: string; markdown: { title: string; text: string } };
    assert.equal(dingBody.msgtype, 'markdown');
    assert.match(dingBody.markdown.text, /Upstream products has no healthy target/);

    const fs = buildRequest(receiver({ type: 'feishu', webhookUrl: 'https://open.feishu.cn/open-apis/bot/v2/hook/T', secret: 'k' }), n, now);
    const fsBody = JSON.parse(fs.body) as Record<string, unknown>;
    const ts = Math.floor(now / 1000);
    assert.equal(fsBody['timestamp'], String(ts));
    assert.equal(fsBody['sign'], createHmac('sha256', `${ts}\nk`).update('').digest('base64'));
    assert.equal(feishuSign('k', ts), fsBody['sign']);
    assert.equal(fsBody['msg_type'], 'interactive');

    const wecom = JSON.parse(buildRequest(receiver({ type: 'wecom' }), n, now).body) as { msgtype: string; markdown: { content: string } };
    assert.equal(wecom.msgtype, 'markdown');
    assert.match(wecom.markdown.content, /Upstream products/);
    const slack = JSON.parse(buildRequest(receiver({ type: 'slack' }), n, now).body) as { text: string; attachments: Array<{ color: string; text: string }> };
    assert.equal(slack.text, '🔥 [FIRING] critical · Upstream products has no healthy target');
    assert.equal(slack.attachments[0]!.color, 'danger');
    assert.match(slack.attachments[0]!.text, /\*Upstream products has no healthy target\*/);
    const hook = JSON.parse(buildRequest(receiver({ type: 'webhook' }), n, now).body) as { status: string; alerts: Array<{ labels: object; startsAt: string }> };
    assert.equal(hook.status, 'firing');
    assert.deepEqual(hook.alerts[0]!.labels, { upstream: 'products' });
    assert.equal(hook.alerts[0]!.startsAt, '2026-11-25T12:00:00.000Z');
  });

  it('reads an IM answer of HTTP 200 with an error code as a failure', () => {
    assert.equal(responseProblem('dingtalk', 200, '{"errcode":0,"errmsg":"ok"}'), null);
    assert.match(responseProblem('dingtalk', 200, '{"errcode":310000,"errmsg":"sign not match"}')!, /code 310000 \(sign not match\)/);
    assert.equal(responseProblem('feishu', 200, '{"code":0,"msg":"success"}'), null);
    assert.equal(responseProblem('feishu', 200, '{"StatusCode":0}'), null);
    assert.match(responseProblem('feishu', 200, '{"code":19021,"msg":"sign match fail"}')!, /19021/);
    assert.match(responseProblem('wecom', 200, '{"errcode":93000,"errmsg":"invalid webhook url"}')!, /93000/);
    assert.match(responseProblem('wecom', 200, 'not json')!, /without the JSON/);
    assert.equal(responseProblem('slack', 200, 'ok'), null);
    assert.match(responseProblem('webhook', 503, 'down')!, /HTTP 503/);
  });

  it('deliver() fails on an IM error code and never puts the URL token in the error', async () => {
    const rx = await startReceiver(() => [200, '{"errcode":300001,"errmsg":"token is not exist"}']);
    after(() => rx.close());
    await assert.rejects(deliver(receiver({ type: 'dingtalk', webhookUrl: `http://127.0.0.1:${rx.port}/robot/send?access_token=SUPERSECRET`, secret: 'SEC1' }), notification()), (e: Error) => {
      assert.match(e.message, /300001/);
      assert.doesNotMatch(e.message, /SUPERSECRET|SEC1/);
      return true;
    });
    const q = new URL(rx.got[0]!.url, 'http://x').searchParams;
    assert.equal(q.get('access_token'), 'SUPERSECRET');
    assert.ok(q.get('timestamp') !== null && q.get('sign') !== null);
    await assert.rejects(deliver(receiver({ webhookUrl: 'http://127.0.0.1:1/x?token=SUPERSECRET' }), notification()), (e: Error) => !e.message.includes('SUPERSECRET'));
  });
});

describe('delivery queue', () => {
  const queueConfig = (dir: string) => ({ dir, maxItems: 100, maxAgeMs: 60_000, initialBackoffMs: 50, maxBackoffMs: 300 });

  it('a receiver that is down gets the notification once it comes up; the file is removed after', async () => {
    const dir = join(tmp, 'down-up');
    // Reserve a port, then close it: the receiver is down.
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();
    const { logger, logs } = captureLogger();
    const r = receiver({ webhookUrl: `http://127.0.0.1:${port}/hook` });
    const q = new DeliveryQueue(queueConfig(dir), logger, (n) => deliver(r, n));
    after(() => q.close());
    q.open();
    assert.ok(q.enqueue(notification({ id: 'down-up', createdAt: Date.now() })));
    // The copy is written off the event loop; the first attempt only follows it.
    await until(() => readdirSync(join(dir, 'pending')).filter((f) => f.endsWith('.json')).length === 1, 2000, 'the copy on disk');
    await until(() => logs.filter((l) => l['code'] === 'BRISK_ALERT_DELIVERY_FAILED').length >= 2, 5000, 'two failed attempts');
    const rx = await startReceiver(() => [200, 'ok'], port);
    after(() => rx.close());
    await until(() => rx.got.length === 1, 5000, 'delivery after the receiver came up');
    assert.equal((JSON.parse(rx.got[0]!.body) as { id: string }).id, 'down-up');
    await until(() => q.size === 0, 2000, 'the queue to empty');
    assert.deepEqual(readdirSync(join(dir, 'pending')), []);
  });

  it('sends a notification only once its copy is on disk, written off the event loop', async () => {
    const dir = join(tmp, 'written-first');
    const { logger } = captureLogger();
    const onDiskAtSend: boolean[] = [];
    const q = new DeliveryQueue(queueConfig(dir), logger, async () => {
      onDiskAtSend.push(readdirSync(join(dir, 'pending')).some((f) => f.endsWith('.json')));
    });
    after(() => q.close());
    q.open();
    assert.ok(q.enqueue(notification({ id: 'first-on-disk', createdAt: Date.now() })));
    await until(() => q.size === 0, 2000, 'delivery');
    assert.deepEqual(onDiskAtSend, [true]);
  });

  it('replays what a previous run left on disk and drops torn temporary files', async () => {
    const dir = join(tmp, 'replay');
    const { logger } = captureLogger();
    const first = new DeliveryQueue(queueConfig(dir), logger, () => Promise.reject(new Error('down')));
    first.open();
    first.enqueue(notification({ id: 'left-over', createdAt: Date.now() }));
    await first.close();
    writeFileSync(join(dir, 'pending', 'x.json.1234.tmp'), '{"torn');
    const rx = await startReceiver();
    after(() => rx.close());
    const r = receiver({ webhookUrl: `http://127.0.0.1:${rx.port}/` });
    const second = new DeliveryQueue(queueConfig(dir), logger, (n) => deliver(r, n));
    after(() => second.close());
    second.open();
    await until(() => rx.got.length === 1, 3000, 'the replay');
    assert.equal((JSON.parse(rx.got[0]!.body) as { id: string }).id, 'left-over');
    await until(() => readdirSync(join(dir, 'pending')).length === 0, 2000, 'the files to go');
  });

  it('is bounded: when full, a new notification is dropped with a clear log', async () => {
    const dir = join(tmp, 'full');
    const { logger, logs } = captureLogger();
    const q = new DeliveryQueue({ ...queueConfig(dir), maxItems: 2, initialBackoffMs: 10_000 }, logger, () => Promise.reject(new Error('down')));
    after(() => q.close());
    assert.ok(q.enqueue(notification({ id: 'a' })));
    assert.ok(q.enqueue(notification({ id: 'b' })));
    assert.equal(q.enqueue(notification({ id: 'c' })), false);
    const full = logs.find((l) => l['code'] === 'BRISK_ALERT_QUEUE_FULL');
    assert.ok(full !== undefined);
    assert.match(String(full['msg']), /alert queue full \(2 notifications waiting/);
  });

  it('drops a notification older than maxAge with an error', async () => {
    const dir = join(tmp, 'old');
    const { logger, logs } = captureLogger();
    const q = new DeliveryQueue({ ...queueConfig(dir), maxAgeMs: 1000 }, logger, () => Promise.reject(new Error('down')));
    after(() => q.close());
    q.enqueue(notification({ id: 'old', createdAt: Date.now() - 5000 }));
    await until(() => q.size === 0, 3000, 'the drop');
    assert.ok(logs.some((l) => /dropped: not delivered within alerts\.queue\.maxAge/.test(String(l['msg']))));
    assert.equal(existsSync(join(dir, 'pending')) ? readdirSync(join(dir, 'pending')).length : 0, 0);
  });
});

describe('actions', () => {
  const event = { rule: 'few', state: 'firing' as const, severity: 'critical', value: '0', summary: 'no target', labels: { upstream: 'products' }, fingerprint: 'f1' };

  it('runs a command without a shell, with the alert in its environment, at most once per minInterval', async () => {
    const out = join(tmp, 'action-out.txt');
    const { logger, logs } = captureLogger();
    const runner = new ActionRunner(logger);
    const script = `require('fs').appendFileSync(${JSON.stringify(out)}, JSON.stringify({rule: process.env.BRISK_ALERT_RULE, state: process.env.BRISK_ALERT_STATE, up: process.env.BRISK_ALERT_LABEL_UPSTREAM, arg: process.argv[1], team: process.env.TEAM}) + "\\n"); console.log("paged")`;
    const action: ActionConfig = { kind: 'command', command: [process.execPath, '-e', script, '$(touch /tmp/brisk-should-not-exist)'], env: { TEAM: 'shop' }, timeoutMs: 5000, onResolve: false, minIntervalMs: 60_000 };
    const now = Date.now();
    runner.run([action], event, now);
    runner.run([action], event, now + 1000); // flapping: skipped
    runner.run([action], { ...event, state: 'resolved' }, now + 2000); // no onResolve: skipped
    await runner.settle();
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), { rule: 'few', state: 'firing', up: 'products', arg: '$(touch /tmp/brisk-should-not-exist)', team: 'shop' });
    assert.ok(logs.some((l) => l['msg'] === 'alert action ran' && l['output'] === 'paged'));
    assert.ok(logs.some((l) => /skipped: it ran less than minInterval ago/.test(String(l['msg']))));
    runner.run([action], event, now + 61_000);
    await runner.settle();
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 2, 'runs again after minInterval');
  });

  it('kills a command past its timeout and logs it', async () => {
    const { logger, logs } = captureLogger();
    const runner = new ActionRunner(logger);
    runner.run([{ kind: 'command', command: [process.execPath, '-e', 'setTimeout(() => {}, 10000)'], env: {}, timeoutMs: 200, onResolve: false, minIntervalMs: 0 }], event);
    await runner.settle();
    assert.ok(logs.some((l) => l['code'] === 'BRISK_ALERT_ACTION_FAILED' && /killed after its timeout of 200ms/.test(String(l['msg']))));
  });

  it('calls a webhook on firing and, with onResolve, on resolving', async () => {
    const rx = await startReceiver();
    after(() => rx.close());
    const { logger } = captureLogger();
    const runner = new ActionRunner(logger);
    const action: ActionConfig = { kind: 'webhook', webhookUrl: `http://127.0.0.1:${rx.port}/act`, headers: { authorization: 'Bearer x' }, timeoutMs: 2000, onResolve: true, minIntervalMs: 60_000 };
    runner.run([action], event);
    runner.run([action], event);
    runner.run([action], { ...event, state: 'resolved' });
    await runner.settle();
    assert.deepEqual(
      rx.got.map((g) => (JSON.parse(g.body) as { state: string }).state),
      ['firing', 'resolved'],
    );
    assert.equal(rx.got[0]!.headers['authorization'], 'Bearer x');
  });
});
