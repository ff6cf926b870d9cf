/**
 * The dashboard's HTTP side, without a browser: the page and its files (types, caching,
 * Content-Security-Policy, no way out of the assets folder) and the live stream
 * (`/api/stream`: events, alerts, the bound on clients and their clean-up).
 * The page itself is tested in Chromium in dashboard-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { DEFAULT_FEED_OPTIONS } from '../src/admin/dashboard/stream.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

/** An open event stream: the parsed events so far, and a way to wait for more. */
interface Stream {
  readonly res: IncomingMessage;
  readonly events: { event: string; data: string }[];
  readonly raw: string[];
  next(event: string, after?: number, timeoutMs?: number): Promise<{ event: string; data: string }>;
  close(): void;
}

function openStream(url: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      const events: { event: string; data: string }[] = [];
      const raw: string[] = [];
      let buffer = '';
      const waiters = new Set<() => void>();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw.push(chunk);
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ event, data: data.join('\n') });
        }
        for (const w of waiters) w();
      });
      res.on('error', () => {});
      resolve({
        res,
        events,
        raw,
        next(event, afterIndex = 0, timeoutMs = 5000) {
          return new Promise((ok, fail) => {
            const check = () => {
              const found = events.slice(afterIndex).find((e) => e.event === event);
              if (found !== undefined) {
                waiters.delete(check);
                clearTimeout(timer);
                ok(found);
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no ${event} event within ${timeoutMs} ms (got ${events.map((e) => e.event).join(', ')})`));
            }, timeoutMs);
            waiters.add(check);
            check();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

describe('dashboard over HTTP', () => {
  let backend: Backend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend();
    gw = await startGateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [
        { name: 'api', match: { pathPrefix: '/api' }, upstream: 'app' },
        { name: 'web', match: { pathPrefix: '/' }, upstream: 'app' },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await backend.close();
  });

  it('redirects / to /dashboard', async () => {
    const res = await request(`${gw.adminUrl}/`);
    await res.body.dump();
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers['location'], '/dashboard');
  });

  it('serves the page with a strict Content-Security-Policy and no inline script or style', async () => {
    const res = await request(`${gw.adminUrl}/dashboard`);
    const html = await res.body.text();
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /style-src 'self';/);
    assert.match(csp, /connect-src 'self';/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['cache-control'], 'no-cache');
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) assert.match(tag, /\bsrc="\/dashboard\/assets\/[a-z-]+\.js"/, `inline script: ${tag}`);
    assert.doesNotMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler attributes');
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'nothing from another origin');
  });

  it('serves each file with its content type, revalidates by ETag, and nothing outside its folder', async () => {
    const types: Record<string, RegExp> = { 'app.js': /^text\/javascript/, 'chart.js': /^text\/javascript/, 'format.js': /^text\/javascript/, 'dashboard.css': /^text\/css/, 'icon.svg': /^image\/svg\+xml/ };
    for (const [name, type] of Object.entries(types)) {
      const res = await request(`${gw.adminUrl}/dashboard/assets/${name}`);
      const body = await res.body.text();
      assert.equal(res.statusCode, 200, name);
      assert.match(String(res.headers['content-type']), type, name);
      assert.ok(body.length > 0);
      const etag = String(res.headers['etag']);
      assert.match(etag, /^"[\w-]+"$/);
      const again = await request(`${gw.adminUrl}/dashboard/assets/${name}`, { headers: { 'if-none-match': etag } });
      assert.equal(again.statusCode, 304, `${name} revalidates`);
      assert.equal(await again.body.text(), '');
    }
    for (const path of ['/dashboard/assets/../../../package.json', '/dashboard/assets/..%2f..%2fpackage.json', '/dashboard/assets/nope.js', '/dashboard/assets/.hidden', '/dashboard/assets/']) {
      const res = await request(`${gw.adminUrl}${path}`);
      const body = await res.body.text();
      assert.equal(res.statusCode, 404, path);
      assert.match(body, /BRISK_ADMIN_NOT_FOUND/, path);
    }
    const post = await request(`${gw.adminUrl}/dashboard`, { method: 'POST' });
    await post.body.dump();
    assert.equal(post.statusCode, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
  });

  it('streams history, then a snapshot with the alerts once a second', async () => {
    const stream = await openStream(`${gw.adminUrl}/api/stream`);
    try {
      assert.equal(stream.res.statusCode, 200);
      assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
      assert.equal(stream.res.headers['cache-control'], 'no-store');
      const history = JSON.parse((await stream.next('history')).data) as { samples: unknown[] };
      assert.ok(Array.isArray(history.samples));
      const first = JSON.parse((await stream.next('stats')).data);
      assert.deepEqual(
        first.snapshot.routes.map((r: { name: string }) => r.name),
        ['api', 'web'],
      );
      assert.equal(first.snapshot.total.windowS, 60);
      assert.equal(first.snapshot.targets[0].origin, backend.url);
      assert.deepEqual(first.alerts, [], 'alerting runs (default rules); nothing fires');
      assert.deepEqual(Object.keys(first.sample.routes), ['api', 'web']);
      assert.equal(first.sample.total.length, 5, 'a sample point is [requests, errors, p50, p95, p99]');
      assert.ok(stream.raw[0]!.startsWith('retry: '), 'tells the browser how soon to reconnect');

      gw.gw.alerts = { list: () => [{ rule: 'HighErrorRate', severity: 'critical', state: 'firing', since: Date.now(), message: 'too many 5xx', labels: { route: 'api' }, silenced: false }] };
      const seen = stream.events.length;
      const started = Date.now();
      const frame = JSON.parse((await stream.next('stats', seen, 3000)).data);
      assert.ok(Date.now() - started < 2500, 'frames come about once a second');
      assert.equal(frame.alerts[0].rule, 'HighErrorRate');
    } finally {
      gw.gw.alerts = null;
      stream.close();
    }
  });

  it(`serves at most ${DEFAULT_FEED_OPTIONS.maxClients} streams, and frees a place when a client goes away`, async () => {
    const streams: Stream[] = [];
    try {
      for (let i = 0; i < DEFAULT_FEED_OPTIONS.maxClients; i++) {
        const s = await openStream(`${gw.adminUrl}/api/stream`);
        assert.equal(s.res.statusCode, 200);
        streams.push(s);
      }
      const refused = await request(`${gw.adminUrl}/api/stream`);
      const body = await refused.body.text();
      assert.equal(refused.statusCode, 503);
      assert.match(body, /BRISK_ADMIN_TOO_MANY_STREAMS/);
      assert.ok(Number(refused.headers['retry-after']) > 0);
      // The rest of the admin API still answers.
      assert.equal((await request(`${gw.adminUrl}/healthz`)).statusCode, 200);

      for (const s of streams.splice(0)) s.close();
      const deadline = Date.now() + 3000;
      let again: Stream | undefined;
      while (Date.now() < deadline) {
        const s = await openStream(`${gw.adminUrl}/api/stream`);
        if (s.res.statusCode === 200) {
          again = s;
          break;
        }
        s.close();
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(again !== undefined, 'a place is free again once the clients disconnected');
      streams.push(again);
    } finally {
      for (const s of streams) s.close();
    }
  });
});

describe('dashboard stream with 300 targets', () => {
  let gw: TestGateway;
  before(async () => {
    const upstreams: Record<string, unknown> = {};
    const routes = [];
    for (let u = 0; u < 10; u++) {
      upstreams[`svc-${u}`] = { targets: Array.from({ length: 30 }, (_, i) => ({ url: `http://127.0.0.1:${20000 + u * 30 + i}` })) };
      routes.push({ name: `route-${u}`, match: { pathPrefix: `/svc-${u}` }, upstream: `svc-${u}` });
    }
    gw = await startGateway({ upstreams, routes });
  });
  after(() => gw.stop());

  it('keeps a frame small', async () => {
    const stream = await openStream(`${gw.adminUrl}/api/stream`);
    try {
      const frame = await stream.next('stats');
      const parsed = JSON.parse(frame.data);
      assert.equal(parsed.snapshot.targets.length, 300);
      // About 250 bytes a target, numbers rounded to three decimals.
      assert.ok(frame.data.length < 120_000, `a frame with 300 targets is ${frame.data.length} bytes`);
    } finally {
      stream.close();
    }
  });
});
